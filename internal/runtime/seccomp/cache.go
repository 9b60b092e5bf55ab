package seccomp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/berthproject/berth/internal/atomicfile"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cacheFormat changes whenever what Compile produces for the same input may change.
const cacheFormat = "2" // 2: binary-tree filters (SetOptimize)

// maxCached bounds the cache: engines use a handful of profiles, not thousands.
const maxCached = 64

type cached struct {
	Program  *Program `json:"program"`
	Warnings []string `json:"warnings,omitempty"`
}

// CompileCached is Compile with the result kept in dir (root-only, under the runtime's state
// root): libseccomp takes tens of milliseconds on Docker's default profile, every container
// start, for the same program. The key covers the profile, libseccomp's version and the
// architecture, so a cached program is the one Compile would build.
func CompileCached(s *specs.LinuxSeccomp, dir string) (*Program, []string, error) {
	if s == nil || dir == "" {
		return Compile(s)
	}
	profile, err := json.Marshal(s)
	if err != nil {
		return Compile(s)
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(cacheFormat), []byte(libVersion()), []byte(runtime.GOARCH), profile} {
		h.Write(part)
		h.Write([]byte{0})
	}
	path := filepath.Join(dir, hex.EncodeToString(h.Sum(nil))+".json")
	if b, err := os.ReadFile(path); err == nil {
		var c cached
		if json.Unmarshal(b, &c) == nil && c.Program != nil && len(c.Program.BPF) > 0 && len(c.Program.BPF)%8 == 0 {
			return c.Program, c.Warnings, nil
		}
	}
	prog, warnings, err := Compile(s)
	if err != nil || prog == nil {
		return prog, warnings, err
	}
	// The cache is an optimisation: failing to write it costs the next start time, nothing else.
	if os.MkdirAll(dir, 0o700) == nil {
		if b, err := json.Marshal(cached{Program: prog, Warnings: warnings}); err == nil {
			atomicfile.WriteFile(path, b, 0o600)
			trim(dir)
		}
	}
	return prog, warnings, nil
}

// trim keeps the newest maxCached programs.
func trim(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) <= maxCached {
		return
	}
	type aged struct {
		name string
		mod  int64
	}
	var all []aged
	for _, e := range ents {
		if info, err := e.Info(); err == nil {
			all = append(all, aged{e.Name(), info.ModTime().UnixNano()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod > all[j].mod })
	for _, a := range all[min(maxCached, len(all)):] {
		os.Remove(filepath.Join(dir, a.name))
	}
}
