package initproc

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	cases := []struct {
		name      string
		opts      []string
		flags     uintptr
		data      string
		bind, rec bool
		prop      []uintptr
		recSet    uint64
		recClear  uint64
		err       string
	}{
		{name: "none"},
		{name: "defaults", opts: []string{"defaults"}},
		{name: "ro-nosuid-nodev-noexec", opts: []string{"ro", "nosuid", "nodev", "noexec"},
			flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{name: "later-clears-earlier", opts: []string{"ro", "nosuid", "rw", "suid"}},
		{name: "clear-then-set", opts: []string{"rw", "ro"}, flags: unix.MS_RDONLY},
		{name: "bind", opts: []string{"bind"}, flags: unix.MS_BIND, bind: true},
		{name: "rbind", opts: []string{"rbind", "ro"}, flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, bind: true, rec: true},
		{name: "data", opts: []string{"nosuid", "mode=755", "size=65536k"}, flags: unix.MS_NOSUID, data: "mode=755,size=65536k"},
		{name: "atime", opts: []string{"noatime", "strictatime", "nostrictatime"}, flags: unix.MS_NOATIME},
		{name: "propagation", opts: []string{"rprivate", "shared"}, prop: []uintptr{unix.MS_PRIVATE | unix.MS_REC, unix.MS_SHARED}},
		{name: "recursive-attrs", opts: []string{"rro", "rnosuid", "rdev"},
			recSet: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, recClear: unix.MOUNT_ATTR_NODEV},
		{name: "idmap", opts: []string{"idmap"}, err: "id-mapped"},
		{name: "ridmap", opts: []string{"bind", "ridmap"}, err: "id-mapped"},
		{name: "empty", opts: []string{"ro", ""}, err: "invalid mount option"},
		{name: "nul", opts: []string{"size=1\x00,mode=777"}, err: "invalid mount option"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, bind, rec, err := ParseMountOptions(tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Flags != tc.flags {
				t.Errorf("flags = %#x, want %#x", o.Flags, tc.flags)
			}
			if o.Data != tc.data {
				t.Errorf("data = %q, want %q", o.Data, tc.data)
			}
			if bind != tc.bind || rec != tc.rec {
				t.Errorf("bind, rec = %v, %v; want %v, %v", bind, rec, tc.bind, tc.rec)
			}
			if !reflect.DeepEqual(o.Propagation, tc.prop) {
				t.Errorf("propagation = %#x, want %#x", o.Propagation, tc.prop)
			}
			if o.RecSet != tc.recSet || o.RecClear != tc.recClear {
				t.Errorf("recursive set/clear = %#x/%#x, want %#x/%#x", o.RecSet, o.RecClear, tc.recSet, tc.recClear)
			}
		})
	}
	// Every option MountOptionNames advertises (as `features` reports it) parses without error.
	for _, name := range MountOptionNames() {
		if _, _, _, err := ParseMountOptions([]string{name}); err != nil {
			t.Errorf("advertised option %q: %v", name, err)
		}
	}
}
