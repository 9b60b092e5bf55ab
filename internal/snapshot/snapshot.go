// Package snapshot manages container and image filesystems as a chain of snapshots, after
// containerd's snapshotter model: Prepare gives a writable snapshot on top of a committed parent,
// Commit freezes it, View gives a read-only one. A snapshotter returns the mounts that assemble a
// snapshot and never mounts anything itself; the caller (the runtime spec, a layer unpacker)
// decides where. Two implementations: overlay (overlayfs, the default) and native (plain copies,
// for filesystems overlayfs cannot sit on).
package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Kind is the state of a snapshot.
type Kind string

const (
	KindActive    Kind = "active"    // writable, from Prepare
	KindView      Kind = "view"      // read-only, from View
	KindCommitted Kind = "committed" // frozen, a parent for others
)

// Info describes a snapshot.
type Info struct {
	Key     string    `json:"key"`
	Parent  string    `json:"parent,omitempty"`
	Kind    Kind      `json:"kind"`
	Created time.Time `json:"created"`
	ID      string    `json:"id"` // the directory name under the snapshotter's root
}

// Mount is one mount(2) call that, with the others, assembles a snapshot.
type Mount struct {
	Type    string   `json:"type"`
	Source  string   `json:"source"`
	Options []string `json:"options,omitempty"`
}

// Snapshotter is the seam between images/containers and filesystems.
type Snapshotter interface {
	// Prepare makes a writable snapshot key on top of the committed parent ("" for none).
	Prepare(ctx context.Context, key, parent string) ([]Mount, error)
	// View makes a read-only snapshot key of the committed parent.
	View(ctx context.Context, key, parent string) ([]Mount, error)
	// Mounts returns the mounts of an active or view snapshot.
	Mounts(ctx context.Context, key string) ([]Mount, error)
	// Commit freezes the active snapshot key under name.
	Commit(ctx context.Context, name, key string) error
	// Remove deletes a snapshot that no other snapshot has as parent.
	Remove(ctx context.Context, key string) error
	// Stat describes a snapshot.
	Stat(ctx context.Context, key string) (Info, error)
	// Walk calls fn for every snapshot.
	Walk(ctx context.Context, fn func(Info) error) error
	// Usage is the disk space a snapshot's own directory takes, in bytes.
	Usage(ctx context.Context, key string) (int64, error)
	// Size is the apparent size of a snapshot's own files (Docker's SizeRw).
	Size(ctx context.Context, key string) (int64, error)
	Close() error
}

// Volatile gives overlay mounts overlayfs's volatile option, for a container whose writable
// layer goes when it exits (--rm): the overlay then never syncs its upper layer, so its unmount
// does not wait for the whole host filesystem under it to be synced (milliseconds on a busy
// host). After a host crash such a layer may be inconsistent, and overlayfs refuses it while
// the marker it keeps in its work directory remains: the marker is removed here, since the
// layer has no value after a crash anyway. Other mounts are returned as they are.
func Volatile(mounts []Mount) []Mount {
	out := make([]Mount, len(mounts))
	for i, m := range mounts {
		out[i] = m
		if m.Type != "overlay" {
			continue
		}
		out[i].Options = append(append([]string{}, m.Options...), "volatile")
		for _, o := range m.Options {
			if work, ok := strings.CutPrefix(o, "workdir="); ok {
				os.RemoveAll(filepath.Join(work, "work", "incompat", "volatile"))
			}
		}
	}
	return out
}

// MountAll mounts the mounts at target, in order.
func MountAll(mounts []Mount, target string) error {
	for _, m := range mounts {
		flags, data := mountFlags(m.Options)
		typ := m.Type
		if typ == "bind" {
			typ = ""
		}
		if err := unix.Mount(m.Source, target, typ, flags, data); err != nil {
			return fmt.Errorf("mount %s (%s) on %s: %w", m.Source, m.Type, target, err)
		}
		// A read-only bind needs a second, remounting call.
		if flags&unix.MS_BIND != 0 && flags&unix.MS_RDONLY != 0 {
			if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT, ""); err != nil {
				unix.Unmount(target, unix.MNT_DETACH)
				return fmt.Errorf("remount %s read-only: %w", target, err)
			}
		}
	}
	return nil
}

// Unmount undoes MountAll.
func Unmount(target string) error {
	for {
		if err := unix.Unmount(target, 0); err != nil {
			if err == unix.EINVAL {
				return nil // nothing (more) mounted
			}
			return err
		}
	}
}

func mountFlags(opts []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range opts {
		switch o {
		case "bind":
			flags |= unix.MS_BIND
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw":
		default:
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ",")
}
