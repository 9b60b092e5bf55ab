// Package report defines the JSON document printed by the in-container
// checker (test/checker). Integration tests unmarshal it into Report and
// compare it with the OCI spec they handed to the runtime.
//
// The package deliberately imports only the standard library so that test
// code can use it without pulling in the checker's dependencies.
package report

import (
	"fmt"
	"sort"
	"strings"
)

// RlimInfinity is RLIM_INFINITY as reported in Rlimit.Soft/Hard.
const RlimInfinity = ^uint64(0)

// Report is everything the checker observed about its own process.
type Report struct {
	Pid  int `json:"pid"`
	Ppid int `json:"ppid"`

	UID    IDs      `json:"uid"`
	GID    IDs      `json:"gid"`
	Groups []uint32 `json:"groups"` // supplementary groups
	// Umask is the octal text from /proc/self/status, e.g. "0022".
	Umask string `json:"umask"`

	Cwd        string   `json:"cwd"`
	Hostname   string   `json:"hostname"`
	Domainname string   `json:"domainname"`
	Env        []string `json:"env"`
	Exe        string   `json:"exe"` // readlink /proc/self/exe

	// Namespaces maps "mnt", "uts", "ipc", "pid", "net", "user", "cgroup"
	// and "time" to the link text of /proc/self/ns/<type>, e.g.
	// "net:[4026531840]". Types the kernel lacks are absent.
	Namespaces map[string]string `json:"namespaces"`

	Capabilities Capabilities `json:"capabilities"`
	NoNewPrivs   bool         `json:"no_new_privs"`
	Seccomp      Seccomp      `json:"seccomp"`

	// Rlimits is keyed by "RLIMIT_NOFILE" etc.
	Rlimits     map[string]Rlimit `json:"rlimits"`
	OOMScoreAdj int               `json:"oom_score_adj"`

	Mounts []Mount `json:"mounts"` // /proc/self/mountinfo order
	Cgroup Cgroup  `json:"cgroup"`

	// FDs are the descriptors open when the checker started (before it
	// opened anything itself), so leaked host fds show up here.
	FDs []FD `json:"fds"`

	Stats   map[string]Stat   `json:"stats,omitempty"`   // keyed by -stat PATH
	Writes  map[string]Write  `json:"writes,omitempty"`  // keyed by -write PATH
	Sysctls map[string]Sysctl `json:"sysctls,omitempty"` // keyed by -sysctl NAME

	// Errors lists probes that could not be carried out. Outcomes of -stat,
	// -write and -sysctl probes are recorded in their own entries instead.
	Errors []string `json:"errors"`
}

// IDs are the four user or group IDs of /proc/self/status "Uid:"/"Gid:".
type IDs struct {
	Real      uint32 `json:"real"`
	Effective uint32 `json:"effective"`
	Saved     uint32 `json:"saved"`
	FS        uint32 `json:"fs"`
}

// Capabilities holds the five capability sets of /proc/self/status.
type Capabilities struct {
	Inheritable CapSet `json:"inheritable"` // CapInh
	Permitted   CapSet `json:"permitted"`   // CapPrm
	Effective   CapSet `json:"effective"`   // CapEff
	Bounding    CapSet `json:"bounding"`    // CapBnd
	Ambient     CapSet `json:"ambient"`     // CapAmb
}

// CapSet is one capability set.
type CapSet struct {
	Hex   string   `json:"hex"`   // as in /proc/self/status, e.g. "00000000a80425fb"
	Names []string `json:"names"` // sorted, e.g. ["CAP_CHOWN", "CAP_KILL"]
}

// Has reports whether the set contains the named capability ("CAP_X").
func (c CapSet) Has(name string) bool {
	for _, n := range c.Names {
		if n == name {
			return true
		}
	}
	return false
}

// Seccomp is the "Seccomp" and "Seccomp_filters" fields of /proc/self/status.
type Seccomp struct {
	Mode    int `json:"mode"` // 0 disabled, 1 strict, 2 filter
	Filters int `json:"filters"`
}

// Rlimit is a soft/hard pair; RlimInfinity means unlimited.
type Rlimit struct {
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// Mount is one line of /proc/self/mountinfo (see proc(5)).
type Mount struct {
	ID         int    `json:"id"`
	ParentID   int    `json:"parent_id"`
	MajorMinor string `json:"major_minor"`
	Root       string `json:"root"`
	MountPoint string `json:"mount_point"`
	// Options are the per-mount options, e.g. ["ro", "nosuid", "relatime"].
	Options []string `json:"options"`
	// Optional are the raw optional fields, e.g. ["shared:1", "master:2"].
	Optional []string `json:"optional"`
	// Propagation is derived from Optional: "private", "shared", "slave",
	// "shared,slave" or "unbindable".
	Propagation  string   `json:"propagation"`
	FSType       string   `json:"fstype"`
	Source       string   `json:"source"`
	SuperOptions []string `json:"super_options"`
}

// HasOption reports whether opt is among the per-mount options.
func (m Mount) HasOption(opt string) bool {
	for _, o := range m.Options {
		if o == opt {
			return true
		}
	}
	return false
}

// Cgroup describes the process's cgroup membership and visible limits.
type Cgroup struct {
	// Proc is the verbatim content of /proc/self/cgroup.
	Proc string `json:"proc"`
	// Version is 2 if /sys/fs/cgroup is a cgroup2 mount, 1 if v1
	// controller hierarchies are mounted under it, 0 if neither.
	Version int `json:"version"`
	// Limits holds the trimmed content of the limit files that exist:
	// v2 keys are file names ("memory.max"), v1 keys are
	// "<controller>/<file>" ("memory/memory.limit_in_bytes").
	Limits map[string]string `json:"limits"`
}

// FD is one open file descriptor and its /proc/self/fd link target.
type FD struct {
	FD     int    `json:"fd"`
	Target string `json:"target"`
}

// Stat is the lstat(2) result for a -stat PATH probe.
type Stat struct {
	Exists bool `json:"exists"`
	// Type is "file", "dir", "symlink", "char", "block", "fifo" or "socket".
	Type string `json:"type,omitempty"`
	// Mode is the permission bits (including setuid/setgid/sticky) in
	// octal, e.g. "0755".
	Mode   string `json:"mode,omitempty"`
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	Major  uint32 `json:"major,omitempty"`  // devices only
	Minor  uint32 `json:"minor,omitempty"`  // devices only
	Target string `json:"target,omitempty"` // symlinks only
	Errno  string `json:"errno,omitempty"`  // lstat failure other than ENOENT
	Error  string `json:"error,omitempty"`
}

// Write is the outcome of a -write PATH probe.
type Write struct {
	OK      bool   `json:"ok"`
	Created bool   `json:"created,omitempty"` // the file did not exist before
	Errno   string `json:"errno,omitempty"`   // e.g. "EROFS", "EACCES"
	Error   string `json:"error,omitempty"`
}

// Sysctl is the outcome of a -sysctl NAME probe.
type Sysctl struct {
	Value string `json:"value"` // trimmed content of /proc/sys/<name>
	Errno string `json:"errno,omitempty"`
	Error string `json:"error,omitempty"`
}

// Mount returns the topmost mount at path (the last one in mountinfo order,
// which is the one visible), or nil.
func (r *Report) Mount(path string) *Mount {
	for i := len(r.Mounts) - 1; i >= 0; i-- {
		if r.Mounts[i].MountPoint == path {
			return &r.Mounts[i]
		}
	}
	return nil
}

// Getenv returns the value of key in Env and whether it was set.
func (r *Report) Getenv(key string) (string, bool) {
	for _, kv := range r.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// capNames is indexed by capability number (linux/capability.h).
var capNames = [...]string{
	"CAP_CHOWN",              // 0
	"CAP_DAC_OVERRIDE",       // 1
	"CAP_DAC_READ_SEARCH",    // 2
	"CAP_FOWNER",             // 3
	"CAP_FSETID",             // 4
	"CAP_KILL",               // 5
	"CAP_SETGID",             // 6
	"CAP_SETUID",             // 7
	"CAP_SETPCAP",            // 8
	"CAP_LINUX_IMMUTABLE",    // 9
	"CAP_NET_BIND_SERVICE",   // 10
	"CAP_NET_BROADCAST",      // 11
	"CAP_NET_ADMIN",          // 12
	"CAP_NET_RAW",            // 13
	"CAP_IPC_LOCK",           // 14
	"CAP_IPC_OWNER",          // 15
	"CAP_SYS_MODULE",         // 16
	"CAP_SYS_RAWIO",          // 17
	"CAP_SYS_CHROOT",         // 18
	"CAP_SYS_PTRACE",         // 19
	"CAP_SYS_PACCT",          // 20
	"CAP_SYS_ADMIN",          // 21
	"CAP_SYS_BOOT",           // 22
	"CAP_SYS_NICE",           // 23
	"CAP_SYS_RESOURCE",       // 24
	"CAP_SYS_TIME",           // 25
	"CAP_SYS_TTY_CONFIG",     // 26
	"CAP_MKNOD",              // 27
	"CAP_LEASE",              // 28
	"CAP_AUDIT_WRITE",        // 29
	"CAP_AUDIT_CONTROL",      // 30
	"CAP_SETFCAP",            // 31
	"CAP_MAC_OVERRIDE",       // 32
	"CAP_MAC_ADMIN",          // 33
	"CAP_SYSLOG",             // 34
	"CAP_WAKE_ALARM",         // 35
	"CAP_BLOCK_SUSPEND",      // 36
	"CAP_AUDIT_READ",         // 37
	"CAP_PERFMON",            // 38
	"CAP_BPF",                // 39
	"CAP_CHECKPOINT_RESTORE", // 40
}

// CapName returns the name of capability number n, or "CAP_<n>" for numbers
// newer than this table so that unknown bits are still visible.
func CapName(n int) string {
	if n >= 0 && n < len(capNames) {
		return capNames[n]
	}
	return fmt.Sprintf("CAP_%d", n)
}

// CapNames returns the sorted names of the bits set in mask.
func CapNames(mask uint64) []string {
	names := []string{}
	for n := 0; n < 64; n++ {
		if mask&(1<<n) != 0 {
			names = append(names, CapName(n))
		}
	}
	sort.Strings(names)
	return names
}

// RlimitNames is indexed by resource number (asm-generic/resource.h).
var RlimitNames = [...]string{
	"RLIMIT_CPU",        // 0
	"RLIMIT_FSIZE",      // 1
	"RLIMIT_DATA",       // 2
	"RLIMIT_STACK",      // 3
	"RLIMIT_CORE",       // 4
	"RLIMIT_RSS",        // 5
	"RLIMIT_NPROC",      // 6
	"RLIMIT_NOFILE",     // 7
	"RLIMIT_MEMLOCK",    // 8
	"RLIMIT_AS",         // 9
	"RLIMIT_LOCKS",      // 10
	"RLIMIT_SIGPENDING", // 11
	"RLIMIT_MSGQUEUE",   // 12
	"RLIMIT_NICE",       // 13
	"RLIMIT_RTPRIO",     // 14
	"RLIMIT_RTTIME",     // 15
}
