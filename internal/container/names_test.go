package container

import (
	"fmt"
	"testing"
)

// TestGeneratedNamesNeverRunOut: far more containers than adjective_scientist pairs still get
// unique names (an exhausted generator once spun forever at the 401st container).
func TestGeneratedNamesNeverRunOut(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pairs := len(adjectives) * len(scientists)
	seen := map[string]bool{}
	for i := 0; i < pairs+2000; i++ {
		name, err := s.Reserve("", fmt.Sprintf("%064d", i))
		if err != nil {
			t.Fatal(err)
		}
		if seen[name] || !validName.MatchString(name) {
			t.Fatalf("name %q reused or invalid", name)
		}
		seen[name] = true
	}
}
