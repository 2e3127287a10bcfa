// Package local implements shelltarget.Host for this machine: commands run
// under /bin/sh, files are copied on the local filesystem.
package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// Host is this machine.
type Host struct {
	name string
}

var _ shelltarget.Host = (*Host)(nil)

// New returns the local host under the inventory name name.
func New(name string) *Host { return &Host{name: name} }

// Name is the inventory name.
func (h *Host) Name() string { return h.name }

// Exec runs cmd with /bin/sh -c.
func (h *Host) Exec(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	c.Stdin = stdin
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	c.Stdout, c.Stderr = stdout, stderr
	// Our shell scripts start detached jobs with setsid: they inherit
	// nothing from this process's stdio, so Wait does not block on them.
	c.WaitDelay = 0
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case ctx.Err() != nil:
		return -1, ctx.Err()
	case errors.As(err, &ee):
		return ee.ExitCode(), nil
	default:
		return -1, fmt.Errorf("run /bin/sh: %w", err)
	}
}

// Put writes f at dst atomically.
func (h *Host) Put(_ context.Context, f target.File, dst string) error {
	var src io.Reader
	if f.Shared && f.Source != "" && sameSize(f.Source, dst) {
		// Shared files are named by their contents: same name and size is
		// the same file, and re-copying a 20 MB binary per job is waste.
		return nil
	}
	if f.Source != "" {
		in, err := os.Open(f.Source)
		if err != nil {
			return err
		}
		defer in.Close()
		src = in
	} else {
		src = bytes.NewReader(f.Data)
	}
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	return writeAtomic(dst, src, mode)
}

// Get copies src to dst atomically.
func (h *Host) Get(_ context.Context, src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err // wraps fs.ErrNotExist when missing
	}
	defer in.Close()
	return writeAtomic(dst, in, 0o644)
}

// Close does nothing: there is no connection.
func (h *Host) Close() error { return nil }

// writeAtomic writes r to a temp file beside dst, syncs it, and renames it
// over dst, so a reader never sees a half-written file under dst's name.
func writeAtomic(dst string, r io.Reader, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, r); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	ok = true
	return nil
}

func sameSize(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && sa.Size() == sb.Size()
}
