package build

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/build/buildctx"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func TestExposedPorts(t *testing.T) {
	id := func(s string) (string, error) { return s, nil }
	got, err := exposedPorts([]string{"80", "53/UDP", "8000-8002/tcp"}, id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "80/tcp 53/udp 8000/tcp 8001/tcp 8002/tcp" {
		t.Errorf("got %v", got)
	}
	for _, bad := range []string{"x", "80/icmp", "9-3", "70000"} {
		if _, err := exposedPorts([]string{bad}, id); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestOrderedOutput(t *testing.T) {
	var out bytes.Buffer
	o := newOrderedOutput(&out, 3)
	o.slot(2).Write([]byte("c"))
	o.slot(1).Write([]byte("b"))
	o.slot(0).Write([]byte("a"))
	o.finish(1)
	if out.String() != "a" {
		t.Fatalf("a later stage was written before the first ended: %q", out.String())
	}
	o.finish(0) // stage 1 ended already: its output, then stage 2's so far
	o.slot(2).Write([]byte("d"))
	o.finish(2)
	if out.String() != "abcd" {
		t.Errorf("got %q", out.String())
	}
}

func tarOf(t *testing.T, entries ...tar.Header) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range entries {
		h := h
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len("data"))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte("data"))
		}
	}
	tw.Close()
	return &b
}

func TestReceiveContext(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("extraction sets owners: needs root")
	}
	tmp := t.TempDir()
	for _, bad := range []tar.Header{
		{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "a/../../escape", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "/abs", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "link", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"},
	} {
		if _, err := receiveContext(context.Background(), tmp, tarOf(t, bad)); err == nil || !strings.Contains(err.Error(), "invalid build context") {
			t.Errorf("%s: %v", bad.Name, err)
		}
	}
	c, err := receiveContext(context.Background(), tmp, tarOf(t,
		tar.Header{Name: "Dockerfile", Typeflag: tar.TypeReg, Mode: 0o644},
		tar.Header{Name: buildctx.SecretsDir + "/tok", Typeflag: tar.TypeReg, Mode: 0o600}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.remove()
	if _, err := os.Stat(filepath.Join(c.dir, buildctx.SecretsDir)); err == nil {
		t.Error("the secrets stayed in the context")
	}
	if b, err := os.ReadFile(filepath.Join(c.secrets, "tok")); err != nil || string(b) != "data" {
		t.Errorf("secret: %q %v", b, err)
	}
}

func TestWriteContextIgnores(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"Dockerfile", "keep.txt", "logs/a.log", "logs/keep.log", ".dockerignore"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
	}
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("logs/*.log\n!logs/keep.log\nDockerfile\n"), 0o644)
	patterns, err := buildctx.ReadIgnore(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := buildctx.Write(&b, dir, patterns, "Dockerfile", nil); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(&b)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if got := strings.Join(names, " "); got != ".dockerignore Dockerfile keep.txt logs/ logs/keep.log" {
		t.Errorf("context: %s", got)
	}
	os.Mkdir(filepath.Join(dir, buildctx.SecretsDir), 0o755)
	if err := buildctx.Write(&bytes.Buffer{}, dir, nil, "Dockerfile", nil); err == nil {
		t.Error("a context holding the secrets directory was accepted")
	}
}

func TestRunCommandHeredoc(t *testing.T) {
	s := &state{}
	got := s.runCommand(shellLine("<<EOF", "EOF", "echo hi\n"))
	if strings.Join(got, "|") != "/bin/sh|-c|echo hi\n" {
		t.Errorf("script heredoc: %q", got)
	}
	got = s.runCommand(shellLine("cat <<EOF > /f", "EOF", "content\n"))
	if strings.Join(got, "|") != "/bin/sh|-c|cat <<EOF > /f\ncontent\nEOF" {
		t.Errorf("heredoc in a command: %q", got)
	}
}

func shellLine(line, name, data string) instructions.ShellDependantCmdLine {
	return instructions.ShellDependantCmdLine{CmdLine: []string{line}, PrependShell: true,
		Files: []instructions.ShellInlineFile{{Name: name, Data: data}}}
}
