package cli

import (
	"errors"
	"fmt"
	"os"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func runCmd(e *env) *cobra.Command {
	var o *containerOptions
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, hostCfg, err := o.toConfig(args)
			if err != nil {
				return usageStatus("run", err)
			}
			detach, rm := o.detach, o.rm
			if detach {
				if len(o.attach.values) > 0 {
					return usageStatus("run", errors.New("conflicting options: cannot specify both --attach and --detach"))
				}
				cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr, cfg.StdinOnce = false, false, false, false
			}
			if cfg.Tty && cfg.AttachStdin {
				if _, ok := e.terminalFd(); !ok {
					return statusError{status: 1, err: errors.New("the input device is not a TTY")}
				}
			}
			if cfg.Tty {
				h, w := e.terminalSize()
				hostCfg.ConsoleSize = [2]uint{h, w}
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var signals *signalProxy
			if !detach && o.sigProxy && !cfg.Tty {
				signals = startSignalProxy(ctx, c) // while the container is created: see signalProxy
			}
			created, err := createContainer(e, cmd, cfg, hostCfg, o.name, o.nets.networking)
			if err != nil {
				return usageStatus("run", err)
			}
			if detach {
				if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
					return startFailure(err, e.host, "run")
				}
				fmt.Fprintln(e.out, created.ID)
				return nil
			}
			return attachAndStart(ctx, e, c, created.ID, attachPlan{tty: cfg.Tty, stdin: cfg.AttachStdin,
				stdout: cfg.AttachStdout, stderr: cfg.AttachStderr, detachKeys: o.detachKeys, autoRemove: rm, sigProxy: o.sigProxy, signals: signals, command: "run"})
		},
	}
	o = addContainerFlags(cmd.Flags())
	o.addRunFlags(cmd.Flags())
	addPullFlag(cmd)
	cmd.SetFlagErrorFunc(flagError)
	return cmd
}

// createCmd is docker create: the flags of run, and the new container's ID on stdout.
func createCmd(e *env) *cobra.Command {
	var o *containerOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, hostCfg, err := o.toConfig(args)
			if err != nil {
				return usageStatus("create", err)
			}
			created, err := createContainer(e, cmd, cfg, hostCfg, o.name, o.nets.networking)
			if err != nil {
				return statusError{status: 1, err: err} // as docker create: exit 1, no usage hint
			}
			fmt.Fprintln(e.out, created.ID)
			return nil
		},
	}
	o = addContainerFlags(cmd.Flags())
	addPullFlag(cmd)
	cmd.SetFlagErrorFunc(flagError)
	return cmd
}

// createContainer writes --cidfile around the create call as docker does: refused if the file
// exists, created before the call, filled with the ID after it, removed if the create failed.
// API errors come back explained ("Error response from daemon: ...").
func createContainer(e *env, cmd *cobra.Command, cfg *ctypes.Config, hostCfg *ctypes.HostConfig, name string, nc *network.NetworkingConfig) (client.ContainerCreateResult, error) {
	var none client.ContainerCreateResult
	c, err := e.client()
	if err != nil {
		return none, err
	}
	var cid *os.File
	if p := hostCfg.ContainerIDFile; p != "" {
		if _, err := os.Stat(p); err == nil {
			return none, fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", p)
		}
		if cid, err = os.Create(p); err != nil {
			return none, fmt.Errorf("failed to create the container ID file: %w", err)
		}
		defer cid.Close()
	}
	created, err := createPulling(cmd, e, c, client.ContainerCreateOptions{Config: cfg, HostConfig: hostCfg, NetworkingConfig: nc, Name: name})
	if err != nil {
		if cid != nil {
			os.Remove(hostCfg.ContainerIDFile)
		}
		return none, errors.New(explain(err, e.host))
	}
	for _, w := range created.Warnings {
		fmt.Fprintln(e.errOut, "WARNING:", w)
	}
	if cid != nil {
		if _, err := cid.WriteString(created.ID); err != nil {
			return created, fmt.Errorf("failed to write the container ID to the file: %w", err)
		}
	}
	return created, nil
}

// usageStatus words a refused run/create as docker does: exit 125 and a pointer to --help.
func usageStatus(command string, err error) error {
	return statusError{status: 125, err: fmt.Errorf("berth: %s\n\nRun 'berth %s --help' for more information", err, command)}
}

// flagError is docker's answer to a bad flag value: the error, the usage line, exit 125.
func flagError(cmd *cobra.Command, err error) error {
	return statusError{status: 125, err: fmt.Errorf("%s\n\nUsage:  berth %s\n\nRun 'berth %s --help' for more information", err, cmd.Use, cmd.Name())}
}
