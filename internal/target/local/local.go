// Package local implements shelltarget.Host for this machine: commands run
// under /bin/sh, files are copied on the local filesystem.
package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// Host is this machine.
type Host struct {
	name string

	// verified remembers the shared files found whole in the cache, by
	// path: their digest and the stamp they had then. A file with the
	// same stamp is the same file (any write or chmod moves its ctime),
	// so its 20 MB need not be hashed again for every job.
	mu       sync.Mutex
	verified map[string]verifiedFile
}

type verifiedFile struct {
	digest string
	stamp  fileStamp
}

// knownWhole says whether dst was verified to hold digest and has not
// changed since.
func (h *Host) knownWhole(dst, digest string) bool {
	if digest == "" {
		return false
	}
	st, ok := stampOf(dst)
	h.mu.Lock()
	defer h.mu.Unlock()
	v, known := h.verified[dst]
	return ok && known && v.digest == digest && v.stamp == st
}

func (h *Host) remember(dst, digest string) {
	st, ok := stampOf(dst)
	if digest == "" || !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.verified == nil {
		h.verified = map[string]verifiedFile{}
	}
	h.verified[dst] = verifiedFile{digest: digest, stamp: st}
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
func (h *Host) Put(ctx context.Context, f target.File, dst string) error {
	var src io.Reader
	if f.Source != "" {
		in, err := os.Open(f.Source)
		if err != nil {
			return err
		}
		defer in.Close()
		// Shared files are named by their contents: a cached copy that
		// holds them, and that nobody else could have put there or
		// changed, saves copying a 20 MB binary per job.
		if f.Shared {
			if h.knownWhole(dst, f.Digest) {
				return nil
			}
			if ok, err := trustedCopy(in, f.Digest, dst); err != nil || ok {
				if ok {
					h.remember(dst, f.Digest)
				}
				return err
			}
			if _, err := in.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
		src = in
	} else {
		src = bytes.NewReader(f.Data)
	}
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	// No fsync: a pushed file serves only the job about to start here,
	// which a crash of this machine ends anyway; the rename alone keeps
	// it whole. (An fsync per file cost a job about 0.15s.)
	return writeAtomic(ctx, dst, src, mode, 0o700, -1, false)
}

// trustedCopy reports whether dst already holds src's contents in a
// regular file (not a link) that this user owns and that neither group
// nor others may write. digest, when set, is src's hex sha256.
func trustedCopy(src io.Reader, digest, dst string) (bool, error) {
	st, err := os.Lstat(dst)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o022 != 0 || !ownedByMe(st) {
		return false, nil
	}
	if digest == "" {
		h := sha256.New()
		if _, err := io.Copy(h, src); err != nil {
			return false, err
		}
		digest = hex.EncodeToString(h.Sum(nil))
	}
	in, err := os.OpenFile(dst, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false, nil
	}
	defer in.Close()
	if fst, err := in.Stat(); err != nil || !os.SameFile(st, fst) {
		return false, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, in); err != nil {
		return false, nil
	}
	return hex.EncodeToString(h.Sum(nil)) == digest, nil
}

func ownedByMe(st fs.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Getuid()
}

// Get copies src to dst atomically: a regular file under o.Root reached
// without following a link, at most o.MaxSize bytes, with o.Mode.
func (h *Host) Get(ctx context.Context, src, dst string, o shelltarget.GetOptions) error {
	in, err := openBelow(o.Root, src)
	if err != nil {
		return err // wraps fs.ErrNotExist when missing
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if o.MaxSize > 0 && st.Size() > o.MaxSize {
		return shelltarget.TooLarge(src, st.Size(), o.MaxSize)
	}
	mode := o.Mode
	if mode == 0 {
		mode = 0o644
	}
	err = writeAtomic(ctx, dst, in, mode, 0o755, o.MaxSize, true)
	if errors.Is(err, errTooLarge) {
		return shelltarget.TooLarge(src, o.MaxSize+1, o.MaxSize)
	}
	return err
}

// openBelow opens the regular file src, which lies under root, refusing
// a link or anything but a directory on the way down and anything but a
// regular file at the end. It opens through an os.Root, so a link swapped
// in after the checks cannot lead outside root, and compares the opened
// file with the one checked.
func openBelow(root, src string) (*os.File, error) {
	if root == "" {
		root = filepath.Dir(src)
	}
	rel, err := filepath.Rel(root, src)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("%s is not inside %s", src, root)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	parts := strings.Split(rel, string(filepath.Separator))
	for i := range parts {
		p := filepath.Join(parts[:i+1]...)
		st, err := r.Lstat(p)
		if err != nil {
			return nil, err
		}
		last := i == len(parts)-1
		switch {
		case last && st.Mode().IsRegular():
		case !last && st.IsDir():
		default:
			return nil, shelltarget.NotRegular(filepath.Join(root, p), shelltarget.FileKind(st.Mode()))
		}
	}
	st, err := r.Lstat(rel)
	if err != nil {
		return nil, err
	}
	f, err := r.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, shelltarget.NotRegular(src, "something that changed while it was opened ("+err.Error()+")")
	}
	fst, err := f.Stat()
	if err != nil || !os.SameFile(st, fst) || !fst.Mode().IsRegular() {
		f.Close()
		return nil, shelltarget.NotRegular(src, "something that changed while it was opened")
	}
	return f, nil
}

// Close does nothing: there is no connection.
func (h *Host) Close() error { return nil }

var errTooLarge = errors.New("over the size cap")

// writeAtomic writes r to a temp file beside dst, syncs it, and renames it
// over dst, so a reader never sees a half-written file under dst's name.
// dirMode is that of directories it makes; max > 0 caps the bytes copied
// (errTooLarge beyond); ctx stops the copy; sync flushes the file to disk
// before the rename.
func writeAtomic(ctx context.Context, dst string, r io.Reader, mode, dirMode fs.FileMode, max int64, sync bool) error {
	if err := os.MkdirAll(filepath.Dir(dst), dirMode); err != nil {
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
	if max > 0 {
		r = io.LimitReader(r, max+1)
	}
	n, err := io.Copy(tmp, &ctxReader{ctx: ctx, r: r})
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if max > 0 && n > max {
		return errTooLarge
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if sync {
		if err := tmp.Sync(); err != nil {
			return err
		}
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

// ctxReader stops a copy between reads once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
