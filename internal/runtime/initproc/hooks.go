package initproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runHooks runs each hook with the container state on its stdin, as the OCI spec requires.
// A hook that fails or outlives its timeout fails the operation and the hooks after it are skipped.
func RunHooks(ctx context.Context, kind string, hooks []specs.Hook, state OCIState) error {
	in, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(ctx, kind, i, h, in); err != nil {
			return err
		}
	}
	return nil
}

// runAllHooks is for poststart and poststop, where a failing hook is only a warning and the
// remaining hooks still run.
func RunAllHooks(ctx context.Context, kind string, hooks []specs.Hook, state OCIState) []error {
	in, err := json.Marshal(state)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for i, h := range hooks {
		if err := runHook(ctx, kind, i, h, in); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func runHook(ctx context.Context, kind string, i int, h specs.Hook, in []byte) error {
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("%s hook %d: timeout must be positive", kind, i)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%s hook %d (%s): timed out after %ds", kind, i, h.Path, *h.Timeout)
		}
		return fmt.Errorf("%s hook %d (%s): %w: %s", kind, i, h.Path, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}
