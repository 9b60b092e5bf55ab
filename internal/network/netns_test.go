package network

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestNamespaceWithLoopbackUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	path := filepath.Join(t.TempDir(), "ns")
	if err := NewNamespace(path); err != nil {
		t.Fatal(err)
	}
	defer RemoveNamespace(path)
	var self, pinned unix.Stat_t
	unix.Stat("/proc/self/ns/net", &self)
	if err := unix.Stat(path, &pinned); err != nil || pinned.Ino == self.Ino {
		t.Fatalf("pinned namespace: %v, same as the test's: %v", err, pinned.Ino == self.Ino)
	}
	// Look at lo from inside, on a thread of its own.
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open(path)
		if err == nil {
			err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
			f.Close()
		}
		if err == nil {
			// An ioctl, not /sys: sysfs shows the namespace it was mounted in.
			var fd int
			if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0); err == nil {
				defer unix.Close(fd)
				ifr, _ := unix.NewIfreq("lo")
				if err = unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err == nil && ifr.Uint16()&unix.IFF_UP == 0 {
					err = fmt.Errorf("lo is down in the new namespace (flags %#x)", ifr.Uint16())
				}
				// A fresh namespace has only lo (netlink answers for the thread's namespace).
				if ifs, nerr := net.Interfaces(); err == nil && (nerr != nil || len(ifs) != 1 || ifs[0].Name != "lo") {
					err = fmt.Errorf("interfaces in the new namespace: %v %v", ifs, nerr)
				}
			}
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if err := RemoveNamespace(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("namespace file left: %v", err)
	}
}
