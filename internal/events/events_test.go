package events

import (
	"testing"

	"github.com/moby/moby/api/types/events"
)

func msg(typ events.Type, action, id, name string, attrs ...string) events.Message {
	a := map[string]string{"name": name}
	for i := 0; i+1 < len(attrs); i += 2 {
		a[attrs[i]] = attrs[i+1]
	}
	return events.Message{Type: typ, Action: events.Action(action), Actor: events.Actor{ID: id, Attributes: a}}
}

func TestRingIsBoundedAndSubscribersSeeWhatFollows(t *testing.T) {
	var b Bus
	for i := 0; i < RingSize+10; i++ {
		b.Publish(msg(events.ContainerEventType, "start", "id", "n"))
	}
	past, sub := b.Subscribe()
	defer sub.Close()
	if len(past) != RingSize {
		t.Fatalf("ring holds %d events, want %d", len(past), RingSize)
	}
	b.Publish(msg(events.ContainerEventType, "die", "id", "n"))
	if m := <-sub.C; m.Action != "die" || m.TimeNano == 0 || m.Scope != "local" {
		t.Errorf("subscriber got %+v", m)
	}
}

func TestFilter(t *testing.T) {
	create := msg(events.ContainerEventType, "create", "abc123", "web", "image", "busybox:latest", "team", "ops")
	tag := msg(events.ImageEventType, "tag", "sha256:1", "busybox:v2")
	exec := msg(events.ContainerEventType, "exec_start: sh -c true", "abc123", "web")
	cases := []struct {
		filter string
		m      events.Message
		want   bool
	}{
		{`{"container":{"web":true}}`, create, true},
		{`{"container":{"abc":true}}`, create, true}, // id prefix
		{`{"container":{"other":true}}`, create, false},
		{`{"container":{"web":true}}`, tag, false},
		{`{"image":{"busybox":true}}`, create, true}, // tag stripped
		{`{"image":{"busybox":true}}`, tag, true},
		{`{"event":{"create":true}}`, create, true},
		{`{"event":{"die":true}}`, create, false},
		{`{"event":{"exec_start":true}}`, exec, true},
		{`{"type":{"image":true}}`, create, false},
		{`{"label":{"team=ops":true}}`, create, true},
		{`{"label":{"team":true}}`, create, true},
		{`{"label":{"team=dev":true}}`, create, false},
		{`{"type":["container"]}`, create, true},
	}
	for _, c := range cases {
		f, err := ParseFilter(c.filter)
		if err != nil {
			t.Fatalf("%s: %v", c.filter, err)
		}
		if got := f.Match(c.m); got != c.want {
			t.Errorf("%s on %s %s: %v, want %v", c.filter, c.m.Type, c.m.Action, got, c.want)
		}
	}
	if _, err := ParseFilter(`{"nonsense":{"x":true}}`); err == nil {
		t.Error("an unknown filter term was accepted")
	}
}
