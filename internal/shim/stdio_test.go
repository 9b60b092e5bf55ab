package shim

import (
	"net"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/monitor/wire"
)

// TestHubHoldsOutputForAnnouncedAttachers: output written before the announced attacher joins
// reaches it first, in order, then live output follows; an unannounced stream is not held.
func TestHubHoldsOutputForAnnouncedAttachers(t *testing.T) {
	h := newHub(1)
	h.write(wire.FrameStdout, []byte("one "))
	h.write(wire.FrameStderr, []byte("err "))
	h.write(wire.FrameStdout, []byte("two "))
	client, server := net.Pipe()
	defer client.Close()
	a := &attacher{conn: server, stdout: true, gone: make(chan struct{})}
	got := make(chan string, 1)
	go func() {
		var out string
		var buf []byte
		for len(out) < len("one two three ") {
			stream, p, err := wire.ReadFrame(client, buf)
			if err != nil || stream != wire.FrameStdout {
				break
			}
			out += string(p)
		}
		got <- out
	}()
	h.add(a)
	select {
	case <-h.allJoined:
	default:
		t.Fatal("the announced attacher joined, but the hub still waits")
	}
	h.write(wire.FrameStdout, []byte("three "))
	select {
	case out := <-got:
		if out != "one two three " {
			t.Errorf("attacher read %q", out)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no output reached the attacher")
	}
	if len(h.held) != 0 {
		t.Errorf("held output kept after every attacher joined: %d chunks", len(h.held))
	}
}

func TestHubWithoutAttachersHoldsNothing(t *testing.T) {
	h := newHub(0)
	h.write(wire.FrameStdout, []byte("x"))
	if len(h.held) != 0 {
		t.Error("output held with no attacher announced")
	}
	h.awaitJoined(time.Hour) // returns at once
}
