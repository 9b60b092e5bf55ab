package main

import (
	"fmt"
	"github.com/berthproject/berth/internal/runtime/initproc"
	"os"
	"path/filepath"

	"github.com/berthproject/berth/internal/runtime/caps"
	"github.com/berthproject/berth/internal/runtime/cgroup"
	"github.com/berthproject/berth/internal/runtime/libct"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/spf13/cobra"
)

func featuresCmd() *cobra.Command {
	return &cobra.Command{
		Use: "features", Short: "print what this runtime supports, as JSON", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, f := true, false
			v1, v2 := true, true
			f2 := features.Features{
				OCIVersionMin: "1.0.0",
				OCIVersionMax: specs.Version,
				Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
				MountOptions:  initproc.MountOptionNames(),
				Linux: &features.Linux{
					Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "user", "uts"},
					Capabilities: caps.Names(),
					Cgroup:       &features.Cgroup{V1: &v1, V2: &v2, Systemd: &f, SystemdUser: &f},
					Seccomp: &features.Seccomp{
						Enabled: &t,
						Actions: []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
							"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"},
						Operators: []string{"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
							"SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"},
						Archs: []string{"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"},
					},
					Apparmor:        &features.Apparmor{Enabled: &f},
					Selinux:         &features.Selinux{Enabled: &f},
					MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &f}},
				},
				Annotations: map[string]string{"io.github.berthproject.berth.cgroup.v2": fmt.Sprint(cgroup.V2())},
			}
			return printJSON(f2)
		},
	}
}

func specCmd() *cobra.Command {
	var bundle string
	cmd := &cobra.Command{
		Use: "spec", Short: "write a default config.json into the bundle", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := filepath.Join(bundle, "config.json")
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("file %s exists: remove it first", path)
			}
			b, err := libct.DefaultSpecJSON()
			if err != nil {
				return err
			}
			return os.WriteFile(path, b, 0o644)
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", ".", "bundle directory")
	return cmd
}
