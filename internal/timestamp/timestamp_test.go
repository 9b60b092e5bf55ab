package timestamp

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for in, want := range map[string]time.Time{
		"1h":                   now.Add(-time.Hour),
		"1700000000.5":         time.Unix(1_700_000_000, 500_000_000),
		"2024-01-02T03:04:05Z": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		"2024-01-02":           time.Date(2024, 1, 2, 0, 0, 0, 0, time.Local),
	} {
		got, err := Parse(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := Parse("yesterday", now); err == nil {
		t.Error("nonsense accepted")
	}
	if z, err := ParseUnix(""); err != nil || !z.IsZero() {
		t.Error("empty is the zero time")
	}
}
