package engine_test

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// buildDir writes files (name -> content) into a new context directory.
func buildDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// legacyDocker runs the official CLI with its legacy builder.
func (d *daemon) legacyDocker(args ...string) result {
	d.t.Helper()
	return d.runEnv([]string{"DOCKER_BUILDKIT=0"}, nil, dockerCLI, args...)
}

// in is d for a subtest: its failures end the subtest only.
func (d *daemon) in(t *testing.T) *daemon {
	c := *d
	c.t = t
	return &c
}

func (d *daemon) inspectImage(ref string) map[string]any {
	d.t.Helper()
	var out []map[string]any
	if err := json.Unmarshal([]byte(d.must(berthBin(), "image", "inspect", ref)), &out); err != nil || len(out) != 1 {
		d.t.Fatalf("inspect %s: %v", ref, err)
	}
	return out[0]
}

const everyInstruction = `# escape=\
ARG BASE=busybox
FROM ${BASE} AS base
MAINTAINER someone@example.com
LABEL org.example.a="one" b=two
ENV GREETING=hello \
    TARGET=world
ARG WHO=default
WORKDIR /app
COPY hello.txt data/
COPY --chown=1000:1000 --chmod=600 secret.txt /app/owned.txt
ADD archive.tar /unpacked/
RUN echo "$GREETING $TARGET $WHO" > /app/greeting && \
    mkdir -p /app/made
RUN <<END
echo heredoc > /app/heredoc.txt
END
COPY <<END /app/inline.txt
inline content
END
SHELL ["/bin/sh", "-c"]
EXPOSE 80 53/udp
VOLUME /data
USER 1000:1000
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD true
ONBUILD RUN echo triggered > /tmp/onbuild.txt
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting"]
`

// One daemon for every build scenario: each builds real images in real containers.
func TestBuild(t *testing.T) {
	d := withBusybox(t)
	t.Cleanup(func() { d.run(berthBin(), "builder", "prune", "-af") })

	t.Run("EveryInstruction", func(t *testing.T) {
		d := d.in(t)
		dir := buildDir(t, map[string]string{"Dockerfile": everyInstruction, "hello.txt": "hello file\n", "secret.txt": "s3cret\n"})
		tarFile := filepath.Join(dir, "archive.tar")
		src := buildDir(t, map[string]string{"inside/x.txt": "from the archive\n"})
		if out, err := exec.Command("tar", "-C", src, "-cf", tarFile, "inside").CombinedOutput(); err != nil {
			t.Fatalf("tar: %v %s", err, out)
		}
		r := d.run(berthBin(), "build", "-t", "every:1", "--build-arg", "WHO=berth", dir)
		if r.code != 0 {
			t.Fatalf("build: %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"Step 1/21 : FROM ${BASE} AS base", " ---> Running in ", "Successfully built ", "Successfully tagged every:1"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stdout)
			}
		}
		img := d.inspectImage("every:1")
		cfg := img["Config"].(map[string]any)
		check := func(field string, want string) {
			t.Helper()
			b, _ := json.Marshal(cfg[field])
			if string(b) != want {
				t.Errorf("Config.%s = %s, want %s", field, b, want)
			}
		}
		check("Cmd", `["cat /app/greeting"]`)
		check("Entrypoint", `["/bin/sh","-c"]`)
		check("ExposedPorts", `{"53/udp":{},"80/tcp":{}}`)
		check("Volumes", `{"/data":{}}`)
		check("User", `"1000:1000"`)
		check("WorkingDir", `"/app"`)
		check("StopSignal", `"SIGUSR1"`)
		check("Labels", `{"b":"two","org.example.a":"one"}`)
		check("Healthcheck", `{"Interval":5000000000,"Retries":4,"Test":["CMD-SHELL","true"],"Timeout":2000000000}`)
		check("OnBuild", `["RUN echo triggered \u003e /tmp/onbuild.txt"]`)
		check("Shell", `["/bin/sh","-c"]`)
		if env, _ := json.Marshal(cfg["Env"]); !strings.Contains(string(env), `"GREETING=hello"`) || !strings.Contains(string(env), `"TARGET=world"`) || strings.Contains(string(env), "WHO") {
			t.Errorf("Env = %s", env)
		}
		if img["Author"] != "someone@example.com" {
			t.Errorf("Author = %v", img["Author"])
		}
		// The files, as a container of the image sees them.
		got := d.must(dockerCLI, "run", "--rm", "--user", "0", "every:1",
			"cat /app/greeting /app/data/hello.txt /unpacked/inside/x.txt /app/heredoc.txt /app/inline.txt; stat -c '%u:%g %a' /app/owned.txt")
		want := "hello world berth\nhello file\nfrom the archive\nheredoc\ninline content\n1000:1000 600"
		if got != want {
			t.Errorf("files:\n%s\nwant:\n%s", got, want)
		}
		// ONBUILD runs in a child build.
		child := buildDir(t, map[string]string{"Dockerfile": "FROM every:1\n"})
		out := d.must(berthBin(), "build", "-t", "child", child)
		if got := d.run(dockerCLI, "run", "--rm", "--user", "0", "child", "cat /tmp/onbuild.txt"); strings.TrimSpace(got.stdout) != "triggered" {
			t.Errorf("onbuild: %q %q\n%s", got.stdout, got.stderr, out)
		}
		if h := d.must(dockerCLI, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "every:1"); !strings.Contains(h, "|1 WHO=berth /bin/sh -c echo") {
			t.Errorf("history lacks the RUN with its arg:\n%s", h)
		}
	})

	t.Run("CacheAndLegacyDockerCLI", func(t *testing.T) {
		d := d.in(t)
		dir := buildDir(t, map[string]string{
			"Dockerfile": "FROM busybox\nRUN echo one > /one\nENV A=b\nCOPY a.txt b.txt /files/\nRUN cat /files/a.txt > /copy\nCMD [\"cat\", \"/copy\"]\n",
			"a.txt":      "first\n", "b.txt": "bee\n",
		})
		first := d.legacyDocker("build", "-t", "cached", dir)
		if first.code != 0 {
			t.Fatalf("docker build: %d\n%s%s", first.code, first.stdout, first.stderr)
		}
		iid := filepath.Join(t.TempDir(), "iid")
		second := d.run(berthBin(), "build", "--iidfile", iid, "-t", "cached", dir)
		if second.code != 0 || strings.Count(second.stdout, "Using cache") != 5 {
			t.Fatalf("rebuild did not use the cache for every step: %d\n%s%s", second.code, second.stdout, second.stderr)
		}
		id1 := d.must(dockerCLI, "image", "inspect", "-f", "{{.Id}}", "cached")
		if b, _ := os.ReadFile(iid); string(b) != id1 {
			t.Errorf("iidfile %q, image %s", b, id1)
		}
		if q := d.must(berthBin(), "build", "-q", dir); q != id1 {
			t.Errorf("identical rebuild: %s, want %s", q, id1)
		}
		os.WriteFile(filepath.Join(dir, "a.txt"), []byte("changed\n"), 0o644)
		third := d.legacyDocker("build", "-t", "cached", dir)
		if third.code != 0 || strings.Count(third.stdout, "Using cache") != 2 {
			t.Fatalf("after a change, want 2 cached steps: %d\n%s%s", third.code, third.stdout, third.stderr)
		}
		if got := d.must(dockerCLI, "run", "--rm", "cached"); got != "changed" {
			t.Errorf("run: %q", got)
		}
		nocache := d.run(berthBin(), "build", "--no-cache", "-t", "cached", dir)
		if nocache.code != 0 || strings.Contains(nocache.stdout, "Using cache") {
			t.Errorf("--no-cache: %d\n%s%s", nocache.code, nocache.stdout, nocache.stderr)
		}
		// Intermediate images stay out of `images`.
		if n := len(strings.Fields(d.must(dockerCLI, "images", "-q", "--filter", "dangling=true"))); n > 2 {
			t.Errorf("%d dangling images listed", n)
		}
	})

	t.Run("MultiStage", func(t *testing.T) {
		d := d.in(t)
		dir := buildDir(t, map[string]string{
			"Dockerfile": `FROM busybox AS one
RUN echo one > /one.txt
FROM busybox AS two
ARG V=2
RUN echo "two $V" > /two.txt
FROM scratch AS unused
COPY missing /nowhere
FROM busybox
COPY --from=one /one.txt /
COPY --from=two /two.txt /
RUN --mount=type=cache,target=/cache echo cached > /cache/f && cat /cache/f > /from-cache
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /secret-seen
RUN grep -c : /proc/net/dev > /nics-default
RUN --network=none grep -c : /proc/net/dev > /nics-none
`,
		})
		secret := filepath.Join(t.TempDir(), "tok")
		os.WriteFile(secret, []byte("topsecret"), 0o600)
		r := d.run(berthBin(), "build", "-t", "multi", "--secret", "id=tok,src="+secret, dir)
		if r.code != 0 {
			t.Fatalf("build: %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if got := d.must(dockerCLI, "run", "--rm", "multi", "cat", "/one.txt", "/two.txt", "/from-cache", "/secret-seen"); got != "one\ntwo 2\ncached\ntopsecret" {
			t.Errorf("files: %q", got)
		}
		// RUN is on the build's network (the default bridge: lo and eth0); --network=none has lo only.
		if got := d.must(dockerCLI, "run", "--rm", "multi", "cat", "/nics-default", "/nics-none"); got != "2\n1" {
			t.Errorf("interfaces seen by RUN (default, none): %q", got)
		}
		if got := d.run(dockerCLI, "run", "--rm", "multi", "ls", "/run/secrets/tok"); got.code == 0 {
			t.Errorf("the secret landed in the image")
		}
		r = d.run(berthBin(), "build", "-q", "--target", "two", "-t", "two", "--build-arg", "V=3", dir)
		if r.code != 0 {
			t.Fatalf("--target: %d %s", r.code, r.stderr)
		}
		if got := d.must(dockerCLI, "run", "--rm", "two", "cat", "/two.txt"); got != "two 3" {
			t.Errorf("target two: %q", got)
		}
	})

	t.Run("ContextForms", func(t *testing.T) {
		d := d.in(t)
		dir := buildDir(t, map[string]string{
			"custom.Dockerfile": "FROM scratch\nCOPY . /ctx/\n",
			".dockerignore":     "logs/*.log\n!logs/keep.log\n",
			"kept.txt":          "k", "logs/a.log": "a", "logs/keep.log": "keep",
		})
		for _, prog := range clients() {
			r := d.runEnv([]string{"DOCKER_BUILDKIT=0"}, nil, prog, "build", "-q", "-f", filepath.Join(dir, "custom.Dockerfile"), "-t", "scratchy", dir)
			if r.code != 0 {
				t.Fatalf("%s build -f: %d %s", filepath.Base(prog), r.code, r.stderr)
			}
			// The image holds only the copied files: list them with busybox from another image.
			out := d.must(dockerCLI, "image", "inspect", "-f", "{{len .RootFS.Layers}}", "scratchy")
			if out != "1" {
				t.Errorf("FROM scratch + COPY: %s layers", out)
			}
		}
		files := buildDir(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY --from=scratchy /ctx /ctx\n"})
		d.must(berthBin(), "build", "-q", "-t", "listed", files)
		if got := d.must(dockerCLI, "run", "--rm", "listed", "find", "/ctx", "-type", "f"); !strings.Contains(got, "/ctx/logs/keep.log") ||
			strings.Contains(got, "a.log") || !strings.Contains(got, "/ctx/kept.txt") {
			t.Errorf(".dockerignore: %s", got)
		}
		// A Dockerfile on stdin, with both CLIs.
		for _, prog := range clients() {
			r := d.runEnv([]string{"DOCKER_BUILDKIT=0"}, strings.NewReader("FROM busybox\nCMD [\"echo\", \"stdin\"]\n"), prog, "build", "-q", "-t", "fromstdin", "-")
			if r.code != 0 {
				t.Fatalf("%s build -: %d %s", filepath.Base(prog), r.code, r.stderr)
			}
			if got := d.must(dockerCLI, "run", "--rm", "fromstdin"); got != "stdin" {
				t.Errorf("stdin: %q", got)
			}
		}
	})

	t.Run("ParallelStagesBindEscape", func(t *testing.T) {
		d := d.in(t)
		// Each stage waits for the other through a shared cache mount: built one after the
		// other, the first would give up (after 60 s) and fail the build.
		wait := func(mine, theirs string) string {
			return "RUN --mount=type=cache,id=rendezvous,target=/s touch /s/" + mine +
				" && i=0; while [ ! -e /s/" + theirs + " ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; [ -e /s/" + theirs + " ] && echo " + mine + " >/" + mine
		}
		dir := buildDir(t, map[string]string{
			"Dockerfile": "# escape=`\nFROM busybox AS left\n" + wait("left", "right") + "\nFROM busybox AS right\n" + wait("right", "left") +
				"\nFROM busybox\nCOPY --from=left /left /\nCOPY --from=right /right /\n" +
				"RUN --mount=type=bind,source=data,target=/src cat /src/f >/bound && `\n    echo continued >>/bound\n",
			"data/f": "bound file\n",
		})
		r := d.run(berthBin(), "build", "--no-cache", "-t", "parallel", dir)
		if r.code != 0 {
			t.Fatalf("build: %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if got := d.must(dockerCLI, "run", "--rm", "parallel", "cat", "/left", "/right", "/bound"); got != "left\nright\nbound file\ncontinued" {
			t.Errorf("files: %q", got)
		}
		if got := d.run(dockerCLI, "run", "--rm", "parallel", "ls", "/src"); got.code == 0 && strings.TrimSpace(got.stdout) != "" {
			t.Errorf("the bind mount's content landed in the image: %q", got.stdout)
		}
		// A bound file is part of the step's cache key; a bind from a stage sees that stage.
		os.WriteFile(filepath.Join(dir, "data", "f"), []byte("changed file\n"), 0o644)
		df, _ := os.ReadFile(filepath.Join(dir, "Dockerfile"))
		os.WriteFile(filepath.Join(dir, "Dockerfile"), append(df, []byte("RUN --mount=type=bind,from=left,source=/left,target=/l cat /l >/from-left\n")...), 0o644)
		r = d.run(berthBin(), "build", "-t", "parallel", dir)
		if r.code != 0 {
			t.Fatalf("rebuild: %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if got := d.must(dockerCLI, "run", "--rm", "parallel", "cat", "/bound", "/from-left"); got != "changed file\ncontinued\nleft" {
			t.Errorf("after the bound file changed: %q", got)
		}
	})

	t.Run("FROMPullsMissingImage", func(t *testing.T) {
		d := d.in(t)
		reg := startRegistry(t, "")
		ref := reg.host + "/build/base:1"
		pushTo(t, ref, busyboxImage(t, runtime.GOARCH))
		dir := buildDir(t, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN echo \"$BUILT_FOR\" > /p\n"})
		r := d.run(berthBin(), "build", "-t", "pulled", dir)
		if r.code != 0 || !strings.Contains(r.stdout, "Status: Downloaded newer image for "+ref) {
			t.Fatalf("build: %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if got := d.must(dockerCLI, "run", "--rm", "pulled", "cat", "/p"); got != runtime.GOARCH {
			t.Errorf("RUN in the pulled base: %q", got)
		}
	})

	t.Run("FROMPrivateWithLogin", func(t *testing.T) {
		d := d.in(t)
		htpasswd, err := exec.LookPath("htpasswd")
		if err != nil {
			t.Skip("htpasswd (apache2-utils) is not installed")
		}
		dir := t.TempDir()
		pw := filepath.Join(dir, "htpasswd")
		if out, err := exec.Command(htpasswd, "-Bbc", pw, "alice", "s3cret").CombinedOutput(); err != nil {
			t.Fatalf("htpasswd: %v %s", err, out)
		}
		reg := startRegistry(t, "auth:\n  htpasswd:\n    realm: test\n    path: "+pw+"\n")
		ref := reg.host + "/private/base:1"
		r, _ := name.ParseReference(ref, name.Insecure)
		if err := remote.Write(r, busyboxImage(t, runtime.GOARCH), remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"})); err != nil {
			t.Fatal(err)
		}
		env := []string{"BERTH_CONFIG=" + filepath.Join(dir, "berth")}
		// berth first: it also reads docker's credentials, which docker's login would store.
		for i, cli := range []string{berthBin(), dockerCLI} {
			ctx := buildDir(t, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN echo " + strconv.Itoa(i) + " > /i\n"})
			if r := d.runEnv(append(env, "DOCKER_BUILDKIT=0"), nil, cli, "build", "-q", ctx); r.code == 0 {
				t.Errorf("%s: a private base was pulled without credentials", filepath.Base(cli))
			}
			if r := d.runEnv(env, strings.NewReader("s3cret\n"), cli, "login", "-u", "alice", "--password-stdin", reg.host); r.code != 0 {
				t.Fatalf("login: %d %s", r.code, r.stderr)
			}
			if r := d.runEnv(append(env, "DOCKER_BUILDKIT=0"), nil, cli, "build", "-q", ctx); r.code != 0 {
				t.Errorf("%s: build after login: %d %s%s", filepath.Base(cli), r.code, r.stdout, r.stderr)
			}
			d.must(cli, "rmi", ref)
		}
	})

	t.Run("ADDFromURL", func(t *testing.T) {
		d := d.in(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("served\n")) })}
		go srv.Serve(ln)
		defer srv.Close()
		dir := buildDir(t, map[string]string{"Dockerfile": "FROM busybox\nADD http://" + ln.Addr().String() + "/file.txt /dl/\n"})
		d.must(berthBin(), "build", "-q", "-t", "url", dir)
		if got := d.must(dockerCLI, "run", "--rm", "url", "cat", "/dl/file.txt"); got != "served" {
			t.Errorf("ADD url: %q", got)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		d := d.in(t)
		outside := t.TempDir()
		os.WriteFile(filepath.Join(outside, "secret"), []byte("no"), 0o644)
		cases := []struct {
			name, dockerfile, want string
			code                   int
		}{
			{"unknown", "FROM busybox\nFOO bar\n", "Dockerfile parse error line 2: unknown instruction: FOO", 1},
			{"parse", "FROM busybox\nHEALTHCHECK --interval=bogus CMD true\n", "Dockerfile parse error line 2", 1},
			{"outside", "FROM busybox\nCOPY ../secret /x\n", "forbidden path outside the build context: ../secret (Dockerfile line 2)", 1},
			{"symlink", "FROM busybox\nCOPY link/secret /x\n", "forbidden path outside the build context: link/secret (through a symlink) (Dockerfile line 2)", 1},
			{"multisource", "FROM busybox\nCOPY Dockerfile Dockerfile /x\n", "When using COPY with more than one source file, the destination must be a directory and end with a / (Dockerfile line 2)", 1},
			{"noglob", "FROM busybox\nCOPY *.nothing /x/\n", "COPY failed: no source files were specified (Dockerfile line 2)", 1},
			{"failing", "FROM busybox\nRUN echo visible output && exit 3\n", "The command '/bin/sh -c echo visible output && exit 3' returned a non-zero code: 3", 3},
		}
		for _, c := range cases {
			dir := buildDir(t, map[string]string{"Dockerfile": c.dockerfile})
			os.Symlink(outside, filepath.Join(dir, "link"))
			for _, prog := range clients() {
				r := d.runEnv([]string{"DOCKER_BUILDKIT=0"}, nil, prog, "build", "-t", "bad:"+c.name, dir)
				if r.code != c.code || !strings.Contains(r.stderr, c.want) {
					t.Errorf("%s with %s: exit %d, stderr %q; want %d and %q", c.name, filepath.Base(prog), r.code, r.stderr, c.code, c.want)
				}
				if c.name == "failing" && !strings.Contains(r.stdout, "visible output") {
					t.Errorf("failing RUN's output not shown:\n%s", r.stdout)
				}
			}
			if r := d.run(dockerCLI, "image", "inspect", "bad:"+c.name); r.code == 0 {
				t.Errorf("%s: an image was tagged", c.name)
			}
		}
		// A context tar with ".." names.
		evil := filepath.Join(t.TempDir(), "evil.tar")
		mk := exec.Command("tar", "-cf", evil, "-P", "--transform", "s,^,../,", "-C", outside, "secret")
		if out, err := mk.CombinedOutput(); err != nil {
			t.Fatalf("tar: %v %s", err, out)
		}
		r := d.runIn(evil, berthBin(), "build", "-")
		if r.code == 0 || !strings.Contains(r.stderr, "points outside the context") {
			t.Errorf("context with ..: exit %d %q", r.code, r.stderr)
		}
		if resp, err := d.get("/_ping"); err != nil {
			t.Fatalf("the daemon is down: %v", err)
		} else {
			resp.Body.Close()
		}
	})

	t.Run("ClientGoneStopsTheBuild", func(t *testing.T) {
		d := d.in(t)
		dir := buildDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started; sleep 600\n"})
		cmd := exec.Command(berthBin(), "build", "-t", "abandoned", dir)
		cmd.Env = append(os.Environ(), "BERTH_HOST="+d.host())
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Once the command runs, the client goes away (killed by its pid).
		buf := make([]byte, 4096)
		seen := ""
		for !strings.Contains(seen, "started") {
			n, err := out.Read(buf)
			if err != nil {
				t.Fatalf("build output ended early: %q", seen)
			}
			seen += string(buf[:n])
		}
		cmd.Process.Kill()
		cmd.Wait()
		// The daemon stops the step and removes its container; nothing is tagged.
		deadline := time.Now().Add(60 * time.Second)
		for d.must(dockerCLI, "ps", "-aq") != "" {
			if time.Now().After(deadline) {
				t.Fatalf("the build's container is still there: %s", d.must(dockerCLI, "ps", "-a"))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if r := d.run(dockerCLI, "image", "inspect", "abandoned"); r.code == 0 {
			t.Error("an abandoned build tagged its image")
		}
	})

	t.Run("RemoveReleasesSteps", func(t *testing.T) {
		d := d.in(t)
		dir := buildDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo unique-to-rmi > /u\nENV U=1\nCMD [\"cat\", \"/u\"]\n"})
		d.must(berthBin(), "build", "-q", "-t", "removable", dir)
		out := d.must(dockerCLI, "rmi", "removable")
		if n := strings.Count(out, "Deleted: sha256:"); n != 3 {
			t.Errorf("rmi deleted %d images, want the image and its 2 steps:\n%s", n, out)
		}
		if got := d.must(dockerCLI, "run", "--rm", "busybox", "echo", "base intact"); got != "base intact" {
			t.Errorf("busybox: %q", got)
		}
	})

	t.Run("BuilderPrune", func(t *testing.T) {
		d := d.in(t)
		// What the builds above cached is counted by system df, with both CLIs.
		for _, cli := range clients() {
			var count, size string
			for _, line := range strings.Split(d.must(cli, "system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Size}}"), "\n") {
				if rest, ok := strings.CutPrefix(line, "Build Cache|"); ok {
					count, size, _ = strings.Cut(rest, "|")
				}
			}
			if count == "" || count == "0" || size == "0B" {
				t.Errorf("%s system df: build cache %q records, %q", cli, count, size)
			}
		}
		r := d.run(berthBin(), "builder", "prune", "-af")
		if r.code != 0 || !strings.Contains(r.stdout, "Total reclaimed space:") || strings.Contains(r.stdout, "space: 0B") {
			t.Fatalf("prune: %d %s %s", r.code, r.stdout, r.stderr)
		}
		if r := d.run(dockerCLI, "builder", "prune", "-f"); r.code != 0 || !strings.Contains(r.stdout, "Total reclaimed space:") {
			t.Errorf("docker builder prune: %d %s %s", r.code, r.stdout, r.stderr)
		}
		if got := d.must(dockerCLI, "system", "df", "--format", "{{if eq .Type \"Build Cache\"}}{{.TotalCount}}{{end}}"); strings.TrimSpace(got) != "0" {
			t.Errorf("system df after builder prune: %q build cache records", got)
		}
		// Nothing is cached any more.
		dir := buildDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo one > /one\nENV A=b\n"})
		if r := d.run(berthBin(), "build", dir); r.code != 0 || strings.Contains(r.stdout, "Using cache") {
			t.Errorf("build after prune: %d\n%s", r.code, r.stdout)
		}
		// Tagged images survive.
		if got := d.must(dockerCLI, "run", "--rm", "cached"); got != "changed" {
			t.Errorf("run after prune: %q", got)
		}
		// system prune -a takes the build cache too.
		if out := d.must(dockerCLI, "system", "prune", "-af"); !strings.Contains(out, "Total reclaimed space") {
			t.Errorf("system prune: %s", out)
		}
		if got := d.must(berthBin(), "system", "df", "--format", "{{if eq .Type \"Build Cache\"}}{{.TotalCount}}{{end}}"); strings.TrimSpace(got) != "0" {
			t.Errorf("system df after system prune: %q build cache records", got)
		}
	})
}
