package daemon

import "sync"

// opLocks serialize the operations that read a container's record, act, and write it back
// (start, and the marking of a stop or kill), one container at a time. Without them a stop that
// lands while a start is under way (a restart policy's, say) writes "stopped by hand" only for the
// start to overwrite it with its own copy of the record, and the policy brings back a container
// the user stopped.
type opLocks struct {
	mu    sync.Mutex
	locks map[string]*opLock
}

type opLock struct {
	sync.Mutex
	users int
}

// lock takes the container's lock and returns its release.
func (l *opLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*opLock{}
	}
	k := l.locks[id]
	if k == nil {
		k = &opLock{}
		l.locks[id] = k
	}
	k.users++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.users--; k.users == 0 {
			delete(l.locks, id)
		}
		l.mu.Unlock()
	}
}
