package cli

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const dockerHubAuthKey = "https://index.docker.io/v1/"

// authKey is the config.json "auths" key of a registry host, as docker's.
func authKey(host string) string {
	if host == "" || host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" {
		return dockerHubAuthKey
	}
	return host
}

// credFiles are where credentials are read, in order: berth's own, then docker's.
func credFiles() []string {
	home, _ := os.UserHomeDir()
	var files []string
	if d := os.Getenv("BERTH_CONFIG"); d != "" {
		files = append(files, filepath.Join(d, "config.json"))
	} else {
		files = append(files, filepath.Join(home, ".berth", "config.json"))
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		files = append(files, filepath.Join(d, "config.json"))
	} else {
		files = append(files, filepath.Join(home, ".docker", "config.json"))
	}
	return files
}

type configFile struct {
	raw   map[string]json.RawMessage
	auths map[string]registry.AuthConfig
}

func readConfigFile(path string) (*configFile, error) {
	cf := &configFile{raw: map[string]json.RawMessage{}, auths: map[string]registry.AuthConfig{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cf, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &cf.raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if a, ok := cf.raw["auths"]; ok {
		json.Unmarshal(a, &cf.auths)
	}
	return cf, nil
}

func (cf *configFile) write(path string) error {
	a, err := json.Marshal(cf.auths)
	if err != nil {
		return err
	}
	cf.raw["auths"] = a
	b, err := json.MarshalIndent(cf.raw, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// credentials finds the stored login for a registry host.
func credentials(host string) (registry.AuthConfig, bool) {
	key := authKey(host)
	for _, p := range credFiles() {
		cf, err := readConfigFile(p)
		if err != nil {
			continue
		}
		for _, k := range []string{key, "https://" + key, "http://" + key} {
			if ac, ok := cf.auths[k]; ok {
				if ac.Auth != "" && ac.Username == "" {
					if b, err := base64.StdEncoding.DecodeString(ac.Auth); err == nil {
						ac.Username, ac.Password, _ = strings.Cut(string(b), ":")
					}
				}
				ac.Auth = ""
				ac.ServerAddress = key
				return ac, true
			}
		}
	}
	return registry.AuthConfig{}, false
}

// allCredentials are every stored login (berth's file first), for a build's base images.
func allCredentials() map[string]registry.AuthConfig {
	out := map[string]registry.AuthConfig{}
	for _, p := range credFiles() {
		cf, err := readConfigFile(p)
		if err != nil {
			continue
		}
		for k := range cf.auths {
			host := strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
			if k == dockerHubAuthKey {
				host = ""
			}
			if _, seen := out[k]; !seen {
				if ac, ok := credentials(host); ok {
					out[k] = ac
				}
			}
		}
	}
	return out
}

// encodedAuth is the X-Registry-Auth header for a registry host ("" without credentials).
func encodedAuth(host string) string {
	ac, ok := credentials(host)
	if !ok {
		return ""
	}
	s, _ := encodeAuthConfig(ac)
	return s
}

func encodeAuthConfig(ac registry.AuthConfig) (string, error) {
	b, err := json.Marshal(ac)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

func loginCmd(e *env) *cobra.Command {
	var username, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(args[0], "https://"), "http://"), "/")
			}
			if passwordStdin {
				if password != "" {
					return statusError{status: 1, err: errors.New("--password and --password-stdin are mutually exclusive")}
				}
				if username == "" {
					return statusError{status: 1, err: errors.New("Must provide --username with --password-stdin")}
				}
				line, err := bufio.NewReader(e.in).ReadString('\n')
				if err != nil && line == "" {
					return statusError{status: 1, err: err}
				}
				password = strings.TrimRight(line, "\r\n")
			}
			if username == "" || password == "" {
				return statusError{status: 1, err: errors.New("Error: Cannot perform an interactive login from a non TTY device")}
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			key := authKey(server)
			ac := registry.AuthConfig{Username: username, Password: password, ServerAddress: key}
			resp, err := c.RegistryLogin(cmd.Context(), client.RegistryLoginOptions{Username: username, Password: password, ServerAddress: key})
			if err != nil {
				return statusError{status: 1, err: errors.New(explain(err, e.host))}
			}
			if resp.Auth.IdentityToken != "" {
				ac.Password, ac.IdentityToken = "", resp.Auth.IdentityToken
			}
			path := credFiles()[0]
			cf, err := readConfigFile(path)
			if err != nil {
				return err
			}
			stored := registry.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte(ac.Username + ":" + ac.Password)), IdentityToken: ac.IdentityToken}
			cf.auths[key] = stored
			if err := cf.write(path); err != nil {
				return err
			}
			fmt.Fprintf(e.errOut, "WARNING! Your credentials are stored unencrypted in '%s'.\n", path)
			fmt.Fprintln(e.out, "Login Succeeded")
			return nil
		},
	}
	cmd.Flags().StringVarP(&username, "username", "u", "", "Username")
	cmd.Flags().StringVarP(&password, "password", "p", "", "Password or Personal Access Token (PAT)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "Take the Password or Personal Access Token (PAT) from stdin")
	cmd.SetFlagErrorFunc(flagError)
	return cmd
}

func logoutCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(args[0], "https://"), "http://"), "/")
			}
			key := authKey(server)
			path := credFiles()[0]
			cf, err := readConfigFile(path)
			if err != nil {
				return err
			}
			if _, ok := cf.auths[key]; !ok {
				fmt.Fprintf(e.out, "Not logged in to %s\n", key)
				return nil
			}
			fmt.Fprintf(e.out, "Removing login credentials for %s\n", key)
			delete(cf.auths, key)
			return cf.write(path)
		},
	}
}
