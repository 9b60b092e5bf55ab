// Shared by nsexec.c (the bootstrap) and cinit.c (the C init).
#ifndef BERTH_CINIT_H
#define BERTH_CINIT_H
#include <stdarg.h>
#include <stddef.h>

void berth_write_all(int fd, const void *buf, size_t len);
int berth_read_all(int fd, void *buf, size_t len);
// berth_vfail reports why the container cannot start, with errno's text as errtext words it,
// as an error frame on sync (or on stderr when sync < 0), then exits.
void berth_vfail(int sync, const char *(*errtext)(int), const char *fmt, va_list ap)
	__attribute__((noreturn, format(printf, 3, 0)));
// berth_cinit runs the container's init from a plan read on sync; it never returns.
void berth_cinit(int sync) __attribute__((noreturn));
#endif
