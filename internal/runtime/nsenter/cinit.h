// Shared by nsexec.c (the bootstrap) and cinit.c (the C init).
#ifndef BERTH_CINIT_H
#define BERTH_CINIT_H
#include <stddef.h>

void berth_write_all(int fd, const void *buf, size_t len);
int berth_read_all(int fd, void *buf, size_t len);
// berth_cinit runs the container's init from a plan read on sync; it never returns.
void berth_cinit(int sync) __attribute__((noreturn));
#endif
