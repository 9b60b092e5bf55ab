// Package filters reads the API's `filters` query parameter, in both of the shapes clients send:
// {"key":{"value":true}} (current) and {"key":["value"]} (older clients).
package filters

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/timestamp"
)

// Args are the filters of one request: key -> values.
type Args map[string][]string

// Parse reads the parameter ("" is no filter).
func Parse(raw string) (Args, error) {
	out := Args{}
	if raw == "" {
		return out, nil
	}
	var current map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &current); err == nil {
		for k, vs := range current {
			for v, on := range vs {
				if on {
					out[k] = append(out[k], v)
				}
			}
			sort.Strings(out[k])
		}
		return out, nil
	}
	var legacy map[string][]string
	if err := json.Unmarshal([]byte(raw), &legacy); err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("invalid filter: %w", err))
	}
	for k, vs := range legacy {
		out[k] = append([]string{}, vs...)
	}
	return out, nil
}

// Validate refuses keys outside allowed, with Docker's message.
func (a Args) Validate(allowed ...string) error {
	for k := range a {
		ok := false
		for _, al := range allowed {
			ok = ok || k == al
		}
		if !ok {
			return errdefs.InvalidArgument(fmt.Errorf("invalid filter '%s'", k))
		}
	}
	return nil
}

// Has reports whether key is filtered on.
func (a Args) Has(key string) bool { return len(a[key]) > 0 }

// Match reports whether value is one of key's values (true when key is not filtered on).
func (a Args) Match(key, value string) bool {
	if !a.Has(key) {
		return true
	}
	for _, v := range a[key] {
		if v == value {
			return true
		}
	}
	return false
}

// MatchFunc reports whether any of key's values satisfies fn (true when key is not filtered on).
func (a Args) MatchFunc(key string, fn func(string) bool) bool {
	if !a.Has(key) {
		return true
	}
	for _, v := range a[key] {
		if fn(v) {
			return true
		}
	}
	return false
}

// MatchLabelsForPrune is what prune's label filters keep: every `label` filter satisfied and no
// `label!` one ("key" or "key=value") matched.
func (a Args) MatchLabelsForPrune(labels map[string]string) bool {
	if !a.MatchLabels(labels) {
		return false
	}
	for _, f := range a["label!"] {
		k, v, withValue := strings.Cut(f, "=")
		if got, ok := labels[k]; ok && (!withValue || got == v) {
			return false
		}
	}
	return true
}

// Until reads an `until` filter (a duration back from now, a date, a Unix time); zero when
// there is none.
func (a Args) Until(now time.Time) (time.Time, error) {
	vs := a["until"]
	if len(vs) == 0 {
		return time.Time{}, nil
	}
	t, err := timestamp.Parse(vs[0], now)
	if err != nil {
		return time.Time{}, errdefs.InvalidArgument(fmt.Errorf("invalid filter 'until=%s': %w", vs[0], err))
	}
	return t, nil
}

// MatchLabels reports whether labels satisfy every `label` filter: "key" (present) or
// "key=value".
func (a Args) MatchLabels(labels map[string]string) bool {
	for _, f := range a["label"] {
		k, v, withValue := strings.Cut(f, "=")
		got, ok := labels[k]
		if !ok || (withValue && got != v) {
			return false
		}
	}
	return true
}
