package jsonfile

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func entries(t *testing.T, path string) []Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestLinesAndStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := Open(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	out, errs := w.Stream("stdout"), w.Stream("stderr")
	out.Write([]byte("hel"))
	out.Write([]byte("lo\nwor"))
	errs.Write([]byte("oops\n"))
	out.Write([]byte("ld\n"))
	out.Write([]byte("partial"))
	out.Flush()
	w.Close()
	got := entries(t, path)
	want := []Entry{{Log: "hello\n", Stream: "stdout"}, {Log: "oops\n", Stream: "stderr"}, {Log: "world\n", Stream: "stdout"}, {Log: "partial", Stream: "stdout"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].Log != want[i].Log || got[i].Stream != want[i].Stream || got[i].Time.IsZero() {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestLongLinesSplit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := Open(path, 0, 1)
	w.Stream("stdout").Write([]byte(strings.Repeat("x", 40<<10) + "\n"))
	w.Close()
	got := entries(t, path)
	if len(got) != 3 || len(got[0].Log) != maxLine || !strings.HasSuffix(got[2].Log, "\n") {
		t.Fatalf("split into %d entries", len(got))
	}
}

func TestRotationBoundsDiskUse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c-json.log")
	w, _ := Open(path, 4096, 3)
	s := w.Stream("stdout")
	for i := 0; i < 1000; i++ {
		s.Write([]byte("a line of container output, over and over\n"))
	}
	w.Close()
	files, _ := filepath.Glob(path + "*")
	if len(files) != 3 {
		t.Fatalf("files: %v", files)
	}
	for _, f := range files {
		fi, _ := os.Stat(f)
		if fi.Size() > 4096 {
			t.Errorf("%s is %d bytes, over the 4096 limit", f, fi.Size())
		}
	}
	if last := entries(t, path); len(last) == 0 || last[len(last)-1].Log != "a line of container output, over and over\n" {
		t.Errorf("the current file does not end with the newest line")
	}
}
