package filters

import "testing"

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
