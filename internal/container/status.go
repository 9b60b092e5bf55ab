package container

import "fmt"

// transitions are the moves the state machine allows (Docker's lifecycle).
var transitions = map[Status][]Status{
	StatusCreated:    {StatusRunning, StatusCreated, StatusExited, StatusDead},
	StatusRunning:    {StatusPaused, StatusExited, StatusDead},
	StatusPaused:     {StatusRunning, StatusExited, StatusDead},
	StatusRestarting: {StatusRunning, StatusExited, StatusDead},
	StatusExited:     {StatusRunning, StatusRestarting, StatusExited, StatusDead},
	StatusDead:       {},
}

// Alive reports whether the container counts as running in Docker's sense (State.Running):
// its processes exist, frozen or not, or its restart policy is about to bring them back.
func (s Status) Alive() bool {
	return s == StatusRunning || s == StatusPaused || s == StatusRestarting
}

// CanBecome reports whether the state machine allows s -> to.
func (s Status) CanBecome(to Status) bool {
	for _, t := range transitions[s] {
		if t == to {
			return true
		}
	}
	return false
}

// SetStatus moves the record to a new status, refusing a move the state machine does not allow.
func (c *Container) SetStatus(to Status) error {
	if !c.Status.CanBecome(to) {
		return fmt.Errorf("container %s: cannot go from %s to %s", c.ID, c.Status, to)
	}
	c.Status = to
	return nil
}
