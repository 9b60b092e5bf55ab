package daemon

import (
	"encoding/json"
	"sync"

	nettypes "github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"
)

// netConfigs holds each container's network configuration (the networks it is on and what was
// asked for on each: addresses, aliases) as JSON, in the network store's containers bucket and
// mirrored in memory. ps reads it for every container it lists: a store transaction for each
// was most of the daemon's work in listing 1000 containers.
type netConfigs struct {
	db      *bolt.DB
	mu      sync.RWMutex
	raw     map[string][]byte                                // by container id
	decoded map[string]map[string]*nettypes.EndpointSettings // raw's, as shared returns them
}

func loadNetConfigs(db *bolt.DB) (*netConfigs, error) {
	s := &netConfigs{db: db, raw: map[string][]byte{}, decoded: map[string]map[string]*nettypes.EndpointSettings{}}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContainers).ForEach(func(k, v []byte) error {
			s.raw[string(k)] = append([]byte(nil), v...) // bolt's bytes live only as long as the transaction
			return nil
		})
	})
	return s, err
}

// get returns the recorded JSON of a container's configuration, nil if none; callers decode it.
func (s *netConfigs) get(id string) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.raw[id]
}

// shared is a container's recorded configuration, decoded at its first read after each change
// and shared by every reader since (ps and inspect show it; decoding it for each of a thousand
// containers was nearly half of the daemon's work for a ps): callers must not modify it. ok is false when none is recorded or
// it cannot be decoded.
func (s *netConfigs) shared(id string) (m map[string]*nettypes.EndpointSettings, ok bool) {
	s.mu.RLock()
	m, ok = s.decoded[id]
	s.mu.RUnlock()
	if ok {
		return m, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok = s.decoded[id]; ok {
		return m, true
	}
	raw := s.raw[id]
	if raw == nil || json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	if s.decoded == nil {
		s.decoded = map[string]map[string]*nettypes.EndpointSettings{}
	}
	s.decoded[id] = m
	return m, true
}

// put records b durably, then in memory.
func (s *netConfigs) put(id string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketContainers).Put([]byte(id), b) }); err != nil {
		return err
	}
	s.raw[id] = b
	delete(s.decoded, id)
	return nil
}

// remove forgets id's configuration; without one (memory holds every record) there is nothing
// to commit.
func (s *netConfigs) remove(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.raw[id]; !ok {
		return nil
	}
	delete(s.raw, id)
	delete(s.decoded, id)
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketContainers).Delete([]byte(id)) })
}
