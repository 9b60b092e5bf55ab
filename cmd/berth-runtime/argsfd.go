package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/berthproject/berth/internal/runtime/libct"
	"github.com/berthproject/berth/internal/schedprio"
	"golang.org/x/sys/unix"
)

// A runtime started ahead of need (berth-runtime --args-fd 3, by a shim that berthd started
// ahead of need too) does first what takes time before any container is known: Go's start-up,
// sealing the init's executable, building the spec's decoders. Then it reads its command line
// from fd 3, a unix socket: the arguments NUL-separated, and, with them, its files
// (SCM_RIGHTS): stdin, stdout and stderr, and at most one more, which takes fd 3 in place of the
// socket. End-of-file without any means it is not needed: it exits.

// awaitArguments prepares, then returns the command line (os.Args) received on fd 3, with the
// files received put in place.
func awaitArguments(fdArg string) ([]string, error) {
	const fd = 3
	if fdArg != "3" {
		return nil, errors.New("--args-fd must be 3")
	}
	libct.Prepare()
	// Started at idle priority with its shim (see schedprio): prepared now, it waits at the
	// normal one, so that it is not slow to wake when its container comes.
	schedprio.NormalProcess()
	var payload []byte
	var files []int
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(16*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return nil, err
			}
			for _, m := range msgs {
				fds, err := unix.ParseUnixRights(&m)
				if err != nil {
					return nil, err
				}
				files = append(files, fds...)
			}
		}
		if n == 0 {
			break
		}
		payload = append(payload, buf[:n]...)
	}
	if len(payload) == 0 {
		os.Exit(0) // not needed after all
	}
	if len(files) < 3 || len(files) > 4 {
		return nil, fmt.Errorf("--args-fd: %d files received, want stdin, stdout, stderr and at most one more", len(files))
	}
	// Each file to its number, out of the way first (a received fd may sit on a target), then by
	// dup3, which replaces what the number held (/dev/null, the socket) at once: a number left
	// free even for a moment could be taken by a file another goroutine opens (the init's
	// sealing), and then closed by it.
	high := make([]int, len(files))
	for i, f := range files {
		var err error
		if high[i], err = unix.FcntlInt(uintptr(f), unix.F_DUPFD_CLOEXEC, 10); err != nil {
			return nil, err
		}
		unix.Close(f)
	}
	for i, f := range high {
		if err := unix.Dup3(f, i, 0); err != nil {
			return nil, err
		}
		unix.Close(f)
	}
	if len(files) < 4 {
		unix.Close(fd)
	}
	return append([]string{os.Args[0]}, strings.Split(string(payload), "\x00")...), nil
}
