// Command checker runs as a container's process and prints, as JSON, what
// the container actually got (IDs, namespaces, capabilities, rlimits, mounts,
// cgroup limits, open fds, ...), so integration tests can compare it with the
// OCI spec they passed to the runtime. It plays the role of youki's
// runtimetest, but only observes: all assertions live in the tests.
//
// Build it static so it runs in any rootfs:
//
//	CGO_ENABLED=0 go build -o checker ./test/checker
//
// Usage:
//
//	checker [-o FILE] [-stat PATH]... [-write PATH]... [-sysctl NAME]...
//
// It exits 0 whenever it could produce a report; failed probes are listed in
// the report's "errors". It exits 2 on bad usage and 1 if the report cannot
// be written.

// Go 1.25+ keeps the cgroup cpu.max/cfs files open to track GOMAXPROCS;
// those fds would show up in the fd listing as if the runtime had leaked
// them. With containermaxprocs=0 the runtime closes them before main runs.
//
//go:debug containermaxprocs=0
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/test/checker/report"
)

// probeEnv marks the copy of the checker started only to read the original
// RLIMIT_NOFILE (see originalNofile). That copy is killed before it runs;
// the check in main is a safety net in case it ever does run.
const probeEnv = "BERTH_CHECKER_NOFILE_PROBE"

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// options are the probes requested on the command line.
type options struct {
	stats, writes, sysctls []string
}

func main() {
	if os.Getenv(probeEnv) != "" {
		os.Exit(0)
	}
	// List fds before anything else opens one (os.Open also sets up the
	// runtime's epoll fds), so the list shows only what we inherited.
	fds, fdErr := listFDs()

	var opts options
	out := flag.String("o", "", "write the JSON report to `FILE` instead of stdout")
	flag.Var((*listFlag)(&opts.stats), "stat", "lstat `PATH` and report the result (repeatable)")
	flag.Var((*listFlag)(&opts.writes), "write", "try to create or open for writing `PATH` (repeatable)")
	flag.Var((*listFlag)(&opts.sysctls), "sysctl", "read /proc/sys/`NAME` (dots or slashes; repeatable)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "checker: unexpected arguments: %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}

	r := collect(opts)
	r.FDs = fds
	if fdErr != nil {
		r.Errors = append(r.Errors, "fds: "+fdErr.Error())
	}

	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "checker:", err)
		os.Exit(1)
	}
	data = append(data, '\n')
	if *out != "" {
		err = os.WriteFile(*out, data, 0o644)
	} else {
		_, err = os.Stdout.Write(data)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "checker:", err)
		os.Exit(1)
	}
}

// collector accumulates the report and the errors of failed probes.
type collector struct {
	r *report.Report
}

func (c *collector) fail(probe string, err error) {
	c.r.Errors = append(c.r.Errors, probe+": "+err.Error())
}

// collect runs every probe except the fd listing, which main must do first.
func collect(opts options) *report.Report {
	c := &collector{r: &report.Report{
		Pid:        os.Getpid(),
		Ppid:       os.Getppid(),
		Env:        os.Environ(),
		Groups:     []uint32{},
		Namespaces: map[string]string{},
		Rlimits:    map[string]report.Rlimit{},
		Mounts:     []report.Mount{},
		FDs:        []report.FD{},
		Errors:     []string{},
	}}
	c.status()
	c.identity()
	c.namespaces()
	c.rlimits()
	c.oomScoreAdj()
	c.mounts()
	c.cgroup()
	c.probes(opts)
	return c.r
}

// status fills everything that comes from /proc/self/status.
func (c *collector) status() {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		c.fail("status", err)
		return
	}
	st := parseStatus(string(data))
	r := c.r
	for _, f := range []struct {
		key string
		dst *report.IDs
	}{{"Uid", &r.UID}, {"Gid", &r.GID}} {
		ids, err := parseIDs(st[f.key])
		if err != nil {
			c.fail("status: "+f.key, err)
			continue
		}
		*f.dst = ids
	}
	for _, g := range strings.Fields(st["Groups"]) {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			c.fail("status: Groups", err)
			break
		}
		r.Groups = append(r.Groups, uint32(n))
	}
	// Umask is in status since Linux 4.7; reading it there avoids the
	// set-and-restore dance of umask(2).
	if r.Umask = st["Umask"]; r.Umask == "" {
		c.fail("status", errors.New("no Umask field"))
	}
	for _, f := range []struct {
		key string
		dst *report.CapSet
	}{
		{"CapInh", &r.Capabilities.Inheritable},
		{"CapPrm", &r.Capabilities.Permitted},
		{"CapEff", &r.Capabilities.Effective},
		{"CapBnd", &r.Capabilities.Bounding},
		{"CapAmb", &r.Capabilities.Ambient},
	} {
		mask, err := strconv.ParseUint(st[f.key], 16, 64)
		if err != nil {
			c.fail("status: "+f.key, err)
			continue
		}
		*f.dst = report.CapSet{Hex: st[f.key], Names: report.CapNames(mask)}
	}
	r.NoNewPrivs = st["NoNewPrivs"] == "1"
	r.Seccomp.Mode, err = strconv.Atoi(st["Seccomp"])
	if err != nil {
		c.fail("status: Seccomp", err)
	}
	// Seccomp_filters only exists since Linux 5.9; absent means unknown (0).
	if v, ok := st["Seccomp_filters"]; ok {
		if r.Seccomp.Filters, err = strconv.Atoi(v); err != nil {
			c.fail("status: Seccomp_filters", err)
		}
	}
}

// parseStatus splits /proc/self/status into key -> trimmed value.
func parseStatus(data string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(data, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// parseIDs parses the "real effective saved fs" value of Uid:/Gid:.
func parseIDs(v string) (report.IDs, error) {
	f := strings.Fields(v)
	if len(f) != 4 {
		return report.IDs{}, fmt.Errorf("want 4 ids, got %q", v)
	}
	var n [4]uint32
	for i, s := range f {
		x, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return report.IDs{}, err
		}
		n[i] = uint32(x)
	}
	return report.IDs{Real: n[0], Effective: n[1], Saved: n[2], FS: n[3]}, nil
}

// identity fills cwd, uname fields and the exe link.
func (c *collector) identity() {
	// getcwd(2) directly rather than os.Getwd, which prefers $PWD; the raw
	// text also keeps the "(unreachable)" prefix the kernel uses when the
	// cwd lies outside the root, which is exactly what tests want to see.
	buf := make([]byte, unix.PathMax)
	if n, err := unix.Getcwd(buf); err != nil {
		c.fail("cwd", err)
	} else {
		c.r.Cwd = unix.ByteSliceToString(buf[:n])
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		c.fail("uname", err)
	} else {
		c.r.Hostname = unix.ByteSliceToString(u.Nodename[:])
		c.r.Domainname = unix.ByteSliceToString(u.Domainname[:])
	}
	var err error
	if c.r.Exe, err = os.Readlink("/proc/self/exe"); err != nil {
		c.fail("exe", err)
	}
}

var nsTypes = []string{"mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time"}

func (c *collector) namespaces() {
	for _, t := range nsTypes {
		link, err := os.Readlink("/proc/self/ns/" + t)
		switch {
		case err == nil:
			c.r.Namespaces[t] = link
		case errors.Is(err, fs.ErrNotExist):
			// Kernel without this namespace type (e.g. time before 5.6).
		default:
			c.fail("namespaces: "+t, err)
		}
	}
}

func (c *collector) rlimits() {
	for res, name := range report.RlimitNames {
		var rl unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &rl); err != nil {
			c.fail("rlimits: "+name, err)
			continue
		}
		// The Go runtime raises its own soft NOFILE limit to hard-1 at
		// startup (syscall/rlimit.go), hiding the value the container
		// was given. Recover it from a fresh exec of ourselves.
		if res == unix.RLIMIT_NOFILE && rl.Cur == rl.Max-1 {
			orig, err := originalNofile()
			if err != nil {
				c.fail("rlimits: "+name+": soft limit was raised by the Go runtime and the original is unknown", err)
			} else {
				rl = orig
			}
		}
		c.r.Rlimits[name] = report.Rlimit{Soft: rl.Cur, Hard: rl.Max}
	}
}

// originalNofile returns the RLIMIT_NOFILE the checker started with. Go
// restores that limit in a child just before execve, so we start a traced
// copy of ourselves: it stops at the post-exec SIGTRAP, before any of its
// code (including the Go runtime's own raise) has run, and we read its limit
// with prlimit(2) and kill it.
func originalNofile() (unix.Rlimit, error) {
	var rl unix.Rlimit
	// The tracer is the thread that forked; stay on it until the child is
	// reaped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"checker-nofile-probe"}, &syscall.ProcAttr{
		Env:   []string{probeEnv + "=1"},
		Files: []uintptr{}, // none: the child never runs and must not depend on /dev/null
		Sys:   &syscall.SysProcAttr{Ptrace: true},
	})
	if err != nil {
		return rl, fmt.Errorf("start traced probe: %w", err)
	}
	defer func() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for {
			var ws syscall.WaitStatus
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR && (err != nil || ws.Exited() || ws.Signaled()) {
				return
			}
		}
	}()
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return rl, fmt.Errorf("wait for traced probe: %w", err)
	}
	if !ws.Stopped() {
		return rl, fmt.Errorf("traced probe did not stop (status %#x)", ws)
	}
	err = unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &rl)
	return rl, err
}

func (c *collector) oomScoreAdj() {
	data, err := os.ReadFile("/proc/self/oom_score_adj")
	if err == nil {
		c.r.OOMScoreAdj, err = strconv.Atoi(strings.TrimSpace(string(data)))
	}
	if err != nil {
		c.fail("oom_score_adj", err)
	}
}

func (c *collector) mounts() {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		c.fail("mounts", err)
		return
	}
	ms, err := parseMountinfo(string(data))
	if err != nil {
		c.fail("mounts", err)
	}
	c.r.Mounts = append(c.r.Mounts, ms...)
}

// parseMountinfo parses /proc/self/mountinfo as documented in proc(5):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Malformed lines are skipped and reported in the returned error.
func parseMountinfo(data string) ([]report.Mount, error) {
	var ms []report.Mount
	var bad []string
	for _, line := range strings.Split(data, "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(f) < sep+4 {
			bad = append(bad, line)
			continue
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			bad = append(bad, line)
			continue
		}
		m := report.Mount{
			ID:           id,
			ParentID:     parent,
			MajorMinor:   f[2],
			Root:         unescapeMountinfo(f[3]),
			MountPoint:   unescapeMountinfo(f[4]),
			Options:      strings.Split(f[5], ","),
			Optional:     append([]string{}, f[6:sep]...),
			FSType:       f[sep+1],
			Source:       unescapeMountinfo(f[sep+2]),
			SuperOptions: strings.Split(f[sep+3], ","),
		}
		m.Propagation = propagation(m.Optional)
		ms = append(ms, m)
	}
	if len(bad) > 0 {
		return ms, fmt.Errorf("malformed mountinfo lines: %q", bad)
	}
	return ms, nil
}

// unescapeMountinfo undoes the kernel's octal escaping (\040 for space,
// \011 tab, \012 newline, \134 backslash) in mountinfo path fields.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// propagation summarises the optional fields the way mount(8) names them.
func propagation(optional []string) string {
	var shared, slave bool
	for _, o := range optional {
		switch {
		case o == "unbindable":
			return "unbindable"
		case strings.HasPrefix(o, "shared:"):
			shared = true
		case strings.HasPrefix(o, "master:"):
			slave = true
		}
	}
	switch {
	case shared && slave:
		return "shared,slave"
	case shared:
		return "shared"
	case slave:
		return "slave"
	}
	return "private"
}

// Limit files read from /sys/fs/cgroup. For v1 the first path element is the
// controller directory, as runtimes mount one hierarchy per controller.
var (
	cgroupV2Files = []string{
		"memory.max", "memory.swap.max", "cpu.max", "cpu.weight",
		"cpuset.cpus", "cpuset.mems", "pids.max", "io.weight",
	}
	cgroupV1Files = []string{
		"memory/memory.limit_in_bytes", "memory/memory.memsw.limit_in_bytes",
		"cpu/cpu.shares", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us",
		"cpuset/cpuset.cpus", "cpuset/cpuset.mems", "pids/pids.max",
		"blkio/blkio.weight", "devices/devices.list",
	}
)

func (c *collector) cgroup() {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		c.fail("cgroup", err)
	}
	c.r.Cgroup.Proc = string(data)
	c.r.Cgroup.Limits = map[string]string{}

	// Decide the version by filesystem magic rather than by mountinfo, so
	// that bind mounts and hybrid layouts are judged by what is really
	// there.
	var files []string
	if isFS("/sys/fs/cgroup", unix.CGROUP2_SUPER_MAGIC) {
		c.r.Cgroup.Version, files = 2, cgroupV2Files
	} else {
		for _, f := range cgroupV1Files {
			ctl, _, _ := strings.Cut(f, "/")
			if isFS("/sys/fs/cgroup/"+ctl, unix.CGROUP_SUPER_MAGIC) {
				c.r.Cgroup.Version, files = 1, cgroupV1Files
				break
			}
		}
	}
	for _, f := range files {
		data, err := os.ReadFile("/sys/fs/cgroup/" + f)
		switch {
		case err == nil:
			c.r.Cgroup.Limits[f] = strings.TrimSpace(string(data))
		case errors.Is(err, fs.ErrNotExist):
			// Controller not enabled or file not provided by this kernel.
		default:
			c.fail("cgroup: "+f, err)
		}
	}
}

func isFS(path string, magic int64) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && int64(st.Type) == magic
}

// listFDs lists the open fds using raw syscalls only, so that it neither
// creates fds of its own (other than the directory fd, which it skips) nor
// initialises the Go netpoller.
func listFDs() ([]report.FD, error) {
	fds := []report.FD{}
	dfd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fds, err
	}
	defer unix.Close(dfd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(dfd, buf)
		if err != nil {
			return fds, err
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	link := make([]byte, unix.PathMax)
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == dfd {
			continue
		}
		t := ""
		if n, err := unix.Readlinkat(dfd, name, link); err == nil {
			t = string(link[:n])
		}
		fds = append(fds, report.FD{FD: fd, Target: t})
	}
	sort.Slice(fds, func(i, j int) bool { return fds[i].FD < fds[j].FD })
	return fds, nil
}

// probes runs the -stat, -write and -sysctl probes.
func (c *collector) probes(opts options) {
	if len(opts.stats) > 0 {
		c.r.Stats = map[string]report.Stat{}
		for _, p := range opts.stats {
			c.r.Stats[p] = statPath(p)
		}
	}
	if len(opts.writes) > 0 {
		c.r.Writes = map[string]report.Write{}
		for _, p := range opts.writes {
			c.r.Writes[p] = writePath(p)
		}
	}
	if len(opts.sysctls) > 0 {
		c.r.Sysctls = map[string]report.Sysctl{}
		for _, n := range opts.sysctls {
			c.r.Sysctls[n] = readSysctl(n)
		}
	}
}

// errnoName returns the symbolic errno ("EROFS") wrapped in err, if any.
func errnoName(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return ""
}

// statPath lstats p; it does not follow a final symlink so that tests can
// check links such as /dev/ptmx -> pts/ptmx.
func statPath(p string) report.Stat {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		if err == unix.ENOENT {
			return report.Stat{}
		}
		return report.Stat{Errno: errnoName(err), Error: err.Error()}
	}
	s := report.Stat{
		Exists: true,
		Mode:   fmt.Sprintf("%04o", st.Mode&07777),
		UID:    st.Uid,
		GID:    st.Gid,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		s.Type = "file"
	case unix.S_IFDIR:
		s.Type = "dir"
	case unix.S_IFLNK:
		s.Type = "symlink"
		s.Target, _ = os.Readlink(p)
	case unix.S_IFCHR:
		s.Type = "char"
	case unix.S_IFBLK:
		s.Type = "block"
	case unix.S_IFIFO:
		s.Type = "fifo"
	case unix.S_IFSOCK:
		s.Type = "socket"
	}
	if s.Type == "char" || s.Type == "block" {
		s.Major, s.Minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
	}
	return s
}

// writeMarker is what a -write probe puts into a file it creates.
const writeMarker = "berth-checker\n"

// writePath checks whether p is writable without damaging existing data: a
// missing file is created (O_EXCL) and gets writeMarker; an existing one is
// only opened for writing, which is where EROFS/EACCES show up. O_NONBLOCK
// keeps a FIFO without reader from hanging us; O_NOCTTY keeps a tty from
// becoming our controlling terminal.
func writePath(p string) report.Write {
	const flags = unix.O_WRONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	w := report.Write{}
	fd, err := unix.Open(p, flags|unix.O_CREAT|unix.O_EXCL, 0o644)
	if err == nil {
		w.Created = true
		_, err = unix.Write(fd, []byte(writeMarker))
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
	} else if err == unix.EEXIST {
		fd, err = unix.Open(p, flags, 0)
		if err == nil {
			err = unix.Close(fd)
		}
	}
	if err != nil {
		w.Errno, w.Error = errnoName(err), err.Error()
		return w
	}
	w.OK = true
	return w
}

// readSysctl reads /proc/sys/<name>. Dotted names are converted like
// sysctl(8) does; names containing a slash are taken as paths, which allows
// components that contain dots (e.g. VLAN interface names).
func readSysctl(name string) report.Sysctl {
	p := name
	if !strings.Contains(p, "/") {
		p = strings.ReplaceAll(p, ".", "/")
	}
	data, err := os.ReadFile("/proc/sys/" + strings.TrimPrefix(p, "/"))
	if err != nil {
		return report.Sysctl{Errno: errnoName(err), Error: err.Error()}
	}
	return report.Sysctl{Value: strings.TrimSpace(string(data))}
}
