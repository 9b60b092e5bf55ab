package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/events"
)

// Filter is the `filters` query parameter of GET /events: term -> accepted values.
type Filter map[string]map[string]bool

var validTerms = map[string]bool{
	"container": true, "image": true, "event": true, "type": true, "label": true,
	"daemon": true, "network": true, "volume": true, "plugin": true, "scope": true,
	"node": true, "service": true, "secret": true, "config": true,
}

// ParseFilter reads the JSON filters parameter ({"term": {"value": true}} or, from old
// clients, {"term": ["value"]}).
func ParseFilter(s string) (Filter, error) {
	f := Filter{}
	if s == "" {
		return f, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("invalid filter: %w", err)
	}
	for term, v := range raw {
		if !validTerms[term] {
			return nil, fmt.Errorf("invalid filter '%s'", term)
		}
		vals := map[string]bool{}
		var asMap map[string]bool
		var asList []string
		switch {
		case json.Unmarshal(v, &asMap) == nil:
			vals = asMap
		case json.Unmarshal(v, &asList) == nil:
			for _, x := range asList {
				vals[x] = true
			}
		default:
			return nil, errors.New("invalid filter: " + term)
		}
		f[term] = vals
	}
	for t := range f["type"] {
		switch events.Type(t) {
		case events.ContainerEventType, events.ImageEventType, events.VolumeEventType, events.NetworkEventType,
			events.DaemonEventType, events.PluginEventType, events.NodeEventType, events.ServiceEventType,
			events.SecretEventType, events.ConfigEventType, events.BuilderEventType:
		default:
			return nil, fmt.Errorf("invalid filter: 'type'='%s'", t)
		}
	}
	return f, nil
}

// exact: no values for the term accepts everything, else the value must be listed.
func (f Filter) exact(term, v string) bool {
	vals := f[term]
	return len(vals) == 0 || vals[v]
}

// fuzzy: as exact, or the source starts with a listed value (ids given by prefix).
func (f Filter) fuzzy(term, v string) bool {
	vals := f[term]
	if len(vals) == 0 || vals[v] {
		return true
	}
	for want := range vals {
		if want != "" && strings.HasPrefix(v, want) {
			return true
		}
	}
	return false
}

// Match reports whether a message passes the filter, with dockerd's rules: every term must
// match; container matches the actor's id (or a prefix of it) or name; image matches the
// image's id or name (for container events, the image the container runs), with or without tag.
func (f Filter) Match(m events.Message) bool {
	return f.matchAction(m) &&
		f.exact("type", string(m.Type)) &&
		f.exact("scope", m.Scope) &&
		f.matchName("container", m) &&
		f.matchName("volume", m) &&
		f.matchName("network", m) &&
		f.matchName("plugin", m) &&
		f.matchImage(m) &&
		f.matchLabels(m.Actor.Attributes) &&
		(len(f["daemon"]) == 0 || m.Type == events.DaemonEventType && f.fuzzy("daemon", m.Actor.ID))
}

// matchName: a term naming objects of one kind lets through only events whose actor is one.
func (f Filter) matchName(term string, m events.Message) bool {
	if len(f[term]) == 0 {
		return true
	}
	return f.fuzzy(term, m.Actor.ID) || f.fuzzy(term, m.Actor.Attributes["name"])
}

func (f Filter) matchImage(m events.Message) bool {
	if len(f["image"]) == 0 {
		return true
	}
	name := m.Actor.Attributes["image"]
	if m.Type == events.ImageEventType {
		name = m.Actor.Attributes["name"]
	}
	for _, v := range []string{m.Actor.ID, name, stripTag(m.Actor.ID), stripTag(name)} {
		if v != "" && f["image"][v] {
			return true
		}
	}
	return false
}

// stripTag drops a reference's tag (busybox:latest -> busybox), leaving registry ports alone.
func stripTag(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// matchLabels: each label filter (key or key=value) must be among the actor's attributes.
func (f Filter) matchLabels(attrs map[string]string) bool {
	for want := range f["label"] {
		k, v, hasValue := strings.Cut(want, "=")
		got, ok := attrs[k]
		if !ok || hasValue && got != v {
			return false
		}
	}
	return true
}

func (f Filter) matchAction(m events.Message) bool {
	// exec_create/exec_start/health_status actions carry the command after a colon: a filter
	// without it matches by prefix, as dockerd does.
	for v := range f["event"] {
		if v == "exec_create" || v == "exec_start" || v == "health_status" {
			return f.fuzzy("event", string(m.Action))
		}
	}
	return f.exact("event", string(m.Action))
}
