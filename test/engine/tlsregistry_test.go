package engine_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testCA makes a CA and a server certificate for ip, written as PEM files in dir.
func testCA(t *testing.T, dir string, ip net.IP) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "berth test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip.String()},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{ip},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	for f, b := range map[string]*pem.Block{caFile: {Type: "CERTIFICATE", Bytes: caDER}, certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// TestTLSRegistryWithLogin runs a registry behind TLS (a CA the test makes) with htpasswd basic
// auth, on the test daemon's bridge address (not a loopback one: no insecure fallback). The CA is
// trusted through the daemon's certificates directory (<dir>/<host:port>/ca.crt, as Docker's
// /etc/docker/certs.d); login, push, pull and logout go through it with both CLIs.
func TestTLSRegistryWithLogin(t *testing.T) {
	htpasswd, err := exec.LookPath("htpasswd")
	if err != nil {
		t.Skip("htpasswd (apache2-utils) is not installed")
	}
	dir := t.TempDir()
	certsDir := filepath.Join(dir, "certs.d")
	d := withBusyboxArgs(t, "--registry-certs-dir", certsDir)
	bip := d.args[slices.Index(d.args, "--bip")+1]
	ip, _, err := net.ParseCIDR(bip)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "htpasswd")
	if out, err := exec.Command(htpasswd, "-Bbc", pw, "alice", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("htpasswd: %v %s", err, out)
	}
	caFile, certFile, keyFile := testCA(t, dir, ip)
	reg := startRegistryOn(t, ip.String(), fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\nauth:\n  htpasswd:\n    realm: test\n    path: %s\n", certFile, keyFile, pw))
	env := []string{"BERTH_CONFIG=" + filepath.Join(dir, "berth")}
	login := func(cli string) result {
		return d.runEnv(env, strings.NewReader("s3cret\n"), cli, "login", "-u", "alice", "--password-stdin", reg.host)
	}
	// Before its CA is trusted, the registry's certificate is refused.
	if r := login(berthBin()); r.code != 1 || !strings.Contains(r.stderr, "certificate signed by unknown authority") {
		t.Fatalf("login without the CA: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	ca, _ := os.ReadFile(caFile)
	os.MkdirAll(filepath.Join(certsDir, reg.host), 0o755)
	if err := os.WriteFile(filepath.Join(certsDir, reg.host, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			ref := fmt.Sprintf("%s/secure/busybox:v%d", reg.host, i)
			d.must(cli, "tag", "busybox", ref)
			if r := d.runEnv(env, nil, cli, "push", ref); r.code != 1 || !strings.Contains(r.stdout+r.stderr, "authentication required") {
				t.Errorf("push without login: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
			if r := d.runEnv(env, strings.NewReader("wrong\n"), cli, "login", "-u", "alice", "--password-stdin", reg.host); r.code != 1 {
				t.Errorf("login with a wrong password: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
			if r := login(cli); r.code != 0 || !strings.Contains(r.stdout, "Login Succeeded") {
				t.Fatalf("login: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
			if r := d.runEnv(env, nil, cli, "push", ref); r.code != 0 {
				t.Fatalf("push: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
			d.must(cli, "rmi", ref)
			// The image stays as busybox: the pull fetches and checks the manifest over TLS.
			if r := d.runEnv(env, nil, cli, "pull", ref); r.code != 0 || !strings.Contains(r.stdout, "Status: Image is up to date for "+ref) {
				t.Fatalf("pull: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
			if out := d.must(cli, "run", "--rm", ref, "echo", "over tls"); out != "over tls" {
				t.Errorf("run: %q", out)
			}
			d.must(cli, "rmi", ref)
			if r := d.runEnv(env, nil, cli, "logout", reg.host); r.code != 0 || !strings.Contains(r.stdout, "Removing login credentials for "+reg.host) || r.stderr != "" {
				t.Errorf("logout: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}
