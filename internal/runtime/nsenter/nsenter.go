// Package nsenter links the C constructor that joins and creates namespaces before the Go runtime
// starts. Importing it has no effect on a process started without _BERTH_INIT_FD.
package nsenter

/*
#cgo CFLAGS: -Wall -Werror -O2
*/
import "C"

// BootstrapMagic starts every bootstrap message (see nsexec.c for the wire format).
const BootstrapMagic = 0x42455254
