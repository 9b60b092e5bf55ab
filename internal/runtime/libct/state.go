package libct

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/procstat"
	"github.com/berthproject/berth/internal/runtime/initproc"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Status is the one state machine of a container, as the OCI runtime spec names its states.
type Status string

const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// ErrNotExist is returned when no container has the given id.
var ErrNotExist = errors.New("container does not exist")

// ErrExist is returned by Create when the id is taken.
var ErrExist = errors.New("container with given ID already exists")

const (
	stateFile = "state.json"
	fifoName  = "exec.fifo"
)

// State is what the runtime remembers of a container between commands, in <root>/<id>/state.json.
// The status is not stored: it is derived from the init process, the fifo and the freezer each
// time, so it cannot go stale when the process dies on its own.
type State struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"init_process_pid"`
	StartTime   uint64            `json:"init_process_start"` // /proc/<pid>/stat field 22: tells pid reuse apart
	Created     time.Time         `json:"created"`
	OwnerUID    int               `json:"owner_uid"`
	CgroupPaths map[string]string `json:"cgroup_paths"`
	CgroupPath  string            `json:"cgroup_path"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Namespaces the container created, as /proc/<pid>/ns paths are only valid while init lives.
	Config *specs.Spec `json:"config"`
	// configJSON is Config as read from config.json, when it was: saved as is, it spares the
	// first JSON encoding of a spec (encoding/json builds an encoder per type, about a
	// millisecond for a spec) on every create.
	configJSON json.RawMessage
}

var idPattern = regexp.MustCompile(`^[\w+\-.]+$`)

// ValidateID applies runc's rule: an id is a path component, so only [A-Za-z0-9_+-.] and never
// "." or "..".
func ValidateID(id string) error {
	if id == "" || id == "." || id == ".." || len(id) > 1024 || !idPattern.MatchString(id) {
		return fmt.Errorf("invalid container id %q: only [A-Za-z0-9_+-.] are allowed", id)
	}
	return nil
}

// Store holds the state of every container under one root directory.
type Store struct{ Root string }

func (s Store) dir(id string) string { return filepath.Join(s.Root, id) }

// Load reads a container's saved state.
func (s Store) Load(id string) (*State, error) {
	b, err := s.read(id)
	if err != nil {
		return nil, err
	}
	var st State
	var doc struct {
		*State
		Config json.RawMessage `json:"config"` // hides State.Config: decoded by decodeSpec
	}
	doc.State = &st
	err = json.Unmarshal(b, &doc)
	if err == nil && len(doc.Config) > 0 && string(doc.Config) != "null" {
		st.Config, err = decodeSpec(doc.Config)
	}
	if err != nil {
		return nil, fmt.Errorf("container %s: corrupt state: %w", id, err)
	}
	return &st, nil
}

// loadForDelete is Load with only the hooks of the container's spec, all that delete reads of
// it: decoding a whole spec with cold decoders takes a millisecond, at every container's end.
func (s Store) loadForDelete(id string) (*State, error) {
	b, err := s.read(id)
	if err != nil {
		return nil, err
	}
	var st State
	var doc struct {
		*State
		Config *struct {
			Hooks *specs.Hooks `json:"hooks,omitempty"`
		} `json:"config"`
	}
	doc.State = &st
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("container %s: corrupt state: %w", id, err)
	}
	st.Config = &specs.Spec{}
	if doc.Config != nil {
		st.Config.Hooks = doc.Config.Hooks
	}
	return &st, nil
}

func (s Store) read(id string) ([]byte, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir(id), stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotExist)
	}
	return b, err
}

// Save writes the state atomically: a reader sees the old or the new file, never half of one.
// It is not fsynced: the state describes live processes, so it has no meaning after the machine
// goes down (the root is normally a tmpfs under /run), and a sync would cost each create
// milliseconds on a disk.
func (s Store) Save(st *State) error {
	b, err := encodeState(st)
	if err != nil {
		return err
	}
	return atomicfile.WriteFileNoSync(filepath.Join(s.dir(st.ID), stateFile), b, 0o600)
}

// IDs lists the containers in the store.
func (s Store) IDs() ([]string, error) {
	ents, err := os.ReadDir(s.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && ValidateID(e.Name()) == nil {
			if _, err := os.Stat(filepath.Join(s.dir(e.Name()), stateFile)); err == nil {
				ids = append(ids, e.Name())
			}
		}
	}
	return ids, nil
}

// processStartTime reads field 22 of /proc/<pid>/stat; 0 when the process is gone.
func processStartTime(pid int) (uint64, string) {
	t, state, _ := procstat.Stat(pid)
	return t, state
}

// initAlive reports whether the saved init process still runs (and is not a zombie).
func (st *State) initAlive() bool {
	if st.Pid <= 0 {
		return false
	}
	t, pstate := processStartTime(st.Pid)
	return t != 0 && t == st.StartTime && pstate != "Z" && pstate != "X"
}

// Status derives the current state of the container.
func (s Store) Status(st *State) Status {
	if !st.initAlive() {
		return Stopped
	}
	if _, err := os.Lstat(filepath.Join(s.dir(st.ID), fifoName)); err == nil {
		return Created
	}
	if frozen(st) {
		return Paused
	}
	return Running
}

// OCIState is the state the OCI spec defines, plus runc's extra fields (initproc.OCIState).
type OCIState = initproc.OCIState

// OCI renders the state for `state`, hooks and callers.
func (s Store) OCI(st *State) OCIState {
	status := s.Status(st)
	pid := st.Pid
	if status == Stopped {
		pid = 0
	}
	return OCIState{
		State: specs.State{
			Version:     specs.Version,
			ID:          st.ID,
			Status:      specs.ContainerState(status),
			Pid:         pid,
			Bundle:      st.Bundle,
			Annotations: st.Annotations,
		},
		Rootfs:  st.Rootfs,
		Created: st.Created,
		Owner:   ownerName(st.OwnerUID),
	}
}

// hookState is the state handed to hooks, with a status the caller knows rather than probes.
func (st *State) hookState(status specs.ContainerState) OCIState {
	return OCIState{
		State: specs.State{Version: specs.Version, ID: st.ID, Status: status, Pid: st.Pid,
			Bundle: st.Bundle, Annotations: st.Annotations},
		Rootfs: st.Rootfs, Created: st.Created,
	}
}

func frozen(st *State) bool {
	m, err := cgroupOf(st)
	if err != nil {
		return false
	}
	fs, err := m.GetFreezerState()
	return err == nil && fs == "FROZEN"
}

func encodeState(st *State) ([]byte, error) {
	if st.configJSON != nil {
		// The outer Config hides the embedded one.
		return json.Marshal(struct {
			*State
			Config json.RawMessage `json:"config"`
		}{st, st.configJSON})
	}
	return json.Marshal(st)
}
