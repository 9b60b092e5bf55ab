package cli

import (
	"errors"
	"fmt"

	"github.com/moby/moby/api/pkg/stdcopy"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func runCmd(e *env) *cobra.Command {
	var (
		detach, rm                             bool
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
				AttachStdout: !detach, AttachStderr: !detach}
			if cmd.Flags().Changed("entrypoint") {
				cfg.Entrypoint = []string{entrypoint}
			}
			created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: &ctypes.HostConfig{AutoRemove: rm}, Name: name})
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
			// As docker: attach first, then wait (for removal with --rm), then start.
			att, err := c.ContainerAttach(ctx, created.ID, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
			if err != nil {
				return statusError{status: 125, err: errors.New(explain(err, e.host))}
			}
			defer att.Close()
			cond := ctypes.WaitConditionNextExit
			if rm {
				cond = ctypes.WaitConditionRemoved
			}
			waited := c.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: cond})
			copied := make(chan struct{})
			go func() {
				stdcopy.StdCopy(e.out, e.errOut, att.Reader)
				close(copied)
			}()
			if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
				return startFailure(err, e.host)
			}
			select {
			case res := <-waited.Result:
				<-copied
				if res.StatusCode != 0 {
					return statusError{status: int(res.StatusCode)}
				}
				return nil
			case err := <-waited.Error:
				return statusError{status: 125, err: errors.New(explain(err, e.host))}
			}
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
	f.Bool("help", false, "Print usage") // -h is --hostname here, as in docker
	return cmd
}
