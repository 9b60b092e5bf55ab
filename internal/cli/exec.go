package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/berthproject/berth/internal/stream"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func execCmd(e *env) *cobra.Command {
	var (
		detach, interactive, tty, privileged bool
		envs, envFiles                       []string
		workdir, user, detachKeys            string
	)
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			fileEnv, err := readKVFiles(envFiles, os.LookupEnv)
			if err != nil {
				return statusError{status: 125, err: err}
			}
			if tty && interactive {
				if _, ok := e.terminalFd(); !ok {
					return statusError{status: 1, err: errors.New("the input device is not a TTY")}
				}
			}
			opts := client.ExecCreateOptions{
				User: user, Privileged: privileged, TTY: tty, AttachStdin: interactive && !detach,
				AttachStdout: !detach, AttachStderr: !detach, DetachKeys: detachKeys,
				Env: append(fileEnv, envs...), WorkingDir: workdir, Cmd: args[1:],
			}
			if tty {
				h, w := e.terminalSize()
				opts.ConsoleSize = client.ConsoleSize{Height: h, Width: w}
			}
			created, err := c.ExecCreate(ctx, args[0], opts)
			if err != nil {
				return statusError{status: 1, err: errors.New(explain(err, e.host))}
			}
			if detach {
				if _, err := c.ExecStart(ctx, created.ID, client.ExecStartOptions{Detach: true, TTY: tty}); err != nil {
					return statusError{status: 1, err: errors.New(explain(err, e.host))}
				}
				return nil
			}
			att, err := c.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: tty, ConsoleSize: opts.ConsoleSize})
			if err != nil {
				return statusError{status: 1, err: errors.New(explain(err, e.host))}
			}
			session := ioSession{e: e, tty: tty, stdin: interactive, detachKeys: detachKeys,
				resize: func(ctx context.Context, h, w uint) {
					c.ExecResize(ctx, created.ID, client.ExecResizeOptions{Height: h, Width: w})
				}}
			if err := session.run(ctx, att.HijackedResponse); err != nil {
				if errors.Is(err, stream.ErrDetached) {
					return nil
				}
				return statusError{status: 1, err: err}
			}
			res, err := c.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
			if err != nil {
				return statusError{status: 1, err: errors.New(explain(err, e.host))}
			}
			if res.ExitCode != 0 {
				return statusError{status: res.ExitCode}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&detach, "detach", "d", false, "Detached mode: run command in the background")
	f.BoolVarP(&interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVarP(&tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.BoolVar(&privileged, "privileged", false, "Give extended privileges to the command")
	f.StringArrayVarP(&envs, "env", "e", nil, "Set environment variables")
	f.StringArrayVar(&envFiles, "env-file", nil, "Read in a file of environment variables")
	f.StringVarP(&workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	f.StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

func attachCmd(e *env) *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			info, err := c.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
			if err != nil {
				return errors.New(explain(err, e.host))
			}
			ct := info.Container
			if ct.State == nil || !ct.State.Running {
				return errors.New("You cannot attach to a stopped container, start it first")
			}
			stdin := ct.Config.OpenStdin && !noStdin
			if stdin && ct.Config.Tty {
				if _, ok := e.terminalFd(); !ok {
					return errors.New("the input device is not a TTY")
				}
			}
			att, err := c.ContainerAttach(ctx, ct.ID, client.ContainerAttachOptions{Stream: true, Stdin: stdin,
				Stdout: true, Stderr: true, DetachKeys: detachKeys})
			if err != nil {
				return errors.New(explain(err, e.host))
			}
			waited := c.ContainerWait(ctx, ct.ID, client.ContainerWaitOptions{Condition: ctypes.WaitConditionNextExit})
			if sigProxy && !ct.Config.Tty {
				startSignalProxy(ctx, c).forwardTo(ct.ID)
			}
			session := ioSession{e: e, tty: ct.Config.Tty, stdin: stdin, detachKeys: detachKeys,
				resize: func(ctx context.Context, h, w uint) {
					c.ContainerResize(ctx, ct.ID, client.ContainerResizeOptions{Height: h, Width: w})
				}}
			if err := session.run(ctx, att.HijackedResponse); err != nil {
				// The detach keys end attach with docker's "read escape sequence", status 1.
				return statusError{status: 1, err: err}
			}
			return exitStatus(waited)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&noStdin, "no-stdin", false, "Do not attach STDIN")
	f.BoolVar(&sigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	f.StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// exitStatus turns a container's wait result into the command's exit status.
func exitStatus(waited client.ContainerWaitResult) error {
	select {
	case res := <-waited.Result:
		if res.StatusCode != 0 {
			return statusError{status: int(res.StatusCode)}
		}
		return nil
	case err := <-waited.Error:
		return statusError{status: 125, err: err}
	}
}

func startCmd(e *env) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !attach && !interactive {
				return forEachArg(e, args, func(c *client.Client, ref string) error {
					_, err := c.ContainerStart(cmd.Context(), ref, client.ContainerStartOptions{})
					return err
				})
			}
			if len(args) > 1 {
				return statusError{status: 1, err: errors.New("you cannot start and attach multiple containers at once")}
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			info, err := c.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
			if err != nil {
				return errors.New(explain(err, e.host))
			}
			ct := info.Container
			return attachAndStart(ctx, e, c, ct.ID, attachPlan{tty: ct.Config.Tty, stdin: interactive && ct.Config.OpenStdin, sigProxy: true,
				stdout: true, stderr: true, detachKeys: detachKeys})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	f.BoolVarP(&interactive, "interactive", "i", false, "Attach container's STDIN")
	f.StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// attachPlan is what run and start -a attach to.
type attachPlan struct {
	tty, stdin, stdout, stderr bool
	detachKeys                 string
	autoRemove                 bool         // wait for the removal (--rm), not just the exit
	sigProxy                   bool         // forward the signals the client gets (without a terminal)
	signals                    *signalProxy // the proxy, if started before the container was created
	command                    string
}

// attachAndStart is docker run's and start -a's sequence: attach first (so no output is
// missed), wait for the exit (or the removal, with --rm), start, stream, and return the exit
// status; a detach returns at once and leaves the container running.
func attachAndStart(ctx context.Context, e *env, c *client.Client, id string, p attachPlan) error {
	if p.stdin && p.tty {
		if _, ok := e.terminalFd(); !ok {
			return statusError{status: 1, err: errors.New("the input device is not a TTY")}
		}
	}
	var signals *signalProxy
	if p.sigProxy && !p.tty {
		if signals = p.signals; signals == nil {
			signals = startSignalProxy(ctx, c)
		}
		signals.forwardTo(id) // from now on, as docker's CLI forwards from the create
	}
	att, err := c.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: p.stdin,
		Stdout: p.stdout, Stderr: p.stderr, DetachKeys: p.detachKeys})
	if err != nil {
		return statusError{status: 125, err: errors.New(explain(err, e.host))}
	}
	cond := ctypes.WaitConditionNextExit
	if p.autoRemove {
		cond = ctypes.WaitConditionRemoved
	}
	waited := c.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
	session := ioSession{e: e, tty: p.tty, stdin: p.stdin, detachKeys: p.detachKeys,
		resize: func(ctx context.Context, h, w uint) {
			c.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: h, Width: w})
		}}
	if signals != nil {
		// Every signal caught before the start: the container may print (and its user signal
		// the client) before the start's answer arrives.
		<-signals.caught
	}
	streamed := make(chan error, 1)
	go func() { streamed <- session.run(ctx, att.HijackedResponse) }()
	if _, err := c.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		att.Close()
		return startFailure(err, e.host, p.command)
	}
	if err := <-streamed; errors.Is(err, stream.ErrDetached) {
		return nil
	} else if err != nil {
		fmt.Fprintln(e.errOut, err)
	}
	return exitStatus(waited)
}

// signalProxy forwards the signals the client receives to a container (docker's --sig-proxy).
// Asking Go's runtime for every signal takes milliseconds (a handshake with its signal thread
// for each of them), as would giving them back: run starts the proxy before it creates the
// container, so that this overlaps the create, and the proxy ends with the process.
type signalProxy struct {
	caught chan struct{} // closed once every signal is relayed to the proxy
	target chan string   // the container's id, once there is one
}

func startSignalProxy(ctx context.Context, c *client.Client) *signalProxy {
	p := &signalProxy{caught: make(chan struct{}), target: make(chan string, 1)}
	go p.run(ctx, c)
	return p
}

// forwardTo forwards the signals to come to container id (those caught: every one, once
// caught is closed).
func (p *signalProxy) forwardTo(id string) { p.target <- id }

func (p *signalProxy) run(ctx context.Context, c *client.Client) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch)
	close(p.caught)
	id := ""
	for {
		select {
		case id = <-p.target:
		case s := <-ch:
			sig, ok := s.(syscall.Signal)
			// Not the job-control and housekeeping ones (Go's runtime uses SIGURG).
			if !ok || sig == syscall.SIGCHLD || sig == syscall.SIGPIPE || sig == syscall.SIGURG || sig == syscall.SIGWINCH {
				continue
			}
			if id == "" {
				select {
				case id = <-p.target:
				default:
					// No container yet: the signal does what it would without the proxy (a
					// stop stops the client until it is continued), then is caught again.
					signal.Reset(sig)
					syscall.Kill(syscall.Getpid(), sig)
					signal.Notify(ch, sig)
					continue
				}
			}
			c.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: strconv.Itoa(int(sig))})
		}
	}
}
