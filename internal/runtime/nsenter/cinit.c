// cinit is the container's init written in C: when the runtime sends a plan (mode 'C' after the
// bootstrap), the process builds the root filesystem, waits for `start`, applies the process
// attributes and execs the user's process without ever starting the Go runtime. The runtime (Go)
// did all the parsing and deciding: the plan is a flat list of operations with their arguments
// already resolved (mount flags, device numbers, capability masks, compiled seccomp BPF), so this
// file only walks it. Configurations it does not cover (terminal, hooks, user namespaces...) keep
// the Go init (mode 'G'); see internal/runtime/libct/cinit.go, which writes the plan.
//
// Plan: uint32 length, then that many bytes. Integers native-endian; a string is uint32 n (the
// NUL included) then n bytes ending in NUL. The body is a sequence of records, each starting
// with a uint32 opcode (PLAN_* below, mirrored in cinit.go). Replies on the sync socket: 'R' when
// the container is created, or 'E' + uint32 length + message (the init then exits 1).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>
#include <grp.h>
#include <sched.h>

#include "cinit.h"

enum {
	PLAN_ROOT_PROPAGATION = 1, // u64 flags
	PLAN_BIND_ROOTFS = 2,      // str rootfs
	PLAN_MOUNT = 3,            // see do_mount
	PLAN_MKDIR = 4,            // str path
	PLAN_MKNOD = 5,            // str path, u32 mode, u32 major, u32 minor, u32 uid, u32 gid
	PLAN_DEV_SYMLINKS = 6,     // u32 ptmx, u32 n, n * (str target, str name)
	PLAN_SYSCTL = 7,           // str path, str value
	PLAN_HOSTNAME = 8,         // str
	PLAN_DOMAINNAME = 9,       // str
	PLAN_PIVOT = 10,           // str rootfs
	PLAN_READONLY = 11,        // str path
	PLAN_MASK = 12,            // u32 n, n * str
	PLAN_ROOT_READONLY = 13,   // -
	PLAN_REMOUNT = 14,         // str path, u64 flags (plain remount of a mount, e.g. a tmpfs)
	PLAN_UNSHARE_CGROUP = 15,  // -
	PLAN_PROCESS = 16,         // see read_process; last record
};

// Bits of a PLAN_MOUNT record's options.
enum {
	M_BIND = 1,          // bind mount of src (opened on the host side)
	M_REC = 2,           // with MS_REC
	M_CHECK_TARGET = 4,  // procfs/sysfs: the target must be exactly the expected path
	M_FALLBACK = 8,      // on failure, bind fallback src instead (then remount)
	M_FALLBACK_EPERM = 16, // ... only when the mount failed with EPERM
	M_FALLBACK_REC = 32, // the fallback bind is recursive
};

#define PLAN_MAX (8u << 20)
#define MAX_STRS 65536

static unsigned char plan_buf[PLAN_MAX];
static const char *argv_buf[MAX_STRS + 1];
static const char *envp_buf[MAX_STRS + 1];
static gid_t groups_buf[NGROUPS_MAX];
static int root_fd = -1;
static int cinit_sync = -1;

struct cursor {
	const unsigned char *p, *end;
};

// errstr is strerror as Go spells it (lower case), since the runtime's messages are Go's.
static const char *errstr(int e)
{
	static char buf[128];
	snprintf(buf, sizeof(buf), "%s", strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	berth_vfail(cinit_sync, errstr, fmt, ap);
}

// take copies the next n bytes of the plan into v; a plan that ends first is refused.
static void take(struct cursor *c, void *v, size_t n)
{
	if ((size_t)(c->end - c->p) < n) {
		errno = 0;
		fail("malformed init plan: truncated");
	}
	memcpy(v, c->p, n);
	c->p += n;
}

static uint32_t get_u32(struct cursor *c)
{
	uint32_t v;
	take(c, &v, sizeof(v));
	return v;
}

static uint64_t get_u64(struct cursor *c)
{
	uint64_t v;
	take(c, &v, sizeof(v));
	return v;
}

static const char *get_str(struct cursor *c)
{
	uint32_t n = get_u32(c);
	if (n == 0 || (size_t)(c->end - c->p) < n || c->p[n - 1] != '\0') {
		errno = 0;
		fail("malformed init plan: bad string");
	}
	const char *s = (const char *)c->p;
	c->p += n;
	return s;
}

static const void *get_bytes(struct cursor *c, uint32_t *len)
{
	*len = get_u32(c);
	if ((size_t)(c->end - c->p) < *len) {
		errno = 0;
		fail("malformed init plan: truncated bytes");
	}
	const void *b = c->p;
	c->p += *len;
	return b;
}

static void proc_fd_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/thread-self/fd/%d", fd);
}

// in_root resolves path inside the root: ".." and absolute symlinks stop at the root and magic
// links are refused (internal/pathsafe does the same on the Go side).
static int in_root(const char *path, uint64_t flags)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	for (;;) {
		int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
		if (fd < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		return fd;
	}
}

// clean_path writes the lexical clean of "/" + path into out (as Go's filepath.Clean).
static int clean_path(const char *path, char *out, size_t outlen)
{
	size_t n = 0;
	const char *p = path;
	out[0] = '\0';
	while (*p) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - s);
		if (len == 0 || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			out[n] = '\0';
			continue;
		}
		if (n + 1 + len + 1 > outlen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		out[n++] = '/';
		memcpy(out + n, s, len);
		n += len;
		out[n] = '\0';
	}
	if (n == 0) {
		out[0] = '/';
		out[1] = '\0';
	}
	return 0;
}

// mkdir_all creates path and its parents inside the root, each created relative to the handle of
// its already resolved parent, and returns an O_PATH handle to it. A dangling symlink on the way
// has its target created, inside the root, as the kernel would resolve it.
static int mkdir_all(const char *path, mode_t mode, int *budget)
{
	int fd = in_root(path, O_PATH | O_DIRECTORY);
	if (fd >= 0)
		return fd;
	char clean[PATH_MAX];
	if (clean_path(path, clean, sizeof(clean)) < 0)
		return -1;
	int cur = in_root("/", O_PATH | O_DIRECTORY);
	if (cur < 0)
		return -1;
	char *p = clean;
	while (*p) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		char *end = strchr(p, '/');
		char saved = end ? *end : '\0';
		char part[NAME_MAX + 1];
		size_t plen = end ? (size_t)(end - p) : strlen(p);
		if (plen > NAME_MAX) {
			close(cur);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(part, p, plen);
		part[plen] = '\0';
		if (end)
			*end = '\0'; // clean now holds the prefix up to this component
		int next = in_root(clean, O_PATH | O_DIRECTORY);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(cur, part, mode) < 0) {
				if (errno != EEXIST) {
					close(cur);
					return -1;
				}
				char target[PATH_MAX], joined[PATH_MAX];
				ssize_t tl = readlinkat(cur, part, target, sizeof(target) - 1);
				if (tl < 0) {
					close(cur);
					errno = ENOTDIR;
					return -1;
				}
				target[tl] = '\0';
				if (--*budget < 0) {
					close(cur);
					errno = ELOOP;
					return -1;
				}
				if (target[0] == '/') {
					snprintf(joined, sizeof(joined), "%s", target);
				} else {
					// Relative to the directory holding the link: the prefix minus its last part.
					char *slash = strrchr(clean, '/');
					size_t dl = slash ? (size_t)(slash - clean) : 0;
					if ((size_t)snprintf(joined, sizeof(joined), "%.*s/%s", (int)dl, clean, target) >= sizeof(joined)) {
						close(cur);
						errno = ENAMETOOLONG;
						return -1;
					}
				}
				int h = mkdir_all(joined, mode, budget);
				if (h < 0) {
					close(cur);
					return -1;
				}
				close(h);
			}
			next = in_root(clean, O_PATH | O_DIRECTORY);
		}
		close(cur);
		if (next < 0)
			return -1;
		cur = next;
		if (end)
			*end = saved;
		p = end ? end : p + plen;
	}
	return cur;
}

static int mkdir_all_root(const char *path, mode_t mode)
{
	int budget = 40; // symlinks followed, as the kernel's MAXSYMLINKS
	return mkdir_all(path, mode, &budget);
}

// create_file makes sure path exists inside the root as a file (an empty one is created, never
// through a final symlink) and returns an O_PATH handle to it: a bind mount target for a file.
static int create_file(const char *path, mode_t mode)
{
	int fd = in_root(path, O_PATH);
	if (fd >= 0)
		return fd;
	char clean[PATH_MAX];
	if (clean_path(path, clean, sizeof(clean)) < 0)
		return -1;
	char *slash = strrchr(clean, '/');
	const char *base = slash + 1;
	if (*base == '\0') {
		errno = EINVAL;
		return -1;
	}
	*slash = '\0';
	int dir = mkdir_all_root(clean[0] ? clean : "/", 0755);
	*slash = '/';
	if (dir < 0)
		return -1;
	fd = openat(dir, base, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, mode);
	int err = errno;
	close(dir);
	if (fd < 0 && err != EEXIST) {
		errno = err;
		return -1;
	}
	if (fd >= 0)
		close(fd);
	return in_root(path, O_PATH);
}

// locked_flags are the flags a remount must keep where the mount is locked (user namespaces).
static unsigned long locked_flags(int fd)
{
	struct statfs st;
	if (fstatfs(fd, &st) < 0)
		return 0;
	unsigned long f = 0;
	if (st.f_flags & ST_NOSUID)
		f |= MS_NOSUID;
	if (st.f_flags & ST_NODEV)
		f |= MS_NODEV;
	if (st.f_flags & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (st.f_flags & ST_RDONLY)
		f |= MS_RDONLY;
	if (st.f_flags & ST_NOATIME)
		f |= MS_NOATIME;
	if (st.f_flags & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (st.f_flags & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

static int remount_fd(int fd, unsigned long flags)
{
	char p[64];
	proc_fd_path(p, sizeof(p), fd);
	if (mount("", p, NULL, MS_BIND | MS_REMOUNT | flags, NULL) == 0)
		return 0;
	if (errno != EPERM)
		return -1;
	return mount("", p, NULL, MS_BIND | MS_REMOUNT | flags | locked_flags(fd), NULL);
}

// remount_in_root applies flags to the mount now at path (looked up again: a handle taken before
// the mount points below it).
static int remount_in_root(const char *path, unsigned long flags)
{
	int fd = in_root(path, O_PATH);
	if (fd < 0)
		return -1;
	int r = remount_fd(fd, flags);
	int err = errno;
	close(fd);
	errno = err;
	return r;
}

static void do_mount(struct cursor *c, const char *rootfs)
{
	const char *dest = get_str(c);
	const char *src = get_str(c);
	const char *fstype = get_str(c);
	const char *data = get_str(c);
	unsigned long flags = (unsigned long)get_u64(c);
	uint32_t bits = get_u32(c);
	const char *expect = get_str(c);       // M_CHECK_TARGET
	const char *fb_src = get_str(c);       // M_FALLBACK
	unsigned long fb_remount = (unsigned long)get_u64(c);
	unsigned long remount_extra = (unsigned long)get_u64(c);
	uint32_t nprop = get_u32(c);
	if (nprop > 16) {
		errno = 0;
		fail("malformed init plan: %u propagation changes", nprop);
	}
	unsigned long props[16];
	for (uint32_t i = 0; i < nprop; i++)
		props[i] = (unsigned long)get_u64(c);
	uint64_t rec_set = get_u64(c), rec_clear = get_u64(c);
	(void)rootfs;

	char tp[64], sp[64];
	int target;
	if (bits & M_BIND) {
		struct stat st;
		if (stat(src, &st) < 0)
			fail("mount %s to %s: stat %s", src, dest, src);
		target = S_ISDIR(st.st_mode) ? mkdir_all_root(dest, 0755) : create_file(dest, 0644);
		if (target < 0)
			fail("mount %s to %s: create target", src, dest);
		int sfd = open(src, O_PATH | O_CLOEXEC);
		if (sfd < 0)
			fail("mount %s to %s: open source", src, dest);
		proc_fd_path(tp, sizeof(tp), target);
		proc_fd_path(sp, sizeof(sp), sfd);
		if (mount(sp, tp, NULL, MS_BIND | ((bits & M_REC) ? MS_REC : 0), NULL) < 0)
			fail("mount %s to %s", src, dest);
		close(sfd);
		if (remount_extra != 0 && remount_in_root(dest, remount_extra) < 0)
			fail("mount %s to %s: remount", src, dest);
	} else {
		target = mkdir_all_root(dest, 0755);
		if (target < 0)
			fail("mount %s to %s: create target", src, dest);
		proc_fd_path(tp, sizeof(tp), target);
		if (bits & M_CHECK_TARGET) {
			// CVE-2019-19921: procfs and sysfs land exactly where the spec says, never
			// wherever a symlink in the image points.
			char got[PATH_MAX];
			ssize_t n = readlink(tp, got, sizeof(got) - 1);
			if (n < 0)
				fail("mount %s to %s: readlink target", src, dest);
			got[n] = '\0';
			if (strcmp(got, expect) != 0) {
				size_t rl = strlen(rootfs);
				errno = 0;
				fail("mount %s to %s: mount destination %s is a symlink (to %s): refused", src, dest, dest,
				     strncmp(got, rootfs, rl) == 0 ? got + rl : got);
			}
		}
		int r = mount(src, tp, fstype, flags, data[0] ? data : NULL);
		if (r < 0 && (bits & M_FALLBACK) && (!(bits & M_FALLBACK_EPERM) || errno == EPERM)) {
			// Mounting this filesystem is refused here: bind the host's instead.
			r = mount(fb_src, tp, NULL, MS_BIND | ((bits & M_FALLBACK_REC) ? MS_REC : 0), NULL);
			if (r == 0 && fb_remount != 0)
				r = remount_in_root(dest, fb_remount);
		}
		if (r < 0)
			fail("mount %s to %s", src, dest);
	}
	close(target);
	if (nprop == 0 && rec_set == 0 && rec_clear == 0)
		return;
	int h = in_root(dest, O_PATH);
	if (h < 0)
		fail("mount %s to %s: open", src, dest);
	proc_fd_path(tp, sizeof(tp), h);
	for (uint32_t i = 0; i < nprop; i++)
		if (mount("", tp, NULL, props[i], NULL) < 0)
			fail("mount %s to %s: set propagation", src, dest);
	if (rec_set != 0 || rec_clear != 0) {
		struct mount_attr attr = {.attr_set = rec_set, .attr_clr = rec_clear};
		if (syscall(SYS_mount_setattr, h, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			fail("mount %s to %s: mount_setattr", src, dest);
	}
	close(h);
}

static void do_mknod(struct cursor *c)
{
	const char *path = get_str(c);
	uint32_t mode = get_u32(c), maj = get_u32(c), min = get_u32(c), uid = get_u32(c), gid = get_u32(c);
	char clean[PATH_MAX];
	if (clean_path(path, clean, sizeof(clean)) < 0)
		fail("create device %s", path);
	char *slash = strrchr(clean, '/');
	const char *base = slash + 1;
	*slash = '\0';
	int dir = mkdir_all_root(clean[0] ? clean : "/", 0755);
	if (dir < 0)
		fail("create device %s", path);
	dev_t dev = makedev(maj, min);
	if (mknodat(dir, base, mode, dev) < 0) {
		// An image may ship a placeholder; replace it unless it is a directory.
		if (errno != EEXIST || unlinkat(dir, base, 0) < 0 || mknodat(dir, base, mode, dev) < 0)
			fail("create device %s", path);
	}
	if (fchownat(dir, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		fail("create device %s: chown", path);
	close(dir);
}

static void do_dev_symlinks(struct cursor *c)
{
	uint32_t ptmx = get_u32(c), n = get_u32(c);
	int dir = mkdir_all_root("/dev", 0755);
	if (dir < 0)
		fail("create /dev");
	if (ptmx)
		unlinkat(dir, "ptmx", 0); // replaced by a link to the devpts instance's ptmx
	for (uint32_t i = 0; i < n; i++) {
		const char *target = get_str(c), *name = get_str(c);
		if (symlinkat(target, dir, name) < 0 && errno != EEXIST)
			fail("symlink /dev/%s", name);
	}
	close(dir);
}

static void write_file(const char *path, const char *value, const char *what)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		fail("%s", what);
	size_t len = strlen(value);
	ssize_t n = write(fd, value, len);
	if (n < 0 || (size_t)n != len)
		fail("%s", what);
	close(fd);
}

static void pivot(const char *rootfs)
{
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0)
		fail("open /");
	int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (newroot < 0)
		fail("open %s", rootfs);
	if (fchdir(newroot) < 0)
		fail("chdir to the new root");
	// pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
	// removes it without needing a directory for it inside the container.
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail("pivot_root");
	if (fchdir(oldroot) < 0)
		fail("chdir to the old root");
	// Slave first, so that the unmount does not propagate to the host.
	if (mount("", ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		fail("make the old root a slave");
	if (umount2(".", MNT_DETACH) < 0)
		fail("unmount old root");
	if (chdir("/") < 0)
		fail("chdir /");
	close(oldroot);
	close(newroot);
}

static void do_readonly(const char *p)
{
	int h = in_root(p, O_PATH);
	if (h < 0) {
		if (errno == ENOENT)
			return;
		fail("read-only path %s", p);
	}
	char hp[64];
	proc_fd_path(hp, sizeof(hp), h);
	if (mount(hp, hp, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail("read-only path %s", p);
	close(h);
	if (remount_in_root(p, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) < 0 && remount_in_root(p, MS_RDONLY) < 0)
		fail("read-only path %s", p);
}

static void do_masks(struct cursor *c)
{
	uint32_t n = get_u32(c);
	if (n == 0)
		return;
	// Masking with whatever an image or a race put at /dev/null would expose it
	// (CVE-2025-31133): it must be the null device.
	int null = open("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (null < 0)
		fail("open /dev/null");
	struct stat st;
	if (fstat(null, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
		errno = 0;
		fail("/dev/null is not the null device: refusing to use it for masked paths");
	}
	char np[64], hp[64];
	proc_fd_path(np, sizeof(np), null);
	for (uint32_t i = 0; i < n; i++) {
		const char *p = get_str(c);
		int h = in_root(p, O_PATH);
		if (h < 0) {
			if (errno == ENOENT)
				continue;
			fail("mask %s", p);
		}
		if (fstat(h, &st) < 0)
			fail("mask %s", p);
		proc_fd_path(hp, sizeof(hp), h);
		int r = S_ISDIR(st.st_mode) ? mount("tmpfs", hp, "tmpfs", MS_RDONLY, NULL) : mount(np, hp, NULL, MS_BIND, NULL);
		if (r < 0)
			fail("mask %s", p);
		close(h);
	}
	close(null);
}

// The process to exec, read from the PLAN_PROCESS record.
struct process {
	int fifo_fd;
	uint32_t nrlimits;
	const unsigned char *rlimits; // nrlimits * (u32 resource, u64 soft, u64 hard)
	int has_oom;
	const char *oom;
	int nnp;
	const void *bpf;
	uint32_t bpf_len;
	uint32_t seccomp_flags;
	int has_caps;
	uint64_t bounding, effective, permitted, inheritable, ambient;
	uint32_t last_cap;
	uint32_t uid, gid, ngroups;
	int userns;
	uint32_t umask;
	const char *cwd;
	const char *path_env; // PATH of the process's environment, "" when it has none
	int has_path;
};

static void read_process(struct cursor *c, struct process *p)
{
	p->fifo_fd = (int)get_u32(c);
	p->nrlimits = get_u32(c);
	if (p->nrlimits > 64) {
		errno = 0;
		fail("malformed init plan: %u rlimits", p->nrlimits);
	}
	p->rlimits = c->p;
	for (uint32_t i = 0; i < p->nrlimits; i++) {
		get_u32(c);
		get_u64(c);
		get_u64(c);
	}
	p->has_oom = (int)get_u32(c);
	p->oom = get_str(c);
	p->nnp = (int)get_u32(c);
	p->seccomp_flags = get_u32(c);
	p->bpf = get_bytes(c, &p->bpf_len);
	p->has_caps = (int)get_u32(c);
	p->bounding = get_u64(c);
	p->effective = get_u64(c);
	p->permitted = get_u64(c);
	p->inheritable = get_u64(c);
	p->ambient = get_u64(c);
	p->last_cap = get_u32(c);
	p->uid = get_u32(c);
	p->gid = get_u32(c);
	p->ngroups = get_u32(c);
	if (p->ngroups > NGROUPS_MAX) {
		errno = 0;
		fail("too many additional groups: %u", p->ngroups);
	}
	for (uint32_t i = 0; i < p->ngroups; i++)
		groups_buf[i] = (gid_t)get_u32(c);
	p->userns = (int)get_u32(c);
	p->umask = get_u32(c);
	p->cwd = get_str(c);
	p->has_path = (int)get_u32(c);
	p->path_env = get_str(c);
	uint32_t argc = get_u32(c);
	if (argc == 0 || argc > MAX_STRS) {
		errno = 0;
		fail("malformed init plan: %u arguments", argc);
	}
	for (uint32_t i = 0; i < argc; i++)
		argv_buf[i] = get_str(c);
	argv_buf[argc] = NULL;
	uint32_t envc = get_u32(c);
	if (envc > MAX_STRS) {
		errno = 0;
		fail("malformed init plan: %u environment entries", envc);
	}
	for (uint32_t i = 0; i < envc; i++)
		envp_buf[i] = get_str(c);
	envp_buf[envc] = NULL;
}

// executable reports why file cannot be executed (0 if it can), as Go's exec.LookPath checks it;
// *in_stat tells whether stat itself failed.
static int executable(const char *file, int *in_stat)
{
	struct stat st;
	*in_stat = 0;
	if (stat(file, &st) < 0) {
		*in_stat = 1;
		return errno;
	}
	if (S_ISDIR(st.st_mode))
		return EISDIR;
	if (faccessat(AT_FDCWD, file, X_OK, AT_EACCESS) == 0)
		return 0;
	if (errno != ENOSYS && errno != EPERM)
		return errno;
	return (st.st_mode & 0111) ? 0 : EACCES;
}

// look_path finds argv[0] with the container's PATH, after pivot_root, so that `create` fails
// the way it does with the Go init (and runc) when the program is missing. The messages are Go's.
static void look_path(const struct process *p, char *out, size_t outlen)
{
	const char *file = argv_buf[0];
	int in_stat;
	if (strchr(file, '/')) {
		int e = executable(file, &in_stat);
		if (e != 0) {
			errno = 0;
			if (in_stat)
				fail("exec: \"%s\": stat %s: %s", file, file, errstr(e));
			fail("exec: \"%s\": %s", file, errstr(e));
		}
		snprintf(out, outlen, "%s", file);
		return;
	}
	const char *dirs = p->has_path ? p->path_env : "";
	const char *s = dirs;
	for (;;) {
		const char *e = strchr(s, ':');
		size_t dl = e ? (size_t)(e - s) : strlen(s);
		char cand[PATH_MAX], clean[PATH_MAX];
		if (dl == 0)
			snprintf(cand, sizeof(cand), "./%s", file);
		else
			snprintf(cand, sizeof(cand), "%.*s/%s", (int)dl, s, file);
		if (executable(cand, &in_stat) == 0) {
			if (cand[0] != '/') {
				errno = 0;
				fail("exec: \"%s\": cannot run executable found relative to current directory", file);
			}
			if (clean_path(cand, clean, sizeof(clean)) == 0)
				snprintf(out, outlen, "%s", clean);
			else
				snprintf(out, outlen, "%s", cand);
			return;
		}
		if (!e)
			break;
		s = e + 1;
	}
	errno = 0;
	fail("exec: \"%s\": executable file not found in $PATH", file);
}

static void load_seccomp(const struct process *p)
{
	if (p->bpf_len == 0)
		return;
	if (p->bpf_len % sizeof(struct sock_filter) != 0 || p->bpf_len / sizeof(struct sock_filter) > 0xffff) {
		errno = 0;
		fail("seccomp: malformed program of %u bytes", p->bpf_len);
	}
	// The plan buffer is not aligned for sock_filter: copy onto the stack-free static area.
	static struct sock_filter insns[0x10000];
	memcpy(insns, p->bpf, p->bpf_len);
	struct sock_fprog prog = {.len = (unsigned short)(p->bpf_len / sizeof(struct sock_filter)), .filter = insns};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->seccomp_flags, &prog) < 0)
		fail("seccomp: load filter");
}

static void set_caps(const struct process *p)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct cur[2];
	if (syscall(SYS_capget, &hdr, cur) < 0)
		fail("capget");
	uint64_t held = (uint64_t)cur[0].permitted | (uint64_t)cur[1].permitted << 32;
	uint64_t missing = (p->permitted | p->effective) & ~held;
	if (missing) {
		errno = 0;
		fail("capabilities %#llx are not held by the runtime (not in its bounding set?)", (unsigned long long)missing);
	}
	struct __user_cap_data_struct data[2] = {
		{.effective = (uint32_t)p->effective, .permitted = (uint32_t)p->permitted, .inheritable = (uint32_t)p->inheritable},
		{.effective = (uint32_t)(p->effective >> 32), .permitted = (uint32_t)(p->permitted >> 32), .inheritable = (uint32_t)(p->inheritable >> 32)},
	};
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail("capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fail("clear ambient capabilities");
	for (uint32_t i = 0; i <= p->last_cap && i < 64; i++) {
		if (!(p->ambient & (1ull << i)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0)
			fail("raise ambient capability %u (it must also be permitted and inheritable)", i);
	}
}

// finalize applies the process attributes in the order that keeps each step permitted (the Go
// init's order): limits, seccomp while CAP_SYS_ADMIN is held (unless no_new_privs makes it
// unneeded), the user, the capability sets, then the working directory; and execs.
static void __attribute__((noreturn)) finalize(const struct process *p, const char *path)
{
	struct cursor rc = {.p = p->rlimits, .end = p->rlimits + p->nrlimits * 20};
	for (uint32_t i = 0; i < p->nrlimits; i++) {
		uint32_t res = get_u32(&rc);
		struct rlimit rl = {.rlim_cur = get_u64(&rc), .rlim_max = get_u64(&rc)};
		if (setrlimit((int)res, &rl) < 0)
			fail("setrlimit %u", res);
	}
	if (p->has_oom) {
		// Lowering the score needs CAP_SYS_RESOURCE, which some hosts withhold even from root.
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : write(fd, p->oom, strlen(p->oom));
		if (n < 0 && errno != EPERM && errno != EACCES)
			fail("set oom_score_adj");
		if (fd >= 0)
			close(fd);
	}
	if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail("set no_new_privs");
	if (!p->nnp)
		load_seccomp(p);
	if (p->has_caps) {
		for (uint32_t i = 0; i <= p->last_cap && i < 64; i++) {
			if (p->bounding & (1ull << i))
				continue;
			if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
				fail("drop capability %u from the bounding set", i);
		}
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail("set keepcaps");
	// setgroups may be denied in a user namespace whose creator wrote "deny"; only try when asked.
	if ((!p->userns || p->ngroups > 0) && setgroups(p->ngroups, groups_buf) < 0)
		fail("setgroups");
	// Raw syscalls: glibc's wrappers would try to sync other threads, and there are none.
	if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
		fail("setgid %u", p->gid);
	if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
		fail("setuid %u", p->uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fail("clear keepcaps");
	set_caps(p);
	umask(p->umask);
	if (chdir(p->cwd) < 0)
		fail("chdir to cwd (\"%s\") set in config.json failed", p->cwd);
	// CVE-2024-21626: a cwd reached through a leaked host fd lies outside the container's root,
	// and the kernel then reports it as "(unreachable)/...".
	char wd[PATH_MAX];
	if (syscall(SYS_getcwd, wd, sizeof(wd)) < 0 || wd[0] != '/') {
		errno = 0;
		fail("current working directory is outside of container mount namespace root");
	}
	if (p->nnp)
		load_seccomp(p);
	// Nothing of the runtime (nor a host directory fd) may reach the container's process.
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		struct rlimit nofile;
		if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
			fail("getrlimit");
		for (rlim_t fd = 3; fd < nofile.rlim_cur && fd < (1u << 20); fd++)
			fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	}
	execve(path, (char *const *)argv_buf, (char *const *)envp_buf);
	int err = errno;
	dprintf(2, "berth-runtime init: exec %s: %s\n", argv_buf[0], errstr(err));
	_exit(err == ENOENT ? 127 : 126);
}

void berth_cinit(int sync)
{
	cinit_sync = sync;
	uint32_t len;
	if (berth_read_all(sync, &len, sizeof(len)) < 0)
		_exit(1); // the runtime went away
	if (len > PLAN_MAX) {
		errno = 0;
		fail("init plan of %u bytes is too large", len);
	}
	if (berth_read_all(sync, plan_buf, len) < 0)
		_exit(1);
	struct cursor c = {.p = plan_buf, .end = plan_buf + len};
	const char *rootfs = "";
	char path[PATH_MAX];
	struct process proc;
	for (;;) {
		uint32_t op = get_u32(&c);
		switch (op) {
		case PLAN_UNSHARE_CGROUP:
			if (unshare(CLONE_NEWCGROUP) < 0)
				fail("create cgroup namespace");
			break;
		case PLAN_ROOT_PROPAGATION:
			umask(0);
			if (mount("", "/", NULL, (unsigned long)get_u64(&c), NULL) < 0)
				fail("set propagation of /");
			break;
		case PLAN_BIND_ROOTFS:
			rootfs = get_str(&c);
			if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
				fail("bind mount rootfs %s", rootfs);
			root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (root_fd < 0)
				fail("open root %s", rootfs);
			break;
		case PLAN_MOUNT:
			do_mount(&c, rootfs);
			break;
		case PLAN_REMOUNT: {
			const char *p = get_str(&c);
			unsigned long fl = (unsigned long)get_u64(&c);
			int h = in_root(p, O_PATH);
			char hp[64];
			if (h < 0)
				fail("remount %s", p);
			proc_fd_path(hp, sizeof(hp), h);
			if (mount("", hp, NULL, fl, NULL) < 0)
				fail("remount %s", p);
			close(h);
			break;
		}
		case PLAN_MKDIR: {
			const char *p = get_str(&c);
			int h = mkdir_all_root(p, 0755);
			if (h < 0)
				fail("create cwd %s", p);
			close(h);
			break;
		}
		case PLAN_MKNOD:
			do_mknod(&c);
			break;
		case PLAN_DEV_SYMLINKS:
			do_dev_symlinks(&c);
			break;
		case PLAN_SYSCTL: {
			const char *p = get_str(&c), *v = get_str(&c);
			char what[PATH_MAX + 64];
			snprintf(what, sizeof(what), "set sysctl %s=%s", p, v);
			write_file(p, v, what);
			break;
		}
		case PLAN_HOSTNAME: {
			const char *h = get_str(&c);
			if (sethostname(h, strlen(h)) < 0)
				fail("sethostname");
			break;
		}
		case PLAN_DOMAINNAME: {
			const char *d = get_str(&c);
			if (setdomainname(d, strlen(d)) < 0)
				fail("setdomainname");
			break;
		}
		case PLAN_PIVOT:
			pivot(get_str(&c));
			close(root_fd);
			root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (root_fd < 0)
				fail("open /");
			break;
		case PLAN_READONLY:
			do_readonly(get_str(&c));
			break;
		case PLAN_MASK:
			do_masks(&c);
			break;
		case PLAN_ROOT_READONLY: {
			int h = in_root("/", O_PATH);
			if (h < 0 || remount_fd(h, MS_RDONLY) < 0)
				fail("make root read-only");
			close(h);
			break;
		}
		case PLAN_PROCESS: {
			read_process(&c, &proc);
			look_path(&proc, path, sizeof(path));
			if (root_fd >= 0)
				close(root_fd);
			berth_write_all(sync, "R", 1);
			close(sync);
			cinit_sync = -1;
			// Block until `start` opens exec.fifo for reading. The write end stays open,
			// close-on-exec, so `start` sees end-of-file exactly when the process is exec'd.
			char fp[64];
			snprintf(fp, sizeof(fp), "/proc/self/fd/%d", proc.fifo_fd);
			int fd = open(fp, O_WRONLY | O_CLOEXEC);
			if (fd < 0)
				fail("open exec fifo");
			if (write(fd, "0", 1) != 1)
				fail("write exec fifo");
			close(proc.fifo_fd);
			finalize(&proc, path);
		}
		default:
			errno = 0;
			fail("malformed init plan: unknown operation %u", op);
		}
	}
}
