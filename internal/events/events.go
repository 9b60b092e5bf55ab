// Package events is the engine's event bus: publishers post Docker-shaped messages, subscribers
// get every message from the moment they subscribe, and a bounded ring of recent messages answers
// `docker events --since`.
package events

import (
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

// RingSize is how many past events are kept for --since (dockerd keeps 256).
const RingSize = 256

// subscriberBuffer is how far a subscriber may fall behind before it is dropped: a stalled
// client must not block the engine.
const subscriberBuffer = 1024

// Bus is the publish/subscribe hub. The zero value is ready to use.
type Bus struct {
	mu   sync.Mutex
	ring []events.Message // oldest first, at most RingSize
	subs map[*Subscription]struct{}
}

// Subscription receives the events published after it was made, until Close. C is closed when
// the subscription ends: by Close, or because the subscriber fell too far behind.
type Subscription struct {
	C       <-chan events.Message
	c       chan events.Message
	bus     *Bus
	once    sync.Once
	dropped bool
}

// Publish stamps a message with the current time (unless it has one) and delivers it.
func (b *Bus) Publish(m events.Message) {
	if m.TimeNano == 0 {
		now := time.Now()
		m.Time, m.TimeNano = now.Unix(), now.UnixNano()
	}
	if m.Scope == "" {
		m.Scope = "local"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ring) == RingSize {
		copy(b.ring, b.ring[1:])
		b.ring = b.ring[:RingSize-1]
	}
	b.ring = append(b.ring, m)
	for s := range b.subs {
		select {
		case s.c <- m:
		default:
			s.dropped = true
			delete(b.subs, s)
			s.once.Do(func() { close(s.c) })
		}
	}
}

// Subscribe returns the recent events (oldest first) and a subscription for those that follow,
// taken together so that none is missed or seen twice.
func (b *Bus) Subscribe() ([]events.Message, *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := make(chan events.Message, subscriberBuffer)
	s := &Subscription{C: c, c: c, bus: b}
	if b.subs == nil {
		b.subs = map[*Subscription]struct{}{}
	}
	b.subs[s] = struct{}{}
	return append([]events.Message(nil), b.ring...), s
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
	s.once.Do(func() { close(s.c) })
}

// Dropped reports whether the subscription ended because its reader fell behind.
func (s *Subscription) Dropped() bool {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.dropped
}
