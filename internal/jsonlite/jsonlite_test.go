package jsonlite

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

var samples = []string{"", "plain", "quote \" back \\ slash", "ctl \x00\x01\x1f\t\n\r\b\f", "<html>&amp;",
	"unicode é 世界 🚀", "bad utf8 \xff\xfe end", "line sep \u2028 para \u2029", "\x7f del"}

// TestAppendStringMatchesEncodingJSON: the shim's log lines and replies are byte for byte what
// encoding/json writes.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range samples {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, encoding/json: %s", s, got, want)
		}
	}
	now := time.Date(2026, 11, 27, 10, 0, 0, 123400, time.UTC)
	want, _ := json.Marshal(now)
	if got := AppendTime(nil, now); string(got) != string(want) {
		t.Errorf("AppendTime = %s, encoding/json: %s", got, want)
	}
}

func TestStringDecodesWhatEncodingJSONWrites(t *testing.T) {
	for _, s := range append(samples, "🚀x") {
		b, _ := json.Marshal(s)
		got, err := String(b)
		var want string
		json.Unmarshal(b, &want)
		if err != nil || got != want {
			t.Errorf("String(%s) = %q, %v; want %q", b, got, err, want)
		}
	}
	for _, in := range []string{`"\ud83d\ude80"`, `"\ud83d x"`, `"\u00e9\/"`, `"\ude80\ud83d"`} {
		var want string
		json.Unmarshal([]byte(in), &want)
		if got, err := String([]byte(in)); err != nil || got != want {
			t.Errorf("String(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestMembersAndReadValue(t *testing.T) {
	in := ` {"op": "exec", "signal":9, "all" :true, "exec":{"id":"x","process":{"terminal":true,"args":["a","}"]}}, "n":null}rest of input`
	r := bufio.NewReader(strings.NewReader(in))
	v, err := ReadValue(r)
	if err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "rest of input" {
		t.Fatalf("ReadValue left %q", rest)
	}
	got := map[string]string{}
	if err := Members(v, func(k string, v []byte) error { got[k] = string(v); return nil }); err != nil {
		t.Fatal(err)
	}
	if got["op"] != `"exec"` || got["signal"] != "9" || got["all"] != "true" || got["n"] != "null" ||
		got["exec"] != `{"id":"x","process":{"terminal":true,"args":["a","}"]}}` {
		t.Fatalf("members %v", got)
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1]`, `{"a":"x}`} {
		if Members([]byte(bad), func(string, []byte) error { return nil }) == nil {
			t.Errorf("Members(%s) accepted", bad)
		}
	}
	b := NewObject(nil).String("s", "v").Int("n", -3).Bool("b", true).Raw("r", []byte(`{}`)).Bytes()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["s"] != "v" || m["n"] != -3.0 || m["b"] != true {
		t.Fatalf("Object wrote %s: %v", b, err)
	}
}
