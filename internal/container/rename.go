package container

import (
	"fmt"
	"strings"

	"github.com/berthproject/berth/internal/errdefs"
)

// Rename claims newName for the container id and frees its old name, in one step under the
// registry's lock so no other create can take either name in between. It only changes the
// in-memory registry; the caller saves the record (and calls Rename back on failure).
func (s *Store) Rename(id, oldName, newName string) error {
	if !validName.MatchString(newName) {
		return errdefs.InvalidArgument(fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName))
	}
	newName = strings.TrimPrefix(newName, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, taken := s.names[newName]; taken {
		return errdefs.Conflict(fmt.Errorf("Error when allocating new name: Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", newName, other))
	}
	delete(s.names, oldName)
	s.names[newName] = id
	if c, ok := s.byID[id]; ok {
		c.Name = newName
	}
	return nil
}
