package initproc

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

type mountFlag struct {
	clear bool
	flag  uintptr
}

var mountFlags = map[string]mountFlag{
	"acl":           {false, unix.MS_POSIXACL},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noacl":         {true, unix.MS_POSIXACL},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

// recursiveAttrs are the "r"-prefixed options applied with mount_setattr(AT_RECURSIVE).
var recursiveAttrs = map[string]struct {
	clear bool
	flag  uint64
}{
	"rro": {false, unix.MOUNT_ATTR_RDONLY}, "rrw": {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid": {false, unix.MOUNT_ATTR_NOSUID}, "rsuid": {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev": {false, unix.MOUNT_ATTR_NODEV}, "rdev": {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec": {false, unix.MOUNT_ATTR_NOEXEC}, "rexec": {true, unix.MOUNT_ATTR_NOEXEC},
	"rnoatime": {false, unix.MOUNT_ATTR_NOATIME}, "rnodiratime": {false, unix.MOUNT_ATTR_NODIRATIME},
}

// MountOpts are OCI mount options turned into what mount(2) and mount_setattr(2) take.
type MountOpts struct {
	Flags       uintptr
	Propagation []uintptr
	Data        string
	RecSet      uint64
	RecClear    uint64
}

// ParseMountOptions splits OCI mount options into mount(2) flags, propagation changes, recursive
// attributes and the filesystem-specific data string.
func ParseMountOptions(options []string) (MountOpts, bool, bool, error) {
	var o MountOpts
	var data []string
	for _, opt := range options {
		if f, ok := mountFlags[opt]; ok {
			if f.clear {
				o.Flags &^= f.flag
			} else {
				o.Flags |= f.flag
			}
			continue
		}
		if p, ok := PropagationFlags[opt]; ok && opt != "" {
			o.Propagation = append(o.Propagation, p)
			continue
		}
		if a, ok := recursiveAttrs[opt]; ok {
			if a.clear {
				o.RecClear |= a.flag
			} else {
				o.RecSet |= a.flag
			}
			continue
		}
		if opt == "idmap" || opt == "ridmap" {
			return o, false, false, fmt.Errorf("mount option %q (id-mapped mounts) is not supported", opt)
		}
		if opt == "" || strings.ContainsAny(opt, "\x00") {
			return o, false, false, fmt.Errorf("invalid mount option %q", opt)
		}
		data = append(data, opt)
	}
	o.Data = strings.Join(data, ",")
	return o, o.Flags&unix.MS_BIND != 0, o.Flags&unix.MS_REC != 0, nil
}

// MountOptionNames lists the mount options this runtime understands.
func MountOptionNames() []string {
	var out []string
	for k := range mountFlags {
		out = append(out, k)
	}
	for k := range PropagationFlags {
		if k != "" {
			out = append(out, k)
		}
	}
	for k := range recursiveAttrs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
