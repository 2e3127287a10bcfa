// Package shelltarget implements target.Target for any machine that can run
// POSIX shell commands and move files: this machine directly, or an SSH
// node. Jobs run detached from the controller in their own session (setsid)
// with their process group id, output and exit status recorded in files of
// the work directory, so a restarted controller can find them again and a
// cancel kills the whole tree.
package shelltarget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

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
	// rename) with f.Mode. Hosts may skip the copy of a Source file when
	// dst already holds the same contents (sha256) in a regular file that
	// the connecting user owns and that neither group nor others may
	// write; any other dst is replaced. Put is called for several files
	// at once (a job's files go concurrently).
	Put(ctx context.Context, f target.File, dst string) error
	// Get copies the absolute path src to the local path dst atomically
	// (temp, fsync, rename) with o.Mode, never the remote mode. Only a
	// regular file is copied, reached from o.Root without following a
	// symbolic link; anything else, or a file over o.MaxSize, gives a
	// *RefusedError. A missing src gives an error satisfying
	// errors.Is(err, fs.ErrNotExist). Get stops when ctx ends.
	Get(ctx context.Context, src, dst string, o GetOptions) error
	// Close releases the connection.
	Close() error
}

// GetOptions bound one Host.Get.
type GetOptions struct {
	// Root is the directory src lies in (the job's work directory): no
	// path component of src below Root may be a symbolic link.
	Root string
	// MaxSize is the largest file copied, in bytes; <= 0 means no cap.
	MaxSize int64
	// Mode is the local copy's permission bits.
	Mode fs.FileMode
}

// ErrRefused marks a file that Get would not copy (see RefusedError).
var ErrRefused = errors.New("refused to fetch")

// RefusedError is a file that Get would not copy, and why.
type RefusedError struct {
	Path string // the remote path
	Why  string
}

func (e *RefusedError) Error() string { return e.Path + ": " + e.Why + ": not fetched" }

// Is makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// NotRegular is the refusal of a path that is not a regular file; kind
// says what it is.
func NotRegular(path, kind string) error {
	return &RefusedError{Path: path, Why: "is " + kind + ", not a regular file (fleet never follows links or reads devices on a machine)"}
}

// TooLarge is the refusal of a file over the cap.
func TooLarge(path string, size, max int64) error {
	return &RefusedError{Path: path, Why: fmt.Sprintf("is %s, over the %s cap on a fetched file", sizeString(size), sizeString(max))}
}

// FileKind names what a file mode says a file is.
func FileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "not a regular file"
	}
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
