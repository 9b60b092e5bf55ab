package stream

import (
	"bytes"
	"testing"

	"github.com/moby/moby/api/pkg/stdcopy"
)

func TestRoundTripWithDockersReader(t *testing.T) {
	var buf bytes.Buffer
	NewStdWriter(&buf, Stdout).Write([]byte("out\n"))
	NewStdWriter(&buf, Stderr).Write([]byte("err\n"))
	NewStdWriter(&buf, Stdout).Write([]byte("more\n"))
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, &buf); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out\nmore\n" || errOut.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
}
