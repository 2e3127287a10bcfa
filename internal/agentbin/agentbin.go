// Package agentbin finds the fleet binary to push to a machine. The
// controller may be a macOS laptop while nodes are linux/amd64 or
// linux/arm64 (Grace): the binary pushed must match the node, never the
// controller.
package agentbin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/fleetbench/fleet/internal/target"
)

// Binary is a fleet executable for one platform.
type Binary struct {
	Path   string
	Digest string // hex sha256
}

// Finder locates fleet binaries: fleet-<os>-<arch> in an explicitly given
// directory first, then the running executable for its own platform, then
// fleet-<os>-<arch> beside the executable (built by `make dist`, or by
// hand with GOOS/GOARCH).
type Finder struct {
	Explicit string   // searched first (--agent-dir)
	Dirs     []string // searched after Self for fleet-<os>-<arch>
	Self     string   // the running executable

	mu    sync.Mutex
	cache map[target.Platform]Binary
}

// NewFinder searches dir (if set) and then the directory of the running
// executable.
func NewFinder(dir string) *Finder {
	f := &Finder{Explicit: dir}
	if exe, err := os.Executable(); err == nil {
		f.Dirs = append(f.Dirs, filepath.Dir(exe))
		f.Self = exe
	}
	return f
}

// For returns the binary for p, hashing it once.
func (f *Finder) For(p target.Platform) (Binary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.cache[p]; ok {
		return b, nil
	}
	path, err := f.locate(p)
	if err != nil {
		return Binary{}, err
	}
	digest, err := hashFile(path)
	if err != nil {
		return Binary{}, fmt.Errorf("hash fleet binary %s: %w", path, err)
	}
	b := Binary{Path: path, Digest: digest}
	if f.cache == nil {
		f.cache = map[target.Platform]Binary{}
	}
	f.cache[p] = b
	return b, nil
}

func (f *Finder) locate(p target.Platform) (string, error) {
	name := fmt.Sprintf("fleet-%s-%s", p.OS, p.Arch)
	if f.Explicit != "" {
		c := filepath.Join(f.Explicit, name)
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c, nil
		}
	}
	if p.OS == runtime.GOOS && p.Arch == runtime.GOARCH && f.Self != "" {
		return f.Self, nil
	}
	for _, d := range f.Dirs {
		c := filepath.Join(d, name)
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c, nil
		}
	}
	return "", fmt.Errorf("no fleet binary for %s: build one with `GOOS=%s GOARCH=%s CGO_ENABLED=0 go build -o %s ./cmd/fleet` (or `make dist`) and put it beside the fleet executable or in --agent-dir",
		p, p.OS, p.Arch, name)
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
