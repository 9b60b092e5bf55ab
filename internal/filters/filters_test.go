package filters

import (
	"strings"
	"testing"
	"time"
)

func TestParseBothShapes(t *testing.T) {
	for _, raw := range []string{`{"status":{"running":true,"exited":true}}`, `{"status":["exited","running"]}`} {
		a, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Match("status", "running") || !a.Match("status", "exited") || a.Match("status", "created") {
			t.Errorf("%s: %v", raw, a)
		}
		if !a.Match("name", "anything") {
			t.Errorf("an absent key must match everything")
		}
	}
	if _, err := Parse(`{"status":`); err == nil {
		t.Error("malformed filters accepted")
	}
	a, _ := Parse(`{"bogus":{"x":true}}`)
	if err := a.Validate("status"); err == nil || err.Error() != "invalid filter 'bogus'" {
		t.Errorf("validate: %v", err)
	}
}

func TestLabels(t *testing.T) {
	a, _ := Parse(`{"label":{"app":true,"tier=web":true}}`)
	if !a.MatchLabels(map[string]string{"app": "x", "tier": "web"}) {
		t.Error("should match")
	}
	if a.MatchLabels(map[string]string{"app": "x", "tier": "db"}) || a.MatchLabels(map[string]string{"tier": "web"}) {
		t.Error("should not match")
	}
}

func TestPruneFilters(t *testing.T) {
	a, _ := Parse(`{"label":{"app":true},"label!":{"keep":true,"tier=db":true},"until":{"1h":true}}`)
	for labels, want := range map[string]bool{
		"app":          true,
		"app,keep":     false,
		"app,tier=db":  false,
		"app,tier=web": true,
		"tier=web":     false,
	} {
		m := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		if got := a.MatchLabelsForPrune(m); got != want {
			t.Errorf("%s: %v, want %v", labels, got, want)
		}
	}
	now := time.Unix(1_700_000_000, 0)
	if u, err := a.Until(now); err != nil || !u.Equal(now.Add(-time.Hour)) {
		t.Errorf("until: %v %v", u, err)
	}
	bad, _ := Parse(`{"until":{"yesterday":true}}`)
	if _, err := bad.Until(now); err == nil || !strings.Contains(err.Error(), "invalid filter 'until=yesterday'") {
		t.Errorf("bad until: %v", err)
	}
}
