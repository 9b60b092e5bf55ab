// nsexec runs before the Go runtime starts, while the process still has exactly one thread. That
// is the only moment a Go program can join a mount or user namespace (setns refuses both in a
// multi-threaded process) and unshare a user namespace. berth-runtime re-executes itself with
// _BERTH_INIT_FD set; this constructor then reads a bootstrap message from that fd, joins and
// creates namespaces, forks once more when a PID namespace demands it, then reads one mode byte:
// 'C' hands the final process to the C init (cinit.c), which finishes the container from a plan
// without ever starting Go; 'G' returns, so that the Go init (internal/runtime/initproc) does.
//
// Wire format of the bootstrap message, all integers native-endian uint32:
//   magic, cloneflags, njoin, then njoin times { nstype, pathlen, path bytes },
//   ncgroup, then ncgroup times { pathlen, path bytes } (cgroup v1 directories to join).
// Replies written to the same fd: 'U' (please write my uid/gid maps; wait for 'u'), then
// 'P' followed by the pid of the process that will continue as the container process, which then
// waits for the mode byte ('C' + plan, or 'G' + the Go init's JSON config).
// Any failure is reported as 'E' + uint32 length + message, and the process exits 1.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "cinit.h"

#define BERTH_BOOTSTRAP_MAGIC 0x42455254u /* "BERT" */
#define MAX_JOIN 16

static int sync_fd = -1;

void berth_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1);
		p += n;
		len -= (size_t)n;
	}
}

int berth_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void berth_vfail(int sync, const char *(*errtext)(int), const char *fmt, va_list ap)
{
	char msg[1024];
	int saved = errno;
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (saved != 0 && (size_t)n + 64 < sizeof(msg))
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", errtext(saved));
	if (sync >= 0) {
		uint32_t len = (uint32_t)n;
		berth_write_all(sync, "E", 1);
		berth_write_all(sync, &len, sizeof(len));
		berth_write_all(sync, msg, len);
	} else {
		// No runtime to tell (after `create` returned): the container's stderr is the witness.
		dprintf(2, "berth-runtime init: %s\n", msg);
	}
	_exit(1);
}

static const char *libc_errtext(int e) { return strerror(e); }

static void bail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void bail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	berth_vfail(sync_fd, libc_errtext, fmt, ap);
}

static const char *nsname(uint32_t t)
{
	switch (t) {
	case CLONE_NEWUSER: return "user";
	case CLONE_NEWNS: return "mnt";
	case CLONE_NEWPID: return "pid";
	case CLONE_NEWNET: return "net";
	case CLONE_NEWUTS: return "uts";
	case CLONE_NEWIPC: return "ipc";
	case CLONE_NEWCGROUP: return "cgroup";
	default: return "unknown";
	}
}

// Joining order matters: the user namespace first, so the rest are joined with the credentials it
// grants; the mount namespace last, because every path was already opened in the caller's view.
static int join_rank(uint32_t t)
{
	if (t == CLONE_NEWUSER)
		return 0;
	if (t == CLONE_NEWNS)
		return 2;
	return 1;
}

// await_mode reads which init finishes the container: 'C', the C init (cinit.c), from a plan the
// runtime sends next, without starting Go at all; 'G', the Go init, which reads its JSON config.
static void await_mode(void)
{
	char mode;
	if (berth_read_all(sync_fd, &mode, 1) < 0)
		_exit(1); // the runtime went away
	if (mode == 'C')
		berth_cinit(sync_fd);
	if (mode != 'G')
		bail("unknown init mode %#x", (unsigned)(unsigned char)mode);
}

__attribute__((constructor)) static void berth_nsexec(void)
{
	const char *env = getenv("_BERTH_INIT_FD");
	if (env == NULL || *env == '\0')
		return;
	sync_fd = atoi(env);
	if (sync_fd < 3)
		bail("invalid _BERTH_INIT_FD %s", env);


	uint32_t hdr[3];
	if (berth_read_all(sync_fd, hdr, sizeof(hdr)) < 0)
		bail("read bootstrap header");
	if (hdr[0] != BERTH_BOOTSTRAP_MAGIC)
		bail("bad bootstrap magic %x", hdr[0]);
	uint32_t cloneflags = hdr[1], njoin = hdr[2];
	if (njoin > MAX_JOIN)
		bail("too many namespaces to join: %u", njoin);

	int fds[MAX_JOIN];
	uint32_t types[MAX_JOIN];
	int join_pid = 0;
	for (uint32_t i = 0; i < njoin; i++) {
		uint32_t ent[2];
		char path[4096];
		if (berth_read_all(sync_fd, ent, sizeof(ent)) < 0)
			bail("read bootstrap namespace entry");
		if (ent[1] == 0 || ent[1] >= sizeof(path))
			bail("bad namespace path length %u", ent[1]);
		if (berth_read_all(sync_fd, path, ent[1]) < 0)
			bail("read namespace path");
		path[ent[1]] = '\0';
		types[i] = ent[0];
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			bail("open %s namespace %s", nsname(ent[0]), path);
		if (ent[0] == CLONE_NEWPID)
			join_pid = 1;
	}
	// Join the cgroups first, while still in the runtime's namespaces. Moving oneself as a single
	// thread ("0" into "tasks") skips the kernel's threadgroup lock, whose write side waits for an
	// RCU grace period: milliseconds per container on cgroup v1 when the runtime moves the pid.
	uint32_t ncg;
	if (berth_read_all(sync_fd, &ncg, sizeof(ncg)) < 0)
		bail("read bootstrap cgroup count");
	if (ncg > 32)
		bail("too many cgroups: %u", ncg);
	for (uint32_t i = 0; i < ncg; i++) {
		uint32_t len;
		char path[4096];
		if (berth_read_all(sync_fd, &len, sizeof(len)) < 0 || len == 0 || len + sizeof("/tasks") > sizeof(path))
			bail("bad cgroup path length");
		if (berth_read_all(sync_fd, path, len) < 0)
			bail("read cgroup path");
		memcpy(path + len, "/tasks", sizeof("/tasks"));
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			bail("open %s", path);
		if (write(fd, "0", 1) != 1)
			bail("join cgroup %s", path);
		close(fd);
	}

	for (int rank = 0; rank <= 2; rank++) {
		for (uint32_t i = 0; i < njoin; i++) {
			if (join_rank(types[i]) != rank)
				continue;
			if (setns(fds[i], (int)types[i]) < 0)
				bail("join %s namespace", nsname(types[i]));
			close(fds[i]);
		}
	}

	int joined_user = 0;
	for (uint32_t i = 0; i < njoin; i++)
		joined_user |= types[i] == CLONE_NEWUSER;
	if (joined_user) {
		// setns into a user namespace keeps the numeric ids, which may not be mapped there.
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			bail("become root in the joined user namespace");
	}

	if (cloneflags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			bail("create user namespace");
		// Only a process outside the namespace may write an arbitrary mapping: ask the runtime.
		char ack;
		berth_write_all(sync_fd, "U", 1);
		if (berth_read_all(sync_fd, &ack, 1) < 0 || ack != 'u')
			bail("wait for uid/gid mappings");
		if (setresgid(0, 0, 0) < 0)
			bail("setresgid(0) in new user namespace");
		if (setresuid(0, 0, 0) < 0)
			bail("setresuid(0) in new user namespace");
	}
	uint32_t rest = cloneflags & ~(uint32_t)CLONE_NEWUSER;
	if (rest != 0 && unshare((int)rest) < 0)
		bail("create namespaces (flags %#x)", rest);

	// A new or joined PID namespace applies to children only: fork once more, as a sibling
	// (CLONE_PARENT), so the runtime is the parent of the container process.
	if ((cloneflags & CLONE_NEWPID) || join_pid) {
		pid_t child = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
		if (child < 0)
			bail("fork into pid namespace");
		if (child > 0) {
			uint32_t p = (uint32_t)child;
			berth_write_all(sync_fd, "P", 1);
			berth_write_all(sync_fd, &p, sizeof(p));
			_exit(0);
		}
		await_mode();
		return;
	}
	uint32_t self = (uint32_t)getpid();
	berth_write_all(sync_fd, "P", 1);
	berth_write_all(sync_fd, &self, sizeof(self));
	await_mode();
}
