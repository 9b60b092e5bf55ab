package libct

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/runtime/initproc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidate(t *testing.T) {
	rootfs := t.TempDir()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	withoutNS := func(s *specs.Spec, typ specs.LinuxNamespaceType) {
		var keep []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != typ {
				keep = append(keep, ns)
			}
		}
		s.Linux.Namespaces = keep
	}
	idmap := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	cases := []struct {
		name   string
		rootfs string // "" means the valid rootfs
		mutate func(*specs.Spec)
		want   []string // substrings of the error; nil means valid
	}{
		{name: "default-spec"},
		{name: "no-root", mutate: func(s *specs.Spec) { s.Root = nil }, want: []string{"root.path"}},
		{name: "empty-root-path", mutate: func(s *specs.Spec) { s.Root.Path = "" }, want: []string{"root.path"}},
		{name: "missing-rootfs", rootfs: filepath.Join(rootfs, "nope"), want: []string{"does not exist"}},
		{name: "rootfs-is-file", rootfs: file, want: []string{"not a directory"}},
		{name: "no-process", mutate: func(s *specs.Spec) { s.Process = nil }, want: []string{"process is required"}},
		{name: "no-linux", mutate: func(s *specs.Spec) { s.Linux = nil }, want: []string{"linux section"}},
		{name: "time-namespace", mutate: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		}, want: []string{"time namespaces"}},
		{name: "unknown-namespace", mutate: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "foo"})
		}, want: []string{`unknown namespace type "foo"`}},
		{name: "namespace-twice", mutate: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, want: []string{"listed twice"}},
		{name: "namespace-relative-path", mutate: func(s *specs.Spec) {
			withoutNS(s, specs.NetworkNamespace)
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "proc/1/ns/net"})
		}, want: []string{"not absolute"}},
		{name: "namespace-absolute-path", mutate: func(s *specs.Spec) {
			withoutNS(s, specs.NetworkNamespace)
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"})
		}},
		{name: "mappings-without-userns", mutate: func(s *specs.Spec) {
			s.Linux.UIDMappings, s.Linux.GIDMappings = idmap, idmap
		}, want: []string{"without a new user namespace"}},
		{name: "userns-without-mappings", mutate: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, want: []string{"uidMappings and gidMappings"}},
		{name: "userns-uid-only", mutate: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = idmap
		}, want: []string{"uidMappings and gidMappings"}},
		{name: "userns-with-mappings", mutate: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings, s.Linux.GIDMappings = idmap, idmap
		}},
		{name: "hostname-without-uts", mutate: func(s *specs.Spec) { withoutNS(s, specs.UTSNamespace) },
			want: []string{"hostname", "UTS"}},
		{name: "domainname-without-uts", mutate: func(s *specs.Spec) {
			withoutNS(s, specs.UTSNamespace)
			s.Hostname, s.Domainname = "", "example.test"
		}, want: []string{"domainname", "UTS"}},
		{name: "no-hostname-no-uts", mutate: func(s *specs.Spec) { withoutNS(s, specs.UTSNamespace); s.Hostname = "" }},
		{name: "sysctl-ipc", mutate: func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"kernel.shmmni": "1", "fs.mqueue.msg_max": "5"}
		}},
		{name: "sysctl-ipc-host", mutate: func(s *specs.Spec) {
			withoutNS(s, specs.IPCNamespace)
			s.Linux.Sysctl = map[string]string{"kernel.shmmni": "1"}
		}, want: []string{"kernel.shmmni", "IPC"}},
		{name: "sysctl-mqueue-host", mutate: func(s *specs.Spec) {
			withoutNS(s, specs.IPCNamespace)
			s.Linux.Sysctl = map[string]string{"fs.mqueue.msg_max": "5"}
		}, want: []string{"fs.mqueue.msg_max"}},
		{name: "sysctl-net", mutate: func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"} }},
		{name: "sysctl-net-host", mutate: func(s *specs.Spec) {
			withoutNS(s, specs.NetworkNamespace)
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, want: []string{"net.ipv4.ip_forward", "network"}},
		{name: "sysctl-hostname", mutate: func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.hostname": "x"} }},
		{name: "sysctl-hostname-host", mutate: func(s *specs.Spec) {
			withoutNS(s, specs.UTSNamespace)
			s.Hostname = ""
			s.Linux.Sysctl = map[string]string{"kernel.hostname": "x"}
		}, want: []string{"kernel.hostname"}},
		{name: "sysctl-global", mutate: func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.panic": "1"} },
			want: []string{"kernel.panic"}},
		{name: "sysctl-path-traversal", mutate: func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel/../../x": "1"} },
			want: []string{"not a valid name"}},
		{name: "mount-relative-destination", mutate: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "relative/x", Type: "tmpfs", Source: "tmpfs"})
		}, want: []string{"relative/x", "not absolute"}},
		{name: "mount-idmap", mutate: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"bind", "idmap"}})
		}, want: []string{"idmap"}},
		{name: "mount-empty-option", mutate: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "tmpfs", Source: "tmpfs", Options: []string{""}})
		}, want: []string{"invalid mount option"}},
		{name: "device-relative", mutate: func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/x", Type: "c", Major: 1, Minor: 3}}
		}, want: []string{"dev/x", "not absolute"}},
		{name: "device-bad-type", mutate: func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z", Major: 1, Minor: 3}}
		}, want: []string{`invalid type "z"`}},
		{name: "device-ok", mutate: func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
		}},
		{name: "masked-relative", mutate: func(s *specs.Spec) { s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "proc/kcore") },
			want: []string{"proc/kcore"}},
		{name: "readonly-relative", mutate: func(s *specs.Spec) { s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "proc/sys") },
			want: []string{"proc/sys"}},
		{name: "bad-propagation", mutate: func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" },
			want: []string{"sideways"}},
		{name: "good-propagation", mutate: func(s *specs.Spec) { s.Linux.RootfsPropagation = "rslave" }},
		{name: "intel-rdt", mutate: func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{} }, want: []string{"intelRdt"}},
		{name: "empty-args", mutate: func(s *specs.Spec) { s.Process.Args = nil }, want: []string{"args"}},
		{name: "relative-cwd", mutate: func(s *specs.Spec) { s.Process.Cwd = "tmp" }, want: []string{"cwd"}},
		{name: "empty-cwd", mutate: func(s *specs.Spec) { s.Process.Cwd = "" }, want: []string{"cwd"}},
		{name: "unknown-rlimit", mutate: func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_FOO", Soft: 1, Hard: 1})
		}, want: []string{"RLIMIT_FOO"}},
		{name: "rlimit-soft-above-hard", mutate: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2048, Hard: 1024}}
		}, want: []string{"RLIMIT_NOFILE", "soft"}},
		{name: "unknown-capability", mutate: func(s *specs.Spec) {
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_NOT_A_CAP")
		}, want: []string{"CAP_NOT_A_CAP"}},
		{name: "env-without-equals", mutate: func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "JUSTAKEY") },
			want: []string{"JUSTAKEY"}},
		{name: "io-priority", mutate: func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{} },
			want: []string{"ioPriority"}},
		{name: "scheduler", mutate: func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{} },
			want: []string{"scheduler"}},
		{name: "several-errors-all-reported", mutate: func(s *specs.Spec) {
			s.Process.Args = nil
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "foo"})
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "rel", Type: "tmpfs"})
		}, want: []string{"args", `"foo"`, `"rel"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSpec()
			if tc.mutate != nil {
				tc.mutate(s)
			}
			r := rootfs
			if tc.rootfs != "" {
				r = tc.rootfs
			}
			err := Validate(s, r)
			if tc.want == nil {
				if err != nil {
					t.Errorf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want an error mentioning %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestValidateID(t *testing.T) {
	valid := []string{"a", "abc", "A-Z_0.9+x", ".a", "a..b", "...", "-", strings.Repeat("x", 1024),
		"f81d4fae7dec11d0a76500a0c91e6bf6"}
	invalid := []string{"", ".", "..", "../x", "x/..", "a/b", "/abs", "x y", "a\nb", "a\tb", "a:b", "a\x00b",
		"é", "a*", "$(id)", strings.Repeat("x", 1025)}
	for _, id := range valid {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v, want nil", id, err)
		}
	}
	for _, id := range invalid {
		err := ValidateID(id)
		if err == nil {
			t.Errorf("ValidateID(%q) = nil, want an error", id)
		} else if !strings.Contains(err.Error(), "invalid container id") {
			t.Errorf("ValidateID(%q) = %q, want \"invalid container id\"", id, err)
		}
	}
}

// TestParseMountOptions checks, through the exported initproc.ParseMountOptions that Validate
// uses, which option lists are accepted and how bind/rbind are reported. The flag-level table
// lives with the function, in internal/runtime/initproc/mountopts_test.go.
func TestParseMountOptions(t *testing.T) {
	cases := []struct {
		opts      []string
		bind, rec bool
		err       string
	}{
		{opts: nil},
		{opts: []string{"defaults"}},
		{opts: []string{"ro", "nosuid", "nodev", "noexec", "mode=755", "size=1m"}},
		{opts: []string{"bind"}, bind: true},
		{opts: []string{"rbind", "ro"}, bind: true, rec: true},
		{opts: []string{"rprivate", "rro", "rnosuid"}},
		{opts: []string{"idmap"}, err: "id-mapped"},
		{opts: []string{"bind", "ridmap"}, err: "id-mapped"},
		{opts: []string{"ro", ""}, err: "invalid mount option"},
		{opts: []string{"size=1\x00,mode=777"}, err: "invalid mount option"},
	}
	for _, tc := range cases {
		_, bind, rec, err := initproc.ParseMountOptions(tc.opts)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want one mentioning %q", tc.opts, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.opts, err)
			continue
		}
		if bind != tc.bind || rec != tc.rec {
			t.Errorf("%q: bind, rec = %v, %v; want %v, %v", tc.opts, bind, rec, tc.bind, tc.rec)
		}
	}
	// Every option the runtime advertises (as `features` reports it) parses without error.
	for _, name := range initproc.MountOptionNames() {
		if _, _, _, err := initproc.ParseMountOptions([]string{name}); err != nil {
			t.Errorf("advertised option %q: %v", name, err)
		}
	}
}
