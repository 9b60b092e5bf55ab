package shim

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/monitor"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRequestsAsTheDaemonEncodesThem: the shim reads monitor.Request as encoding/json writes it.
func TestRequestsAsTheDaemonEncodesThem(t *testing.T) {
	proc := &specs.Process{Terminal: true, Args: []string{"sh", "-c", `echo "}{"`}, Cwd: "/", Env: []string{"A=é"}}
	in := monitor.Request{Op: "exec", Signal: 9, All: true, Stdin: true, Stdout: true, Stderr: true, ExecID: "e1",
		Height: 24, Width: 80, Exec: &monitor.ExecRequest{ID: "abc", Process: proc, Height: 30, Width: 100}}
	b, _ := json.Marshal(in)
	r, err := parseRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.op != "exec" || r.signal != 9 || !r.all || !r.stdin || !r.stdout || !r.stderr || r.execID != "e1" || r.height != 24 || r.width != 80 {
		t.Fatalf("request read as %+v", r)
	}
	x := r.exec
	if x == nil || x.id != "abc" || !x.terminal || x.height != 30 || x.width != 100 {
		t.Fatalf("exec read as %+v", x)
	}
	var back specs.Process
	if err := json.Unmarshal(x.process, &back); err != nil || back.Args[2] != `echo "}{"` || back.Env[0] != "A=é" {
		t.Fatalf("process passed on as %s: %v", x.process, err)
	}
	b, _ = json.Marshal(monitor.Request{Op: "state"})
	if r, err := parseRequest(b); err != nil || r.op != "state" || r.exec != nil {
		t.Fatalf("state request read as %+v, %v", r, err)
	}
	if _, err := parseRequest([]byte(`{"op":"kill","height":70000}`)); err == nil {
		t.Fatal("an out-of-range size was accepted")
	}
}

// TestRepliesAsTheDaemonReadsThem: replies, exit records and control frames decode into the
// daemon's types.
func TestRepliesAsTheDaemonReadsThem(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 5000, time.UTC)
	e := &exit{code: 137, oomKilled: true, finishedAt: at, err: `runtime said "no"`}
	var rep monitor.Reply
	if err := json.Unmarshal(reply{pid: 42, running: false, exit: e, err: "x"}.json(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Pid != 42 || rep.Running || rep.Error != "x" || rep.Exit == nil ||
		*rep.Exit != (monitor.Exit{Code: 137, OOMKilled: true, FinishedAt: at, Error: `runtime said "no"`}) {
		t.Fatalf("reply read as %+v (exit %+v)", rep, rep.Exit)
	}
	want, _ := json.Marshal(monitor.Exit{Code: 137, OOMKilled: true, FinishedAt: at, Error: `runtime said "no"`})
	if got := e.json(); string(got) != string(want) {
		t.Fatalf("exit record %s, encoding/json writes %s", got, want)
	}
	var frames []byte
	out := &lockedWriter{w: writerFunc(func(p []byte) (int, error) { frames = append(frames, p...); return len(p), nil })}
	code := 3
	out.control(7, nil, "")
	out.control(0, &code, "")
	var got []monitor.Control
	for len(frames) > 0 {
		n := int(frames[4])<<24 | int(frames[5])<<16 | int(frames[6])<<8 | int(frames[7])
		var c monitor.Control
		if frames[0] != monitor.FrameControl || json.Unmarshal(frames[8:8+n], &c) != nil {
			t.Fatalf("bad control frame %q", frames)
		}
		got = append(got, c)
		frames = frames[8+n:]
	}
	if len(got) != 2 || got[0].Pid != 7 || got[0].ExitCode != nil || got[1].ExitCode == nil || *got[1].ExitCode != 3 {
		t.Fatalf("control frames read as %+v", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestSpecCgroupsPath(t *testing.T) {
	b, _ := json.Marshal(specs.Spec{Process: &specs.Process{Args: []string{"x"}}, Linux: &specs.Linux{CgroupsPath: "/berth/abc"}})
	if got := specCgroupsPath(b); got != "/berth/abc" {
		t.Fatalf("cgroupsPath %q", got)
	}
	if got := specCgroupsPath([]byte(`{"ociVersion":"1.0.2"}`)); got != "" {
		t.Fatalf("cgroupsPath %q from a spec without one", got)
	}
}
