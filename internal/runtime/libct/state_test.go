package libct

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// A state saved with the config.json bytes reads back as one saved from the parsed spec.
func TestSaveWithConfigJSON(t *testing.T) {
	spec := DefaultSpec()
	raw, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	s := Store{Root: t.TempDir()}
	for _, id := range []string{"raw", "parsed"} {
		if err := os.Mkdir(s.dir(id), 0o700); err != nil {
			t.Fatal(err)
		}
		st := &State{ID: id, Bundle: "/b", Pid: 42, CgroupPaths: map[string]string{"pids": "/x"}, Config: spec}
		if id == "raw" {
			st.configJSON = raw
		}
		if err := s.Save(st); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.Load("raw")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Load("parsed")
	if err != nil {
		t.Fatal(err)
	}
	a.ID, b.ID = "", ""
	if !reflect.DeepEqual(a, b) {
		t.Errorf("state saved from config.json bytes differs:\n%+v\n%+v", a, b)
	}
	if a.Pid != 42 || a.Config == nil || a.Config.Process == nil || a.Config.Process.Args[0] != "sh" {
		t.Errorf("state read back: %+v", a)
	}
}
