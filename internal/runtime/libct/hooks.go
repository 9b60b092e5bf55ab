package libct

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
// A hook that fails or outlives its timeout fails the operation.
func runHooks(ctx context.Context, kind string, hooks []specs.Hook, state OCIState) error {
	if len(hooks) == 0 {
		return nil
	}
	in, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		hctx := ctx
		var cancel context.CancelFunc = func() {}
		if h.Timeout != nil {
			if *h.Timeout <= 0 {
				return fmt.Errorf("%s hook %d: timeout must be positive", kind, i)
			}
			hctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		}
		cmd := exec.CommandContext(hctx, h.Path)
		if len(h.Args) > 0 {
			cmd.Args = h.Args
		}
		cmd.Env = h.Env
		cmd.Stdin = bytes.NewReader(in)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if err != nil {
			if hctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("%s hook %d (%s): timed out after %ds", kind, i, h.Path, *h.Timeout)
			}
			return fmt.Errorf("%s hook %d (%s): %w: %s", kind, i, h.Path, err, bytes.TrimSpace(out.Bytes()))
		}
	}
	return nil
}
