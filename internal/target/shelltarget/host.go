// Package shelltarget implements target.Target for any machine that can run
// POSIX shell commands and move files: this machine directly, or an SSH
// node. Jobs run detached from the controller in their own session (setsid)
// with their process group id, output and exit status recorded in files of
// the work directory, so a restarted controller can find them again and a
// cancel kills the whole tree.
package shelltarget

import (
	"context"
	"io"

	"github.com/fleetbench/fleet/internal/target"
)

// Host runs shell commands and moves files on one machine.
type Host interface {
	// Name is the inventory name of the machine.
	Name() string
	// Exec runs cmd with /bin/sh -c on the machine, feeding stdin (may be
	// nil) and copying output to stdout and stderr (may be nil). The
	// command's exit status is returned with a nil error; an error means
	// the transport failed (wrapped with target.Transient when retrying
	// could help) and the command's fate is unknown.
	Exec(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error)
	// Put writes f at the absolute path dst, atomically (a temp name, then
	// rename) with f.Mode. Hosts may skip the copy when dst already has
	// the same contents.
	Put(ctx context.Context, f target.File, dst string) error
	// Get copies the absolute path src to the local path dst atomically
	// (temp, fsync, rename). A missing src gives an error satisfying
	// errors.Is(err, fs.ErrNotExist).
	Get(ctx context.Context, src, dst string) error
	// Close releases the connection.
	Close() error
}
