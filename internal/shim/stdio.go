package shim

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/monitor/wire"
	"golang.org/x/sys/unix"
)

// hub fans a container's output out to the clients attached to it. A client that cannot take
// output for writeTimeout is dropped rather than allowed to stall the container.
//
// docker run and start -a attach before the start; the container starts at once and what it
// writes before those attachers join is held (up to maxHeld bytes, the log has all of it) and
// given to each as it joins, so none of its first output is lost.
type hub struct {
	mu        sync.Mutex
	attachers map[*attacher]struct{}
	expected  int // attachers announced and not yet joined
	held      []heldChunk
	heldBytes int
	allJoined chan struct{} // closed when expected reaches 0
}

type heldChunk struct {
	stream byte
	data   []byte
}

type attacher struct {
	conn           frameConn
	stdout, stderr bool
	gone           chan struct{}
	once           sync.Once
}

// frameConn is an attacher's connection (an *os.File on the shim's socket).
type frameConn interface {
	io.Writer
	SetWriteDeadline(time.Time) error
}

const (
	writeTimeout = 10 * time.Second
	maxHeld      = 4 << 20
)

func newHub(expected int) *hub {
	h := &hub{attachers: map[*attacher]struct{}{}, expected: expected, allJoined: make(chan struct{})}
	if expected == 0 {
		close(h.allJoined)
	}
	return h
}

func (a *attacher) wants(stream byte) bool {
	return (stream == wire.FrameStdout && a.stdout) || (stream == wire.FrameStderr && a.stderr)
}

// add joins an attacher: it first gets what was held for the announced ones.
func (h *hub) add(a *attacher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.held {
		if a.wants(c.stream) {
			a.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if wire.WriteFrame(a.conn, c.stream, c.data) != nil {
				a.once.Do(func() { close(a.gone) })
				break
			}
		}
	}
	h.attachers[a] = struct{}{}
	if h.expected > 0 {
		if h.expected--; h.expected == 0 {
			h.held, h.heldBytes = nil, 0
			close(h.allJoined)
		}
	}
}

func (h *hub) remove(a *attacher) {
	h.mu.Lock()
	delete(h.attachers, a)
	h.mu.Unlock()
	a.once.Do(func() { close(a.gone) })
}

// write sends one chunk of a stream to every attacher that takes it, and holds it for the
// attachers still expected.
func (h *hub) write(stream byte, p []byte) {
	h.mu.Lock()
	if h.expected > 0 && h.heldBytes+len(p) <= maxHeld {
		h.held = append(h.held, heldChunk{stream, append([]byte(nil), p...)})
		h.heldBytes += len(p)
	}
	list := make([]*attacher, 0, len(h.attachers))
	for a := range h.attachers {
		if a.wants(stream) {
			list = append(list, a)
		}
	}
	h.mu.Unlock()
	for _, a := range list {
		a.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := wire.WriteFrame(a.conn, stream, p); err != nil {
			h.remove(a)
		}
	}
}

// awaitJoined waits (up to timeout) for the announced attachers: a container that ends before
// they join keeps its output for them until then.
func (h *hub) awaitJoined(timeout time.Duration) {
	select {
	case <-h.allJoined:
	case <-time.After(timeout):
	}
}

// closeAll ends every attachment: the container's output is over.
func (h *hub) closeAll() {
	h.mu.Lock()
	list := make([]*attacher, 0, len(h.attachers))
	for a := range h.attachers {
		list = append(list, a)
	}
	h.mu.Unlock()
	for _, a := range list {
		h.remove(a)
	}
}

// pump copies r to the log stream (when given) and to the hub, until r ends.
func pump(r io.Reader, log io.Writer, h *hub, stream byte) {
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if log != nil {
				log.Write(buf[:n])
			}
			h.write(stream, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// input is a process's stdin as the shim holds it: a pipe's write end, or a pty master.
type input struct {
	mu     sync.Mutex
	w      io.WriteCloser
	closes bool // closing is allowed (a pipe; a pty is never half-closed)
}

func (in *input) Write(p []byte) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.w == nil {
		return 0, io.ErrClosedPipe
	}
	return in.w.Write(p)
}

func (in *input) Close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.w != nil && in.closes {
		in.w.Close()
		in.w = nil
	}
}

// consoleListener is the socket a runtime sends a terminal's master to (--console-socket).
type consoleListener struct {
	l    *os.File
	path string
}

func listenConsole(path string) (*consoleListener, error) {
	l, err := listenUnix(path)
	if err != nil {
		return nil, wrap("console socket", err)
	}
	return &consoleListener{l: l, path: path}, nil
}

// receive accepts the runtime's connection and takes the master it passes.
func (c *consoleListener) receive(timeout time.Duration) (*os.File, error) {
	setDeadline(c.l, timeout)
	conn, err := accept(c.l)
	if err != nil {
		return nil, wrap("receive the terminal", err)
	}
	defer conn.Close()
	setDeadline(conn, timeout)
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, err := recvmsg(conn, buf, oob)
	if err != nil {
		return nil, wrap("receive the terminal", err)
	}
	noFd := errors.New("receive the terminal: no file descriptor sent")
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil, noFd
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil, noFd
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	// Nonblocking, so that its readers and writers wait in the poller, not in a thread each.
	unix.SetNonblock(fds[0], true)
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

func (c *consoleListener) Close() {
	c.l.Close()
	os.Remove(c.path)
}

// resize sets a terminal's window size.
func resize(master *os.File, height, width uint16) error {
	if master == nil {
		return errors.New("the process has no terminal")
	}
	if height == 0 && width == 0 {
		return nil
	}
	// Through SyscallConn: Fd() would put the terminal back in blocking mode.
	rc, err := master.SyscallConn()
	if err != nil {
		return err
	}
	var ioctlErr error
	if err := rc.Control(func(fd uintptr) {
		ioctlErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: height, Col: width})
	}); err != nil {
		return err
	}
	return ioctlErr
}

// processStdio is what the shim holds of a process it starts without a terminal: the write end
// of its input (nil without stdin), the read ends of its output by stream, and the ends the
// process inherits, to close once the runtime has handed them over.
type processStdio struct {
	in        *input
	outputs   map[byte]*os.File
	childEnds []*os.File
}

// pipeStdio gives cmd pipes for stdout and stderr, and for stdin when asked (otherwise cmd
// keeps the stdin the caller set).
func pipeStdio(cmd *command, stdin bool) (*processStdio, error) {
	p := &processStdio{outputs: map[byte]*os.File{}}
	if stdin {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		cmd.stdin, p.in = r, &input{w: w, closes: true}
		p.childEnds = append(p.childEnds, r)
	}
	for _, stream := range []byte{wire.FrameStdout, wire.FrameStderr} {
		r, w, err := os.Pipe()
		if err != nil {
			p.closeChildEnds()
			p.closeOurs()
			return nil, err
		}
		if stream == wire.FrameStdout {
			cmd.stdout = w
		} else {
			cmd.stderr = w
		}
		p.outputs[stream] = r
		p.childEnds = append(p.childEnds, w)
	}
	return p, nil
}

func (p *processStdio) closeChildEnds() {
	for _, f := range p.childEnds {
		f.Close()
	}
	p.childEnds = nil
}

func (p *processStdio) closeOurs() {
	for _, f := range p.outputs {
		f.Close()
	}
	if p.in != nil {
		p.in.Close()
	}
}

// received is a terminal's master as the runtime sent it, or why it did not.
type received struct {
	master *os.File
	err    error
}

// receiveAsync accepts the runtime's terminal while the runtime runs (it connects during its
// run, so the caller cannot wait first).
func (c *consoleListener) receiveAsync(timeout time.Duration) <-chan received {
	got := make(chan received, 1)
	go func() {
		m, err := c.receive(timeout)
		got <- received{m, err}
	}()
	return got
}

// readPid reads a pid file written by the runtime.
func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, wrap("runtime pid file", err)
	}
	return pid, nil
}

// copyInput copies a client's input to w until the client's half-close (or an error). It is
// io.Copy without the io.ReaderFrom and io.WriterTo paths, whose sendfile and splice code
// would be linked into the shim for no use here.
func copyInput(w io.Writer, r io.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
