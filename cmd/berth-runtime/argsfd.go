package main

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/runtime/libct"
	"github.com/berthproject/berth/internal/schedprio"
	"golang.org/x/sys/unix"
)

// A runtime started ahead of need (berth-runtime --args-fd FD, by a shim that berthd started
// ahead of need too) does first what takes time before any container is known: Go's start-up,
// sealing the init's executable, building the spec's decoders. Then it reads its command line
// from FD, a unix socket: the arguments NUL-separated, and, with them, its files (SCM_RIGHTS):
// stdin, stdout and stderr, then those it is to have as 3, 4, ... End-of-file without any
// means it is not needed: it exits.

// awaitArguments prepares, then returns the command line (os.Args) received on fd, with the
// files received put in place.
func awaitArguments(fdArg string) ([]string, error) {
	fd, err := strconv.Atoi(fdArg)
	if err != nil || fd < 3 {
		return nil, errors.New("--args-fd needs a file descriptor above 2")
	}
	libct.Prepare()
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
	unix.Close(fd)
	if len(payload) == 0 {
		os.Exit(0) // not needed after all
	}
	// Started at idle priority with the shim (see schedprio): a container is waiting now.
	schedprio.NormalProcess()
	// Each file to its number: out of the way first, since a received fd may sit on a target.
	high := make([]int, len(files))
	for i, f := range files {
		if high[i], err = unix.FcntlInt(uintptr(f), unix.F_DUPFD_CLOEXEC, 3+len(files)); err != nil {
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
	return append([]string{os.Args[0]}, strings.Split(string(payload), "\x00")...), nil
}
