package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// BindMount is Docker's OCI mount for a bind: recursive, read-only if asked, with its
// propagation (rprivate unless told otherwise).
func BindMount(source, destination string, readOnly bool, propagation string) specs.Mount {
	return Bind(source, destination, BindOptions{ReadOnly: readOnly, Propagation: propagation})
}

// BindOptions are what --mount type=bind (and volume) options make of a bind.
type BindOptions struct {
	ReadOnly    bool
	Propagation string // rprivate when empty
	// NonRecursive: the source alone, without the mounts below it (bind-recursive=disabled).
	NonRecursive bool
	// RecursiveReadOnly: the mounts below a read-only source read-only too ("rro", as Docker
	// does since v25 where the kernel can, or bind-recursive=readonly).
	RecursiveReadOnly bool
}

// Bind is the OCI mount of a bind with its options.
func Bind(source, destination string, o BindOptions) specs.Mount {
	opts := []string{"rbind"}
	if o.NonRecursive {
		opts = []string{"bind"}
	}
	if o.ReadOnly {
		opts = append(opts, "ro")
		if o.RecursiveReadOnly {
			opts = append(opts, "rro")
		}
	}
	propagation := o.Propagation
	if propagation == "" {
		propagation = "rprivate"
	}
	opts = append(opts, propagation)
	return specs.Mount{Destination: destination, Type: "bind", Source: source, Options: opts}
}

// TmpfsMount is Docker's OCI mount for --tmpfs and --mount type=tmpfs: noexec, nosuid, nodev
// and rprivate, overridden by the user's options (data: "size=64m,exec,mode=1777", ...).
func TmpfsMount(destination, data string) (specs.Mount, error) {
	opts := []string{"noexec", "nosuid", "nodev", "rprivate"}
	if data != "" {
		opts = append(opts, strings.Split(data, ",")...)
	}
	merged, err := MergeTmpfsOptions(opts)
	if err != nil {
		return specs.Mount{}, err
	}
	return specs.Mount{Destination: destination, Type: "tmpfs", Source: "tmpfs", Options: merged}, nil
}

// tmpfsFlagFamily groups the flag options that cancel each other: the last one given wins.
var tmpfsFlagFamily = map[string]string{
	"ro": "rdonly", "rw": "rdonly", "exec": "noexec", "noexec": "noexec", "suid": "nosuid", "nosuid": "nosuid",
	"dev": "nodev", "nodev": "nodev", "sync": "sync", "async": "sync", "dirsync": "dirsync", "remount": "remount",
	"mand": "mand", "nomand": "mand", "atime": "noatime", "noatime": "noatime", "diratime": "nodiratime",
	"nodiratime": "nodiratime", "bind": "bind", "rbind": "rbind", "relatime": "relatime", "norelatime": "relatime",
	"strictatime": "strictatime", "nostrictatime": "strictatime",
	"unbindable": "propagation", "runbindable": "propagation", "private": "propagation", "rprivate": "propagation",
	"shared": "propagation", "rshared": "propagation", "slave": "propagation", "rslave": "propagation",
}

var tmpfsDataKeys = map[string]bool{"size": true, "mode": true, "uid": true, "gid": true, "nr_inodes": true, "nr_blocks": true, "mpol": true}

// MergeTmpfsOptions keeps the last of each flag family and data key, in order (Docker's rule).
func MergeTmpfsOptions(options []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for i := len(options) - 1; i >= 0; i-- {
		o := options[i]
		if o == "defaults" {
			continue
		}
		key, isFlag := tmpfsFlagFamily[o]
		if !isFlag {
			k, _, ok := strings.Cut(o, "=")
			if !ok || !tmpfsDataKeys[k] {
				return nil, fmt.Errorf("invalid tmpfs option %q", strings.SplitN(o, "=", 2))
			}
			key = "data:" + k
		}
		if !seen[key] {
			seen[key] = true
			out = append([]string{o}, out...)
		}
	}
	return out, nil
}

// HostDevices lists the host's device nodes under /dev, as --privileged gives them to a
// container (runc's rule: not the pts, shm, mqueue or fd directories, not /dev/console).
func HostDevices() ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	err := filepath.WalkDir("/dev", func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return nil // a node that vanished or cannot be read is skipped
		}
		if e.IsDir() {
			switch e.Name() {
			case "pts", "shm", "mqueue", "fd", ".lxc", ".lxd-mounts", ".udev":
				return filepath.SkipDir
			}
			return nil
		}
		if p == "/dev/console" {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil
		}
		var typ string
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			typ = "c"
		case unix.S_IFBLK:
			typ = "b"
		default:
			return nil
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		out = append(out, specs.LinuxDevice{Path: p, Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
			FileMode: &mode, UID: &uid, GID: &gid})
		return nil
	})
	return out, err
}
