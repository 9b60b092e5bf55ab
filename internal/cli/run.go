package cli

import (
	"errors"
	"fmt"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func runCmd(e *env) *cobra.Command {
	var (
		detach, rm, interactive, tty           bool
		detachKeys                             string
		name, workdir, user, entrypoint, hname string
		envs                                   []string
	)
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cfg := &ctypes.Config{Image: args[0], Cmd: args[1:], Env: envs, WorkingDir: workdir, User: user, Hostname: hname,
				AttachStdout: !detach, AttachStderr: !detach, AttachStdin: interactive && !detach,
				OpenStdin: interactive, StdinOnce: interactive && !detach, Tty: tty}
			host := &ctypes.HostConfig{AutoRemove: rm}
			if tty {
				h, w := e.terminalSize()
				host.ConsoleSize = [2]uint{h, w}
			}
			if cmd.Flags().Changed("entrypoint") {
				cfg.Entrypoint = []string{entrypoint}
			}
			created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: host, Name: name})
			if err != nil {
				return statusError{status: 125, err: errors.New(explain(err, e.host))}
			}
			if detach {
				if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
					return startFailure(err, e.host)
				}
				fmt.Fprintln(e.out, created.ID)
				return nil
			}
			return attachAndStart(ctx, e, c, created.ID, attachPlan{tty: tty, stdin: interactive, stdout: true, stderr: true,
				detachKeys: detachKeys, autoRemove: rm, sigProxy: true})
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&detach, "detach", "d", false, "Run container in background and print container ID")
	f.BoolVar(&rm, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	f.StringVar(&name, "name", "", "Assign a name to the container")
	f.StringArrayVarP(&envs, "env", "e", nil, "Set environment variables")
	f.StringVarP(&workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVar(&entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	f.StringVarP(&hname, "hostname", "h", "", "Container host name")
	f.BoolVarP(&interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVarP(&tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.Bool("help", false, "Print usage") // -h is --hostname here, as in docker
	return cmd
}
