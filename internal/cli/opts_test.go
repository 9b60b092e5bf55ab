package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/spf13/pflag"
)

// parse runs the flags and arguments through a fresh flag set, as a command would.
func parse(t *testing.T, args ...string) (*ctypes.Config, *ctypes.HostConfig, error) {
	t.Helper()
	f := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o := addContainerFlags(f)
	if err := f.Parse(args); err != nil {
		return nil, nil, err
	}
	return o.toConfig(f.Args())
}

func TestToConfigAsDockerSendsIt(t *testing.T) {
	t.Setenv("FROM_CLIENT", "yes")
	cfg, h, err := parse(t, "-e", "A=1", "-e", "FROM_CLIENT", "-l", "k=v", "-l", "bare", "-v", "/src:/dst:ro", "-v", "/anon",
		"--tmpfs", "/t:size=1m", "--tmpfs", "/u", "-m", "64m", "--memory-swap", "-1", "--cpus", "1.5", "--pids-limit", "-1",
		"--cap-add", "net_admin", "--cap-add", "sys_time", "--cap-drop", "NET_ADMIN", "--cap-drop", "chown", "--network", "none",
		"--stop-timeout", "3", "--init", "--restart", "on-failure:2", "-a", "STDOUT", "--shm-size", "1g", "--ulimit", "nofile=10:20",
		"--entrypoint", "", "busybox", "sh", "-c", "true")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Image != "busybox" || !reflect.DeepEqual(cfg.Cmd, []string{"sh", "-c", "true"}) || !reflect.DeepEqual(cfg.Entrypoint, []string{""}) {
		t.Errorf("image/cmd/entrypoint: %q %q %q", cfg.Image, cfg.Cmd, cfg.Entrypoint)
	}
	if !reflect.DeepEqual(cfg.Env, []string{"A=1", "FROM_CLIENT=yes"}) || !reflect.DeepEqual(cfg.Labels, map[string]string{"k": "v", "bare": ""}) {
		t.Errorf("env %q labels %v", cfg.Env, cfg.Labels)
	}
	if !cfg.AttachStdout || cfg.AttachStderr || cfg.AttachStdin || *cfg.StopTimeout != 3 {
		t.Errorf("attach %v %v %v, stop timeout %v", cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr, cfg.StopTimeout)
	}
	if !reflect.DeepEqual(h.Binds, []string{"/src:/dst:ro"}) || !reflect.DeepEqual(cfg.Volumes, map[string]struct{}{"/anon": {}}) {
		t.Errorf("binds %q volumes %v", h.Binds, cfg.Volumes)
	}
	if !reflect.DeepEqual(h.Tmpfs, map[string]string{"/t": "size=1m", "/u": ""}) {
		t.Errorf("tmpfs %v", h.Tmpfs)
	}
	if h.Memory != 64<<20 || h.MemorySwap != -1 || h.NanoCPUs != 1500000000 || *h.PidsLimit != -1 || h.ShmSize != 1<<30 {
		t.Errorf("resources: memory %d swap %d cpus %d pids %d shm %d", h.Memory, h.MemorySwap, h.NanoCPUs, *h.PidsLimit, h.ShmSize)
	}
	// Docker's CLI: CAP_ prefix, upper case, sorted; added wins over dropped.
	if !reflect.DeepEqual(h.CapAdd, []string{"CAP_NET_ADMIN", "CAP_SYS_TIME"}) || !reflect.DeepEqual(h.CapDrop, []string{"CAP_CHOWN"}) {
		t.Errorf("caps add %q drop %q", h.CapAdd, h.CapDrop)
	}
	if h.NetworkMode != "none" || h.Init == nil || !*h.Init || h.RestartPolicy != (ctypes.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}) {
		t.Errorf("network %q init %v restart %+v", h.NetworkMode, h.Init, h.RestartPolicy)
	}
	if len(h.Ulimits) != 1 || h.Ulimits[0].Name != "nofile" || h.Ulimits[0].Soft != 10 || h.Ulimits[0].Hard != 20 {
		t.Errorf("ulimits %v", h.Ulimits)
	}
}

func TestToConfigDefaults(t *testing.T) {
	cfg, h, err := parse(t, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.AttachStdout || !cfg.AttachStderr || cfg.Entrypoint != nil || cfg.Cmd != nil || cfg.StopTimeout != nil {
		t.Errorf("config %+v", cfg)
	}
	if h.NetworkMode != "default" || h.RestartPolicy.Name != "no" || h.Init != nil || *h.PidsLimit != 0 || h.CapAdd != nil {
		t.Errorf("host config %+v", h)
	}
}

func TestMountFlag(t *testing.T) {
	var m mountOpt
	for _, v := range []string{
		"type=bind,source=/a,target=/b,readonly,bind-propagation=rslave",
		"type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770",
		`"type=bind","src=/with,comma",dst=/c,ro=false`,
		"src=vol,dst=/v",
		"type=bind,src=/a,dst=/d,bind-recursive=disabled",
		"type=bind,src=/a,dst=/e,ro,bind-recursive=writable",
		"type=bind,src=/a,dst=/f,ro,bind-propagation=rprivate,bind-recursive=readonly",
		"type=volume,src=v,dst=/g,volume-subpath=a/b,volume-nocopy,volume-opt=o=size=1m",
	} {
		if err := m.Set(v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	want := []mount.Mount{
		{Type: mount.TypeBind, Source: "/a", Target: "/b", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: mount.PropagationRSlave}},
		{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 64 << 20, Mode: 0o1770}},
		{Type: mount.TypeBind, Source: "/with,comma", Target: "/c"},
		{Type: mount.TypeVolume, Source: "vol", Target: "/v"},
		{Type: mount.TypeBind, Source: "/a", Target: "/d", BindOptions: &mount.BindOptions{NonRecursive: true}},
		{Type: mount.TypeBind, Source: "/a", Target: "/e", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyNonRecursive: true}},
		{Type: mount.TypeBind, Source: "/a", Target: "/f", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: mount.PropagationRPrivate, ReadOnlyForceRecursive: true}},
		{Type: mount.TypeVolume, Source: "v", Target: "/g", VolumeOptions: &mount.VolumeOptions{Subpath: "a/b", NoCopy: true,
			Labels: map[string]string{}, DriverConfig: &mount.Driver{Options: map[string]string{"o": "size=1m"}}}},
	}
	if !reflect.DeepEqual(m.values, want) {
		t.Errorf("mounts\n got %+v\nwant %+v", m.values, want)
	}
	for v, msg := range map[string]string{
		"type=bind":                                          "target is required",
		"bogus":                                              "invalid field 'bogus' must be a key=value pair",
		"type=bind,src=/a,dst=/b,readonly=maybe":             "invalid value for readonly: maybe",
		"type=tmpfs,dst=/t,tmpfs-size=abc":                   "invalid value for tmpfs-size: abc",
		"type=volume,dst=/x,bind-propagation=rslave":         "cannot mix 'bind-*' options with mount type 'volume'",
		"type=bind,dst=/x,color=red":                         "unexpected key 'color' in 'color=red'",
		"type=bind,src=/a,dst=/x,bind-recursive=no":          `invalid value for bind-recursive: no (must be "enabled", "disabled", "writable", or "readonly")`,
		"type=bind,src=/a,dst=/x,bind-recursive=writable":    "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
		"type=bind,src=/a,dst=/x,bind-recursive=readonly":    "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction",
		"type=bind,src=/a,dst=/x,ro,bind-recursive=readonly": "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
		"type=bind,src=/a,dst=/x,volume-subpath=s":           "cannot mix 'volume-*' options with mount type 'bind'",
		"type=volume,src=v,dst=/x,volume-subpath":            "invalid field 'volume-subpath' must be a key=value pair",
	} {
		if err := m.Set(v); err == nil || err.Error() != msg {
			t.Errorf("%s: %v, want %q", v, err, msg)
		}
	}
}

func TestFlagValueErrorsAreDockers(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", "foo"}, `invalid argument "foo" for "-m, --memory" flag: invalid size: 'foo'`},
		{[]string{"-m", "1x"}, `invalid argument "1x" for "-m, --memory" flag: invalid suffix: 'x'`},
		{[]string{"--cpus", "0.0000000001"}, `invalid argument "0.0000000001" for "--cpus" flag: value is too precise`},
		{[]string{"-a", "nope"}, `invalid argument "nope" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`},
		{[]string{"--sysctl", "kernel.hostname=x"}, `invalid argument "kernel.hostname=x" for "--sysctl" flag: sysctl 'kernel.hostname=x' is not allowed`},
		{[]string{"-l", "=v"}, `invalid argument "=v" for "-l, --label" flag: invalid label '=v': empty name`},
		{[]string{"-e", "=v"}, `invalid argument "=v" for "-e, --env" flag: invalid environment variable: =v`},
	} {
		_, _, err := parse(t, append(tc.args, "busybox")...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v\nwant %s", tc.args, err, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-v", ":/x"}, "invalid spec: :/x: empty section between colons"},
		{[]string{"-v", "/a:/b:ro:x"}, "invalid spec: /a:/b:ro:x: too many colons"},
		{[]string{"--restart", ":3"}, "invalid restart policy format: no policy provided before colon"},
		{[]string{"--restart", "on-failure:x"}, "invalid restart policy format: maximum retry count must be an integer"},
		{[]string{"--rm", "--restart", "always"}, "conflicting options: cannot specify both --restart and --rm"},
	} {
		_, _, err := parse(t, append(tc.args, "busybox")...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v\nwant %s", tc.args, err, tc.want)
		}
	}
}

func TestEnvAndLabelFiles(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "env")
	os.WriteFile(env, []byte("\xEF\xBB\xBFA=1\n# comment\n\n   B= spaced value \nFROM_CLIENT\nUNSET_HERE\n"), 0o644)
	t.Setenv("FROM_CLIENT", "c")
	cfg, _, err := parse(t, "--env-file", env, "-e", "A=2", "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A=1", "B= spaced value ", "FROM_CLIENT=c", "UNSET_HERE", "A=2"}; !reflect.DeepEqual(cfg.Env, want) {
		t.Errorf("env %q, want %q", cfg.Env, want)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("MY VAR=1\n"), 0o644)
	if _, _, err := parse(t, "--env-file", bad, "busybox"); err == nil || err.Error() != "poorly formatted environment: variable 'MY VAR' contains whitespaces" {
		t.Errorf("bad env file: %v", err)
	}
	labels := filepath.Join(dir, "labels")
	os.WriteFile(labels, []byte("a=1\nb\n"), 0o644)
	cfg, _, err = parse(t, "--label-file", labels, "-l", "a=2", "busybox")
	if err != nil || !reflect.DeepEqual(cfg.Labels, map[string]string{"a": "2", "b": ""}) {
		t.Errorf("labels %v %v", cfg.Labels, err)
	}
	if _, _, err := parse(t, "--env-file", filepath.Join(dir, "none"), "busybox"); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("missing env file: %v", err)
	}
}

func TestHealthFlagsAsDockerSendsThem(t *testing.T) {
	cfg, _, err := parse(t, "busybox")
	if err != nil || cfg.Healthcheck != nil {
		t.Errorf("no flag: %+v %v", cfg.Healthcheck, err)
	}
	cfg, _, err = parse(t, "--health-cmd", "curl -f x", "--health-interval", "2s", "--health-timeout", "1s",
		"--health-start-period", "3s", "--health-start-interval", "100ms", "--health-retries", "4", "busybox")
	want := &ctypes.HealthConfig{Test: []string{"CMD-SHELL", "curl -f x"}, Interval: 2e9, Timeout: 1e9, StartPeriod: 3e9, StartInterval: 1e8, Retries: 4}
	if err != nil || !reflect.DeepEqual(cfg.Healthcheck, want) {
		t.Errorf("all flags: %+v %v", cfg.Healthcheck, err)
	}
	cfg, _, err = parse(t, "--health-retries", "5", "busybox") // no command: the image's
	if err != nil || cfg.Healthcheck == nil || cfg.Healthcheck.Test != nil || cfg.Healthcheck.Retries != 5 {
		t.Errorf("retries only: %+v %v", cfg.Healthcheck, err)
	}
	cfg, _, err = parse(t, "--no-healthcheck", "busybox")
	if err != nil || !reflect.DeepEqual(cfg.Healthcheck, &ctypes.HealthConfig{Test: []string{"NONE"}}) {
		t.Errorf("--no-healthcheck: %+v %v", cfg.Healthcheck, err)
	}
	for args, msg := range map[string]string{
		"--no-healthcheck --health-interval 1s":         "--no-healthcheck conflicts with --health-* options",
		"--health-timeout -1s":                          "--health-timeout cannot be negative",
		"--health-retries -2":                           "--health-retries cannot be negative",
		"--health-start-interval -1s --health-cmd x":    "--health-start-interval cannot be negative",
		"--health-start-period -1ms --health-retries 1": "--health-start-period cannot be negative",
	} {
		if _, _, err := parse(t, append(strings.Fields(args), "busybox")...); err == nil || err.Error() != msg {
			t.Errorf("%s: %v, want %q", args, err, msg)
		}
	}
}
