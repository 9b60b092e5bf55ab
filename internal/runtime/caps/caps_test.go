package caps

import "testing"

func TestNumberAndName(t *testing.T) {
	for i, n := range Names() {
		got, ok := Number(n)
		if !ok || got != i {
			t.Fatalf("Number(%q) = %d, %v; want %d", n, got, ok, i)
		}
		if Name(i) != n {
			t.Fatalf("Name(%d) = %q", i, Name(i))
		}
	}
	if i, ok := Number("net_admin"); !ok || i != 12 {
		t.Fatalf("lower-case short name: %d %v", i, ok)
	}
	if _, ok := Number("CAP_NOT_A_THING"); ok {
		t.Fatal("bogus name accepted")
	}
}

func TestParse(t *testing.T) {
	s, unknown, err := Parse([]string{"CAP_CHOWN", "CAP_KILL"})
	if err != nil || len(unknown) != 0 {
		t.Fatal(err, unknown)
	}
	if s != 1<<0|1<<5 || s.String() != "CAP_CHOWN,CAP_KILL" {
		t.Fatalf("got %#x %s", uint64(s), s)
	}
	if _, _, err := Parse([]string{"CAP_BOGUS"}); err == nil {
		t.Fatal("want error for unknown capability")
	}
}
