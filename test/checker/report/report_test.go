package report

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestCapNames(t *testing.T) {
	if len(capNames) != 41 {
		t.Fatalf("capNames has %d entries, want 41 (caps 0..40)", len(capNames))
	}
	if got := CapName(40); got != "CAP_CHECKPOINT_RESTORE" {
		t.Errorf("CapName(40) = %q", got)
	}
	if got := CapName(21); got != "CAP_SYS_ADMIN" {
		t.Errorf("CapName(21) = %q", got)
	}
	// Empty sets must encode as [] rather than null.
	if got := CapNames(0); got == nil || len(got) != 0 {
		t.Errorf("CapNames(0) = %#v, want empty non-nil", got)
	}
	got := CapNames(1<<0 | 1<<21 | 1<<5 | 1<<63)
	want := []string{"CAP_63", "CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CapNames = %q, want %q", got, want)
	}
	// Docker's default set, as hex in /proc/self/status.
	if n := len(CapNames(0x00000000a80425fb)); n != 14 {
		t.Errorf("docker default set has %d names, want 14", n)
	}
}

func TestRlimitNames(t *testing.T) {
	if len(RlimitNames) != 16 || RlimitNames[7] != "RLIMIT_NOFILE" || RlimitNames[15] != "RLIMIT_RTTIME" {
		t.Errorf("RlimitNames = %q", RlimitNames)
	}
}

func TestHelpers(t *testing.T) {
	r := &Report{
		Env: []string{"A=1", "PATH=/bin:/usr/bin", "EMPTY="},
		Mounts: []Mount{
			{MountPoint: "/", Options: []string{"rw"}},
			{MountPoint: "/proc/sys", Options: []string{"rw"}},
			{MountPoint: "/proc/sys", Options: []string{"ro", "nosuid"}},
		},
		Capabilities: Capabilities{Effective: CapSet{Names: []string{"CAP_CHOWN"}}},
	}
	if v, ok := r.Getenv("PATH"); !ok || v != "/bin:/usr/bin" {
		t.Errorf("Getenv(PATH) = %q, %v", v, ok)
	}
	if v, ok := r.Getenv("EMPTY"); !ok || v != "" {
		t.Errorf("Getenv(EMPTY) = %q, %v", v, ok)
	}
	if _, ok := r.Getenv("NOPE"); ok {
		t.Error("Getenv(NOPE) found")
	}
	// The last entry is the visible one.
	if m := r.Mount("/proc/sys"); m == nil || !m.HasOption("ro") || m.HasOption("rw") {
		t.Errorf("Mount(/proc/sys) = %+v", m)
	}
	if m := r.Mount("/nope"); m != nil {
		t.Errorf("Mount(/nope) = %+v", m)
	}
	if !r.Capabilities.Effective.Has("CAP_CHOWN") || r.Capabilities.Effective.Has("CAP_KILL") {
		t.Error("CapSet.Has wrong")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	in := Report{
		Pid:        1,
		UID:        IDs{Real: 1000, Effective: 1000, Saved: 1000, FS: 1000},
		Namespaces: map[string]string{"net": "net:[4026531840]"},
		Rlimits:    map[string]Rlimit{"RLIMIT_NOFILE": {Soft: 1024, Hard: RlimInfinity}},
		Stats:      map[string]Stat{"/dev/null": {Exists: true, Type: "char", Mode: "0666", Major: 1, Minor: 3}},
		Writes:     map[string]Write{"/x": {Errno: "EROFS", Error: "read-only file system"}},
		Errors:     []string{},
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Report
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip changed report:\n in: %+v\nout: %+v", in, out)
	}
	// Tests written against the JSON rely on these key names.
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"pid", "uid", "namespaces", "capabilities", "no_new_privs", "seccomp", "rlimits", "oom_score_adj", "mounts", "cgroup", "fds", "stats", "writes", "errors"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks key %q", k)
		}
	}
}
