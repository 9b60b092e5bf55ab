package cli

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docker/go-units"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/spf13/pflag"
)

// containerOptions holds the flags docker run and docker create share, parsed as docker's CLI
// parses them (cli/command/container/opts.go): what it rejects here it rejects before any API
// call, and the rest is the daemon's to validate.
type containerOptions struct {
	flags *pflag.FlagSet

	attach                         listOpt
	env, labels                    listOpt
	envFiles, labelFiles           []string
	volumes, tmpfs, volumesFrom    []string
	mounts                         mountOpt
	capAdd, capDrop                []string
	ulimits                        ulimitOpt
	sysctls                        listOpt
	memory, memorySwap, shmSize    memBytes
	cpus                           nanoCPUs
	cpuShares, pidsLimit           int64
	privileged, readOnly, init, rm bool
	interactive, tty               bool
	network, restart, cidfile      string
	pidMode, ipcMode, utsMode      string
	stopSignal                     string
	logDriver                      string
	logOpts                        []string
	stopTimeout                    int
	hostname, domainname, user     string
	workdir, entrypoint            string
	detachKeys                     string // -i/-t/--detach-keys/--sig-proxy: wired up with stdin attach
	sigProxy                       bool
	name                           string
	detach                         bool // run only
	nets                           *netOptions
	health                         healthOptions
}

// healthOptions are the --health-* flags and --no-healthcheck.
type healthOptions struct {
	cmd                                           string
	interval, timeout, startPeriod, startInterval time.Duration
	retries                                       int
	disable                                       bool
}

// addContainerFlags registers the shared flags on f.
func addContainerFlags(f *pflag.FlagSet) *containerOptions {
	o := &containerOptions{flags: f}
	o.attach.validate = validateAttach
	o.env.validate = validateEnv
	o.labels.validate = validateLabel
	o.sysctls.validate = validateSysctl
	f.SetInterspersed(false)
	f.StringVar(&o.name, "name", "", "Assign a name to the container")
	f.VarP(&o.attach, "attach", "a", "Attach to STDIN, STDOUT or STDERR")
	f.VarP(&o.env, "env", "e", "Set environment variables")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "Read in a file of environment variables")
	f.VarP(&o.labels, "label", "l", "Set meta data on a container")
	f.StringArrayVar(&o.labelFiles, "label-file", nil, "Read in a line delimited file of labels")
	f.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	f.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	f.StringVar(&o.domainname, "domainname", "", "Container NIS domain name")
	f.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.BoolVar(&o.rm, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	f.BoolVar(&o.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	f.StringVar(&o.restart, "restart", "no", "Restart policy to apply when a container exits")
	f.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	f.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	f.Var(&o.sysctls, "sysctl", "Sysctl options")
	f.Var(&o.ulimits, "ulimit", "Ulimit options")
	f.StringArrayVar(&o.capAdd, "cap-add", nil, "Add Linux capabilities")
	f.StringArrayVar(&o.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to this container")
	f.StringVar(&o.network, "network", "default", "Connect a container to a network")
	f.StringVar(&o.network, "net", "default", "Connect a container to a network")
	f.MarkHidden("net")
	f.StringVar(&o.pidMode, "pid", "", "PID namespace to use")
	f.StringVar(&o.ipcMode, "ipc", "", "IPC mode to use")
	f.StringVar(&o.utsMode, "uts", "", "UTS namespace to use")
	f.MarkHidden("net")
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "Bind mount a volume")
	f.Var(&o.mounts, "mount", "Attach a filesystem mount to the container")
	f.StringArrayVar(&o.volumesFrom, "volumes-from", nil, "Mount volumes from the specified container(s)")
	f.StringArrayVar(&o.tmpfs, "tmpfs", nil, "Mount a tmpfs directory")
	f.StringVar(&o.cidfile, "cidfile", "", "Write the container ID to the file")
	f.VarP(&o.memory, "memory", "m", "Memory limit")
	f.Var(&o.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	o.memorySwap.allowUnlimited = true
	f.Var(&o.shmSize, "shm-size", "Size of /dev/shm")
	f.Var(&o.cpus, "cpus", "Number of CPUs")
	f.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	f.StringVar(&o.logDriver, "log-driver", "", "Logging driver for the container")
	f.StringArrayVar(&o.logOpts, "log-opt", nil, "Log driver options")
	f.BoolVar(&o.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	o.nets = addNetworkFlags(f)
	f.StringVar(&o.health.cmd, "health-cmd", "", "Command to run to check health")
	f.DurationVar(&o.health.interval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	f.IntVar(&o.health.retries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	f.DurationVar(&o.health.timeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	f.DurationVar(&o.health.startPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	f.DurationVar(&o.health.startInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	f.BoolVar(&o.health.disable, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
	f.Bool("help", false, "Print usage") // -h is --hostname, as in docker
	return o
}

// addRunFlags registers what only docker run has.
func (o *containerOptions) addRunFlags(f *pflag.FlagSet) {
	f.BoolVarP(&o.detach, "detach", "d", false, "Run container in background and print container ID")
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
}

// toConfig turns the flags and the IMAGE [COMMAND] [ARG...] arguments into the create request.
func (o *containerOptions) toConfig(args []string) (*ctypes.Config, *ctypes.HostConfig, error) {
	f := o.flags
	attachStdin, attachStdout, attachStderr := o.attach.has("stdin") || o.interactive, o.attach.has("stdout"), o.attach.has("stderr")
	if len(o.attach.values) == 0 {
		attachStdout, attachStderr = true, true
	}
	var binds []string
	volumes := map[string]struct{}{}
	for _, v := range o.volumes {
		src, err := parseVolumeSpec(v)
		if err != nil {
			return nil, nil, err
		}
		if src == "" {
			volumes[v] = struct{}{} // an anonymous volume
			continue
		}
		if strings.HasPrefix(src, ".") {
			// docker resolves a relative host path against the client's directory
			if abs, err := filepath.Abs(src); err == nil {
				v = abs + strings.TrimPrefix(v, src)
			}
		}
		binds = append(binds, v)
	}
	tmpfs := map[string]string{}
	for _, t := range o.tmpfs {
		k, v, _ := strings.Cut(t, ":")
		tmpfs[k] = v
	}
	env, err := readKVFiles(o.envFiles, os.LookupEnv)
	if err != nil {
		return nil, nil, err
	}
	env = append(env, o.env.values...)
	labelList, err := readKVFiles(o.labelFiles, nil)
	if err != nil {
		return nil, nil, err
	}
	labels := map[string]string{}
	for _, l := range append(labelList, o.labels.values...) {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	restart, err := parseRestartPolicy(o.restart)
	if err != nil {
		return nil, nil, err
	}
	var entrypoint []string
	if o.entrypoint != "" {
		entrypoint = []string{o.entrypoint}
	} else if f.Changed("entrypoint") {
		entrypoint = []string{""} // --entrypoint= resets the image's
	}
	var cmd []string
	if len(args) > 1 {
		cmd = args[1:]
	}
	sysctls := map[string]string{}
	for _, s := range o.sysctls.values {
		k, v, _ := strings.Cut(s, "=")
		sysctls[k] = v
	}
	capAdd, capDrop := effectiveCaps(o.capAdd, o.capDrop)
	cfg := &ctypes.Config{
		Hostname: o.hostname, Domainname: o.domainname, User: o.user, Tty: o.tty, OpenStdin: o.interactive,
		AttachStdin: attachStdin, AttachStdout: attachStdout, AttachStderr: attachStderr,
		Env: env, Cmd: cmd, Image: args[0], Volumes: volumes, WorkingDir: o.workdir, Entrypoint: entrypoint,
		Labels: labels, StopSignal: o.stopSignal,
	}
	if f.Changed("stop-timeout") {
		cfg.StopTimeout = &o.stopTimeout
	}
	if cfg.Healthcheck, err = o.health.config(); err != nil {
		return nil, nil, err
	}
	if cfg.OpenStdin && cfg.AttachStdin {
		cfg.StdinOnce = true
	}
	pids := o.pidsLimit
	host := &ctypes.HostConfig{
		Binds: binds, VolumesFrom: o.volumesFrom, ContainerIDFile: o.cidfile, AutoRemove: o.rm, Privileged: o.privileged,
		PidMode: ctypes.PidMode(o.pidMode), IpcMode: ctypes.IpcMode(o.ipcMode), UTSMode: ctypes.UTSMode(o.utsMode),
		NetworkMode: ctypes.NetworkMode(o.network), CapAdd: capAdd, CapDrop: capDrop, RestartPolicy: restart,
		ReadonlyRootfs: o.readOnly, ShmSize: o.shmSize.value, Tmpfs: tmpfs, Sysctls: sysctls, Mounts: o.mounts.values,
		Resources: ctypes.Resources{
			Memory: o.memory.value, MemorySwap: o.memorySwap.value, NanoCPUs: o.cpus.value,
			CPUShares: o.cpuShares, PidsLimit: &pids, Ulimits: o.ulimits.list(),
		},
	}
	if host.LogConfig, err = o.logConfig(); err != nil {
		return nil, nil, err
	}
	if o.rm && restart.Name != "" && restart.Name != ctypes.RestartPolicyDisabled {
		return nil, nil, errors.New("conflicting options: cannot specify both --restart and --rm")
	}
	if f.Changed("init") {
		host.Init = &o.init
	}
	if err := o.nets.apply(cfg, host); err != nil {
		return nil, nil, err
	}
	return cfg, host, nil
}

// logConfig is --log-driver with its --log-opt key=value pairs (a key alone is an empty value),
// as docker's CLI reads them.
func (o *containerOptions) logConfig() (ctypes.LogConfig, error) {
	lc := ctypes.LogConfig{Type: o.logDriver}
	if len(o.logOpts) == 0 {
		return lc, nil
	}
	if o.logDriver == "none" {
		return lc, errors.New("invalid logging opts for driver none")
	}
	lc.Config = map[string]string{}
	for _, kv := range o.logOpts {
		k, v, _ := strings.Cut(kv, "=")
		lc.Config[k] = v
	}
	return lc, nil
}

// config is the container's Healthcheck as docker's CLI builds it: nil without any flag (the
// image's applies), NONE for --no-healthcheck, else the flags given (zero: the image's or the
// default, merged by the daemon).
func (h *healthOptions) config() (*ctypes.HealthConfig, error) {
	given := h.cmd != "" || h.interval != 0 || h.timeout != 0 || h.startPeriod != 0 || h.retries != 0 || h.startInterval != 0
	if h.disable {
		if given {
			return nil, errors.New("--no-healthcheck conflicts with --health-* options")
		}
		return &ctypes.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !given {
		return nil, nil
	}
	// docker checks them in this order
	for _, v := range []struct {
		flag     string
		negative bool
	}{{"interval", h.interval < 0}, {"timeout", h.timeout < 0}, {"retries", h.retries < 0},
		{"start-period", h.startPeriod < 0}, {"start-interval", h.startInterval < 0}} {
		if v.negative {
			return nil, fmt.Errorf("--health-%s cannot be negative", v.flag)
		}
	}
	cfg := &ctypes.HealthConfig{Interval: h.interval, Timeout: h.timeout, StartPeriod: h.startPeriod,
		StartInterval: h.startInterval, Retries: h.retries}
	if h.cmd != "" {
		cfg.Test = []string{"CMD-SHELL", h.cmd}
	}
	return cfg, nil
}

// parseVolumeSpec checks -v as docker's CLI does (compose's volume spec parser) and returns its
// source: "" for an anonymous volume, a path for a bind, a name for a named volume.
func parseVolumeSpec(spec string) (string, error) {
	switch len(spec) {
	case 0:
		return "", errors.New("invalid empty volume spec")
	case 1, 2:
		return "", nil
	}
	parts := strings.Split(spec, ":")
	for i, p := range parts {
		if p == "" {
			return "", fmt.Errorf("invalid spec: %s: empty section between colons", spec)
		}
		if i == 3 {
			return "", fmt.Errorf("invalid spec: %s: too many colons", spec)
		}
	}
	if len(parts) == 1 {
		return "", nil
	}
	return parts[0], nil
}

// readKVFiles reads docker's env/label files: KEY=VALUE lines, # comments, blank lines; a bare
// KEY takes its value from lookup (the client's environment) when given one.
func readKVFiles(files []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan(); n++ {
			raw := sc.Bytes()
			if !utf8.Valid(raw) {
				return nil, fmt.Errorf("env file %s contains invalid utf8 bytes at line %d: %v", name, n, raw)
			}
			if n == 1 {
				raw = bytes.TrimPrefix(raw, []byte{0xEF, 0xBB, 0xBF})
			}
			line := strings.TrimLeftFunc(string(raw), unicode.IsSpace)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			key, value, hasValue := strings.Cut(line, "=")
			key = strings.TrimLeft(key, " \t")
			if strings.ContainsAny(key, " \t") {
				return nil, fmt.Errorf("poorly formatted environment: variable '%s' contains whitespaces", key)
			}
			if key == "" {
				return nil, fmt.Errorf("poorly formatted environment: no variable name on line '%s'", line)
			}
			switch {
			case hasValue:
				out = append(out, key+"="+value)
			case lookup != nil:
				if v, ok := lookup(strings.TrimSpace(line)); ok {
					out = append(out, strings.TrimSpace(line)+"="+v)
					continue
				}
				out = append(out, strings.TrimSpace(line))
			default:
				out = append(out, strings.TrimSpace(line))
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseRestartPolicy is docker's client-side parse; the daemon validates the policy's name.
func parseRestartPolicy(s string) (ctypes.RestartPolicy, error) {
	if s == "" {
		return ctypes.RestartPolicy{}, nil
	}
	name, count, hasColon := strings.Cut(s, ":")
	if hasColon && name == "" {
		return ctypes.RestartPolicy{}, errors.New("invalid restart policy format: no policy provided before colon")
	}
	p := ctypes.RestartPolicy{Name: ctypes.RestartPolicyMode(name)}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			return ctypes.RestartPolicy{}, errors.New("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	return p, nil
}

// effectiveCaps normalizes --cap-add/--cap-drop as docker's CLI does: upper case, CAP_ prefix,
// ALL alone when present, and a capability both added and dropped is added.
func effectiveCaps(add, drop []string) ([]string, []string) {
	norm := func(list []string) []string {
		var out []string
		for _, c := range list {
			c = strings.ToUpper(strings.TrimSpace(c))
			if c == "" {
				continue
			}
			if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		if slices.Contains(out, "ALL") {
			return []string{"ALL"}
		}
		sort.Strings(out)
		return out
	}
	a, d := norm(add), norm(drop)
	d = slices.DeleteFunc(d, func(c string) bool { return slices.Contains(a, c) })
	if len(d) == 0 {
		d = nil
	}
	return a, d
}

// listOpt is a repeatable flag whose every value is checked (and perhaps rewritten) as it is set.
type listOpt struct {
	values   []string
	validate func(string) (string, error)
}

func (l *listOpt) Set(v string) error {
	if l.validate != nil {
		var err error
		if v, err = l.validate(v); err != nil {
			return err
		}
	}
	l.values = append(l.values, v)
	return nil
}
func (l *listOpt) String() string { return "[" + strings.Join(l.values, " ") + "]" }
func (l *listOpt) Type() string   { return "list" }
func (l *listOpt) has(v string) bool {
	return slices.Contains(l.values, v)
}

func validateAttach(v string) (string, error) {
	s := strings.ToLower(v)
	if s == "stdin" || s == "stdout" || s == "stderr" {
		return s, nil
	}
	return v, errors.New("valid streams are STDIN, STDOUT and STDERR")
}

// validateEnv completes a bare NAME from the client's environment, as docker does.
func validateEnv(v string) (string, error) {
	k, _, hasValue := strings.Cut(v, "=")
	if k == "" {
		return "", errors.New("invalid environment variable: " + v)
	}
	if hasValue {
		return v, nil
	}
	if val, ok := os.LookupEnv(k); ok {
		return k + "=" + val, nil
	}
	return v, nil
}

func validateLabel(v string) (string, error) {
	k, _, _ := strings.Cut(v, "=")
	if strings.TrimSpace(k) == "" {
		return "", fmt.Errorf("invalid label '%s': empty name", v)
	}
	return v, nil
}

// validateSysctl allows what docker allows to be namespaced: IPC sysctls, net.* and fs.mqueue.*.
func validateSysctl(v string) (string, error) {
	k, _, ok := strings.Cut(v, "=")
	if ok && k != "" {
		switch k {
		case "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
			"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced":
			return v, nil
		}
		if strings.HasPrefix(k, "net.") || strings.HasPrefix(k, "fs.mqueue.") {
			return v, nil
		}
	}
	return "", fmt.Errorf("sysctl '%s' is not allowed", v)
}

// memBytes is a size flag (64m, 1g, bytes); memory-swap also takes -1 for unlimited.
type memBytes struct {
	value          int64
	allowUnlimited bool
}

func (m *memBytes) Set(v string) error {
	if m.allowUnlimited && v == "-1" {
		m.value = -1
		return nil
	}
	n, err := units.RAMInBytes(v)
	m.value = n
	return err
}
func (m *memBytes) String() string {
	if m.value <= 0 {
		return fmt.Sprint(m.value)
	}
	return units.BytesSize(float64(m.value))
}
func (m *memBytes) Type() string { return "bytes" }

// nanoCPUs is --cpus: a decimal number of CPUs held as billionths.
type nanoCPUs struct{ value int64 }

func (c *nanoCPUs) Set(v string) error {
	r, ok := new(big.Rat).SetString(v)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", v)
	}
	nano := r.Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return errors.New("value is too precise")
	}
	c.value = nano.Num().Int64()
	return nil
}
func (c *nanoCPUs) String() string {
	return big.NewRat(c.value, 1e9).FloatString(3)
}
func (c *nanoCPUs) Type() string { return "decimal" }

// ulimitOpt is --ulimit name=soft[:hard]; a later value for the same name replaces the earlier.
type ulimitOpt struct{ values map[string]*units.Ulimit }

func (u *ulimitOpt) Set(v string) error {
	l, err := units.ParseUlimit(v)
	if err != nil {
		return err
	}
	if u.values == nil {
		u.values = map[string]*units.Ulimit{}
	}
	u.values[l.Name] = l
	return nil
}
func (u *ulimitOpt) String() string {
	var out []string
	for _, l := range u.list() {
		out = append(out, l.String())
	}
	return "[" + strings.Join(out, " ") + "]"
}
func (u *ulimitOpt) Type() string { return "ulimit" }
func (u *ulimitOpt) list() []*ctypes.Ulimit {
	out := []*ctypes.Ulimit{}
	for _, l := range u.values {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// mountOpt is --mount: comma-separated key=value fields (CSV quoting allowed), docker's keys.
type mountOpt struct{ values []mount.Mount }

func (m *mountOpt) Set(value string) error {
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return err
	}
	mt := mount.Mount{Type: mount.TypeVolume}
	bindOpts := func() *mount.BindOptions {
		if mt.BindOptions == nil {
			mt.BindOptions = &mount.BindOptions{}
		}
		return mt.BindOptions
	}
	tmpfsOpts := func() *mount.TmpfsOptions {
		if mt.TmpfsOptions == nil {
			mt.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return mt.TmpfsOptions
	}
	volumeOpts := func() *mount.VolumeOptions {
		if mt.VolumeOptions == nil {
			mt.VolumeOptions = &mount.VolumeOptions{Labels: map[string]string{}}
		}
		if mt.VolumeOptions.DriverConfig == nil {
			mt.VolumeOptions.DriverConfig = &mount.Driver{}
		}
		return mt.VolumeOptions
	}
	for _, field := range fields {
		key, val, hasValue := strings.Cut(field, "=")
		if !hasValue {
			switch key {
			case "readonly", "ro":
				mt.ReadOnly = true
			case "volume-nocopy":
				volumeOpts().NoCopy = true
			case "bind-nonrecursive":
				bindOpts().NonRecursive = true
			default:
				return fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
			continue
		}
		switch key {
		case "type":
			mt.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			mt.Source = val
			if strings.HasPrefix(val, "./") || val == "." {
				if abs, err := filepath.Abs(val); err == nil {
					mt.Source = abs
				}
			}
		case "target", "dst", "destination":
			mt.Target = val
		case "readonly", "ro":
			if mt.ReadOnly, err = strconv.ParseBool(val); err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
		case "consistency":
			mt.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bindOpts().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-nonrecursive":
			if bindOpts().NonRecursive, err = strconv.ParseBool(val); err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
		case "bind-recursive":
			mode := val
			if b, err := strconv.ParseBool(val); err == nil { // true and false stand for enabled and disabled
				mode = map[bool]string{true: "enabled", false: "disabled"}[b]
			}
			switch mode {
			case "enabled": // the default
			case "disabled":
				bindOpts().NonRecursive = true
			case "writable":
				bindOpts().ReadOnlyNonRecursive = true
			case "readonly":
				bindOpts().ReadOnlyForceRecursive = true
			default:
				return fmt.Errorf(`invalid value for %s: %s (must be "enabled", "disabled", "writable", or "readonly")`, key, val)
			}
		case "volume-subpath":
			volumeOpts().Subpath = val
		case "volume-nocopy":
			if volumeOpts().NoCopy, err = strconv.ParseBool(val); err != nil {
				return fmt.Errorf("invalid value for volume-nocopy: %s", val)
			}
		case "volume-label":
			if k, v, _ := strings.Cut(val, "="); k != "" {
				volumeOpts().Labels[k] = v
			}
		case "volume-driver":
			volumeOpts().DriverConfig.Name = val
		case "volume-opt":
			d := volumeOpts().DriverConfig
			if d.Options == nil {
				d.Options = map[string]string{}
			}
			if k, v, _ := strings.Cut(val, "="); k != "" {
				d.Options[k] = v
			}
		case "tmpfs-size":
			n, err := units.RAMInBytes(val)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().Mode = os.FileMode(n)
		default:
			return fmt.Errorf("unexpected key '%s' in '%s'", key, field)
		}
	}
	if mt.Type == "" {
		return errors.New("type is required")
	}
	if mt.Target == "" {
		return errors.New("target is required")
	}
	if mt.VolumeOptions != nil && mt.Type != mount.TypeVolume {
		return fmt.Errorf("cannot mix 'volume-*' options with mount type '%s'", mt.Type)
	}
	if mt.BindOptions != nil && mt.Type != mount.TypeBind {
		return fmt.Errorf("cannot mix 'bind-*' options with mount type '%s'", mt.Type)
	}
	if mt.TmpfsOptions != nil && mt.Type != mount.TypeTmpfs {
		return fmt.Errorf("cannot mix 'tmpfs-*' options with mount type '%s'", mt.Type)
	}
	if o := mt.BindOptions; o != nil {
		if o.ReadOnlyNonRecursive && !mt.ReadOnly {
			return errors.New("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction")
		}
		if o.ReadOnlyForceRecursive {
			if !mt.ReadOnly {
				return errors.New("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction")
			}
			if o.Propagation != mount.PropagationRPrivate {
				return errors.New("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction")
			}
		}
	}
	m.values = append(m.values, mt)
	return nil
}
func (m *mountOpt) String() string {
	var out []string
	for _, v := range m.values {
		out = append(out, fmt.Sprintf("%s %s %s", v.Type, v.Source, v.Target))
	}
	return strings.Join(out, ", ")
}
func (m *mountOpt) Type() string { return "mount" }
