// Package caps names Linux capabilities and applies the five capability sets of an OCI process.
package caps

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// names is indexed by capability number (linux/capability.h).
var names = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// Names lists every capability this build knows, in number order.
func Names() []string { return names[:] }

// Number returns the number of a capability name ("CAP_CHOWN" or "chown", any case).
func Number(name string) (int, bool) {
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	for i, c := range names {
		if c == n {
			return i, true
		}
	}
	return 0, false
}

// Name returns the name of capability number i.
func Name(i int) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return "CAP_" + strconv.Itoa(i)
}

var lastCap = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return len(names) - 1
})

// Last is the highest capability number the running kernel knows.
func Last() int { return lastCap() }

// Set is a capability bit mask.
type Set uint64

// Has reports whether capability i is in the set.
func (s Set) Has(i int) bool { return s&(1<<uint(i)) != 0 }

// Parse turns names into a set. Names this kernel does not know are returned in unknown, so the
// caller can warn (as runc does) instead of failing on a profile written for a newer kernel.
func Parse(list []string) (s Set, unknown []string, err error) {
	for _, name := range list {
		i, ok := Number(name)
		if !ok {
			return 0, nil, fmt.Errorf("unknown capability %q", name)
		}
		if i > Last() {
			unknown = append(unknown, name)
			continue
		}
		s |= 1 << uint(i)
	}
	return s, unknown, nil
}

// Sets are the five capability sets of a process.
type Sets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient Set
}

// FromSpec parses the capabilities of an OCI process.
func FromSpec(c *specs.LinuxCapabilities) (Sets, []string, error) {
	var s Sets
	var unknown []string
	if c == nil {
		return s, nil, nil
	}
	for _, f := range []struct {
		dst  *Set
		list []string
	}{{&s.Bounding, c.Bounding}, {&s.Effective, c.Effective}, {&s.Permitted, c.Permitted}, {&s.Inheritable, c.Inheritable}, {&s.Ambient, c.Ambient}} {
		set, u, err := Parse(f.list)
		if err != nil {
			return s, nil, err
		}
		*f.dst = set
		unknown = append(unknown, u...)
	}
	return s, unknown, nil
}

// Current reads the calling thread's capability sets.
func Current() (Sets, error) {
	var s Sets
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return s, fmt.Errorf("capget: %w", err)
	}
	s.Effective = Set(data[0].Effective) | Set(data[1].Effective)<<32
	s.Permitted = Set(data[0].Permitted) | Set(data[1].Permitted)<<32
	s.Inheritable = Set(data[0].Inheritable) | Set(data[1].Inheritable)<<32
	for i := 0; i <= Last(); i++ {
		if r, _ := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(i), 0, 0, 0); r == 1 {
			s.Bounding |= 1 << uint(i)
		}
	}
	return s, nil
}

// DropBounding removes from the calling thread's bounding set every capability not in keep.
// It must run while the thread still holds CAP_SETPCAP.
func DropBounding(keep Set) error {
	for i := 0; i <= Last(); i++ {
		if keep.Has(i) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(i), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop %s from the bounding set: %w", Name(i), err)
		}
	}
	return nil
}

// Apply sets the effective, permitted and inheritable sets of the calling thread, then raises the
// ambient ones. Asking for a capability the thread does not hold is an error naming it.
func Apply(s Sets) error {
	cur, err := Current()
	if err != nil {
		return err
	}
	if missing := (s.Permitted | s.Effective) &^ cur.Permitted; missing != 0 {
		return fmt.Errorf("capabilities %s are not held by the runtime (not in its bounding set?)", missing)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(s.Effective), Permitted: uint32(s.Permitted), Inheritable: uint32(s.Inheritable)},
		{Effective: uint32(s.Effective >> 32), Permitted: uint32(s.Permitted >> 32), Inheritable: uint32(s.Inheritable >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for i := 0; i <= Last(); i++ {
		if !s.Ambient.Has(i) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(i), 0, 0); err != nil {
			return fmt.Errorf("raise ambient %s (it must also be permitted and inheritable): %w", Name(i), err)
		}
	}
	return nil
}

// String lists the names in the set.
func (s Set) String() string {
	var out []string
	for i := 0; i < 64; i++ {
		if s.Has(i) {
			out = append(out, Name(i))
		}
	}
	return strings.Join(out, ",")
}
