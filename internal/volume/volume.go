// Package volume is berth's local volume store: each volume is a directory root/<name>/_data
// with its record (driver options, labels, creation time) in bbolt. A volume becomes visible only
// once both exist: its directory is made under a temporary name and renamed into place before the
// record is written, and directories without a record are removed when the store opens, so a
// daemon killed during a create leaves no half-made volume behind.
//
// The store knows nothing of containers: which containers use a volume is the daemon's question,
// answered from its container records (so reference counts survive a restart by construction).
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/metadata"
	"github.com/moby/sys/mountinfo"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// DefaultDriver is the only driver berth has.
const DefaultDriver = "local"

// AnonymousLabel marks a volume made for one container (docker's label, which `volume prune`
// without --all uses to choose what to remove).
const AnonymousLabel = "com.docker.volume.anonymous"

const schema = "1"

var bucketVolumes = []byte("volumes")

// Volume is one volume's record.
type Volume struct {
	Name      string            `json:"name"`
	Driver    string            `json:"driver"`
	Labels    map[string]string `json:"labels"`
	Options   map[string]string `json:"options"`
	CreatedAt time.Time         `json:"created_at"`
}

// Anonymous reports whether the volume was made for one container.
func (v *Volume) Anonymous() bool {
	_, ok := v.Labels[AnonymousLabel]
	return ok
}

// Store holds the volumes under one root.
type Store struct {
	root string
	db   *bolt.DB
	mu   sync.Mutex
}

// validName is docker's rule for local volume names: no "/", and no name made only of dots.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks a volume name with dockerd's messages.
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return errdefs.InvalidArgument(fmt.Errorf("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name, name))
	}
	return nil
}

// Open opens (creating) the store at root and removes what a crash left half-made.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, err
	}
	db, err := metadata.Open(filepath.Join(root, "metadata.db"), schema, bucketVolumes)
	if err != nil {
		return nil, err
	}
	s := &Store{root: root, db: db}
	s.cleanup()
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// fillPrefix names the staging directory, beside _data, where a volume's first content is
// copied before it replaces the empty _data in one rename.
const fillPrefix = ".fill-"

// cleanup removes volume directories that have no record (a create or remove cut short) and the
// staging directories of fills cut short.
func (s *Store) cleanup() {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := s.Get(e.Name()); err == nil {
			s.removeFillLeftovers(filepath.Join(s.root, e.Name()))
			continue
		}
		dir := filepath.Join(s.root, e.Name())
		unix.Unmount(filepath.Join(dir, "_data"), unix.MNT_DETACH)
		os.RemoveAll(dir)
	}
}

func (s *Store) removeFillLeftovers(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), fillPrefix) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// Fill gives an empty volume its first content, written by fill into a directory: a staging
// directory beside _data that replaces it in one rename (RENAME_EXCHANGE) once complete, so a
// daemon killed mid-copy leaves the volume empty, never half-filled (the leftover is removed when
// the store opens). inPlace fills _data itself: for a volume some running container already has
// mounted, or one mounted from options, which must keep their directory. A volume that is not
// empty is left alone.
func (s *Store) Fill(v *Volume, inPlace bool, fill func(dir string) error) error {
	data := s.Path(v.Name)
	if !isEmptyDir(data) {
		return nil
	}
	if inPlace || v.Options["type"] != "" {
		return fill(data)
	}
	staging, err := os.MkdirTemp(filepath.Dir(data), fillPrefix)
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging) // after the exchange: the empty directory _data was
	// It starts as _data is, for a fill that copies nothing (nothing at that path in the image).
	if fi, err := os.Stat(data); err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		os.Chown(staging, int(st.Uid), int(st.Gid))
		os.Chmod(staging, fi.Mode().Perm())
	}
	if err := fill(staging); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !isEmptyDir(data) {
		return nil // another container filled it meanwhile
	}
	return unix.Renameat2(unix.AT_FDCWD, staging, unix.AT_FDCWD, data, unix.RENAME_EXCHANGE)
}

func isEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}

// Path is where a volume's data lives on the host.
func (s *Store) Path(name string) string { return filepath.Join(s.root, name, "_data") }

// NewName is a random name for an anonymous volume, as Docker's (64 hex digits).
func NewName() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Create makes a volume, or returns the existing one of that name (created reports which). An
// existing volume given other options is refused, as dockerd does.
func (s *Store) Create(name, driver string, labels, opts map[string]string) (v *Volume, created bool, err error) {
	if driver == "" {
		driver = DefaultDriver
	}
	if driver != DefaultDriver {
		return nil, false, errdefs.NotFound(fmt.Errorf("error looking up volume plugin %s: plugin %q not found", driver, driver))
	}
	if name == "" {
		name = NewName()
	}
	if err := ValidateName(name); err != nil {
		return nil, false, err
	}
	if err := validateOpts(opts); err != nil {
		return nil, false, errdefs.InvalidArgument(fmt.Errorf("create %s: %w", name, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, err := s.Get(name); err == nil {
		if len(opts) > 0 && !sameOpts(old.Options, opts) {
			return nil, false, errdefs.Conflict(fmt.Errorf("create %s: volume already exists with different options", name))
		}
		return old, false, nil
	}
	if labels == nil {
		labels = map[string]string{}
	}
	if opts == nil {
		opts = map[string]string{}
	}
	v = &Volume{Name: name, Driver: driver, Labels: labels, Options: opts, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	tmp := filepath.Join(s.root, ".tmp-"+name)
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "_data"), 0o755); err != nil {
		return nil, false, err
	}
	dir := filepath.Join(s.root, name)
	os.RemoveAll(dir) // a directory without a record is a leftover
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return nil, false, err
	}
	b, _ := json.Marshal(v)
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketVolumes).Put([]byte(name), b) }); err != nil {
		os.RemoveAll(dir)
		return nil, false, err
	}
	return v, true, nil
}

var validOpts = map[string]bool{"type": true, "device": true, "o": true, "size": false}

func validateOpts(opts map[string]string) error {
	for k := range opts {
		if !validOpts[k] {
			return errdefs.InvalidArgument(fmt.Errorf("invalid option: %q", k))
		}
	}
	if opts["type"] != "" && opts["device"] == "" {
		return errdefs.InvalidArgument(errors.New(`missing required option: "device"`))
	}
	if opts["device"] != "" && opts["type"] == "" {
		return errdefs.InvalidArgument(errors.New(`missing required option: "type"`))
	}
	return nil
}

func sameOpts(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Get returns a volume's record.
func (s *Store) Get(name string) (*Volume, error) {
	var v *Volume
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVolumes).Get([]byte(name))
		if b == nil {
			return errdefs.NotFound(fmt.Errorf("get %s: no such volume", name))
		}
		v = &Volume{}
		return json.Unmarshal(b, v)
	})
	return v, err
}

// List returns every volume, by name.
func (s *Store) List() ([]*Volume, error) {
	var out []*Volume
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVolumes).ForEach(func(k, b []byte) error {
			v := &Volume{}
			if err := json.Unmarshal(b, v); err != nil {
				return err
			}
			out = append(out, v)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Mount makes a volume's data ready to be bound into a container: for a volume with a mount type
// (--opt type=tmpfs ...), the mount is made once, on first use, and kept until the volume is
// removed.
func (s *Store) Mount(v *Volume) (string, error) {
	p := s.Path(v.Name)
	if v.Options["type"] == "" {
		return p, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if mounted, _ := mountinfo.Mounted(p); mounted {
		return p, nil
	}
	data := v.Options["o"]
	var flags uintptr
	var keep []string
	for _, o := range strings.Split(data, ",") {
		switch o {
		case "ro":
			flags |= unix.MS_RDONLY
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "nodev":
			flags |= unix.MS_NODEV
		case "noexec":
			flags |= unix.MS_NOEXEC
		case "bind":
			flags |= unix.MS_BIND
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		case "":
		default:
			keep = append(keep, o)
		}
	}
	if err := unix.Mount(v.Options["device"], p, v.Options["type"], flags, strings.Join(keep, ",")); err != nil {
		return "", fmt.Errorf("error while mounting volume '%s': failed to mount local volume: mount %s:%s, data: %s: %w", p, v.Options["device"], p, data, err)
	}
	return p, nil
}

// Remove deletes a volume and its data. The caller has checked that no container uses it.
func (s *Store) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.Get(name); err != nil {
		return err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketVolumes).Delete([]byte(name)) }); err != nil {
		return err
	}
	dir := filepath.Join(s.root, name)
	unix.Unmount(filepath.Join(dir, "_data"), unix.MNT_DETACH)
	// Renamed first: a crash mid-removal leaves a hidden leftover, cleaned at the next start.
	gone := filepath.Join(s.root, ".rm-"+name)
	if err := os.Rename(dir, gone); err != nil {
		return os.RemoveAll(dir)
	}
	return os.RemoveAll(gone)
}

// Size is the disk usage of a volume's data.
func (s *Store) Size(name string) int64 {
	var n int64
	filepath.WalkDir(s.Path(name), func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
