// berth-shim is the parent of one container: it runs the OCI runtime, owns the container's
// output (json-file log), reaps it and records its exit, independently of berthd. berthd starts
// it; it is not meant to be run by hand.
//
// Its flags are read by hand: package flag links fmt and reflect, and one shim runs per
// container (see internal/shim).
package main

import (
	"os"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/logs/jsonfile"
	"github.com/berthproject/berth/internal/schedprio"
	"github.com/berthproject/berth/internal/shim"
	"golang.org/x/sys/unix"
)

const usage = `usage: berth-shim --id ID --bundle DIR --runtime PATH --state DIR --log PATH [options]
  --runtime-root DIR     the runtime's --root (default /run/berth-runtime)
  --socket PATH          control socket (default STATE/shim.sock)
  --log-max-size BYTES   rotate the log at this size (0: never)
  --log-max-files N      log files kept
  --tty                  give the container a terminal (--height, --width: its size)
  --stdin                keep the container's input open for attachers
  --stdin-once           close it when the first attacher's input ends
  --attachers N          clients that attach around the start (output is held for them)
  --cgroup PATH          the container's cgroup path (default: read from the bundle)
  --ready-fd FD          signal (and close) FD once the start is decided
  --proceed-fd FD        read the go-aheads from FD (a byte each: the bundle is written, the
                         network namespace is made, the network is up) before running the runtime
  --runtime-proceeds     hand the go-aheads to the runtime (berth-runtime's --proceed-fd)
  --output PATH          append the shim's own output to PATH
  --args-fd FD           (alone) read the arguments from FD, NUL-separated: berthd starts a
                         shim ahead of need and gives it its container's arguments later
  --runtime-ahead PATH   (only after --args-fd FD) start the runtime PATH ahead of need too
                         (berth-runtime --args-fd): the container's run command goes to it
`

func main() {
	// The descriptors berthd hands over (ready, proceed, args) are the shim's alone: what a child
	// needs of them is passed to it explicitly, and nothing else may hold a pipe's end open.
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	o := shim.Options{RuntimeRoot: "/run/berth-runtime", LogMaxSize: jsonfile.DefaultMaxSize, LogMaxFiles: jsonfile.DefaultMaxFiles}
	strs := map[string]*string{"id": &o.ID, "bundle": &o.Bundle, "runtime": &o.Runtime, "runtime-root": &o.RuntimeRoot,
		"state": &o.StateDir, "log": &o.LogPath, "socket": &o.Socket, "cgroup": &o.Cgroup}
	bools := map[string]*bool{"tty": &o.Tty, "stdin": &o.Stdin, "stdin-once": &o.StdinOnce, "runtime-proceeds": &o.RuntimeProceeds}
	var output string
	strs["output"] = &output
	var height, width, attachers, maxFiles, readyFd, proceedFd int
	ints := map[string]*int{"height": &height, "width": &width, "attachers": &attachers, "log-max-files": &maxFiles,
		"ready-fd": &readyFd, "proceed-fd": &proceedFd}
	maxFiles = o.LogMaxFiles
	args, ahead := arguments()
	o.RuntimeAhead = ahead
	for len(args) > 0 {
		arg := args[0]
		args = args[1:]
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !strings.HasPrefix(arg, "-") || name == "" {
			fail("unexpected argument " + strconv.Quote(arg))
		}
		if name == "h" || name == "help" {
			os.Stderr.WriteString(usage)
			os.Exit(0)
		}
		if b, ok := bools[name]; ok {
			v, err := strconv.ParseBool(value)
			if !hasValue {
				v, err = true, nil
			}
			if err != nil {
				fail("invalid value " + strconv.Quote(value) + " for --" + name)
			}
			*b = v
			continue
		}
		if !hasValue {
			if len(args) == 0 {
				fail("--" + name + " needs a value")
			}
			value, args = args[0], args[1:]
		}
		if p, ok := strs[name]; ok {
			*p = value
		} else if p, ok := ints[name]; ok {
			n, err := strconv.Atoi(value)
			if err != nil {
				fail("invalid value " + strconv.Quote(value) + " for --" + name)
			}
			*p = n
		} else if name == "log-max-size" {
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				fail("invalid value " + strconv.Quote(value) + " for --" + name)
			}
			o.LogMaxSize = n
		} else {
			fail("unknown flag --" + name)
		}
	}
	if output != "" {
		f, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			fail(err.Error())
		}
		unix.Dup2(int(f.Fd()), 1)
		unix.Dup2(int(f.Fd()), 2)
		f.Close()
	}
	o.Height, o.Width, o.Attachers, o.LogMaxFiles = uint16(height), uint16(width), attachers, maxFiles
	o.Ready = pipeEnd(readyFd, "ready")
	o.Proceed = pipeEnd(proceedFd, "proceed")
	if o.ID == "" || o.Bundle == "" || o.Runtime == "" || o.StateDir == "" || o.LogPath == "" {
		fail("--id, --bundle, --runtime, --state and --log are required")
	}
	if err := shim.Run(o); err != nil {
		os.Stderr.WriteString("berth-shim: " + err.Error() + "\n")
		os.Exit(1)
	}
}

// arguments are the command line's, or, for a shim berthd starts ahead of need
// (--args-fd FD [--runtime-ahead PATH]), those it is given later on FD, NUL-separated; EOF
// without any means berthd needs it no more. A runtime started ahead is returned with them.
func arguments() ([]string, *shim.RuntimeAhead) {
	args := os.Args[1:]
	if len(args) < 2 || args[0] != "--args-fd" || (len(args) != 2 && (len(args) != 4 || args[2] != "--runtime-ahead")) {
		return args, nil
	}
	fd, err := strconv.Atoi(args[1])
	if err != nil || fd < 3 {
		fail("--args-fd needs a file descriptor above 2")
	}
	var ahead *shim.RuntimeAhead
	if len(args) == 4 {
		ahead = shim.StartRuntimeAhead(args[3])
	}
	// Started at idle priority (see schedprio): ready now, it waits at the normal one, so that
	// neither it nor its runtime is slow to wake when a container comes.
	schedprio.NormalProcess()
	f := os.NewFile(uintptr(fd), "args")
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	f.Close()
	if len(b) == 0 {
		if ahead != nil {
			ahead.Discard()
		}
		os.Exit(0)
	}
	return strings.Split(string(b), "\x00"), ahead
}

// pipeEnd is an inherited pipe end, made nonblocking so that waiting on it takes no thread.
func pipeEnd(fd int, name string) *os.File {
	if fd <= 2 {
		return nil
	}
	unix.SetNonblock(fd, true)
	return os.NewFile(uintptr(fd), name)
}

func fail(msg string) {
	os.Stderr.WriteString("berth-shim: " + msg + "\n" + usage)
	os.Exit(2)
}
