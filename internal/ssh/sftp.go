package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pkg/sftp"

	"github.com/fleetbench/fleet/internal/shellquote"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// sftpClient returns the connection's SFTP client, opening it on first
// use. It holds one session slot for as long as the connection lives: sshd
// counts the subsystem as a session.
func (c *Client) sftpClient(ctx context.Context) (*conn, *sftp.Client, error) {
	cn, err := c.connection(ctx)
	if err != nil {
		return nil, nil, err
	}
	select {
	case cn.sftpMu <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("%s: open sftp: %w", c.Name(), ctx.Err())
	}
	defer func() { <-cn.sftpMu }()
	cn.mu.Lock()
	sc := cn.sftp
	cn.mu.Unlock()
	if sc != nil {
		return cn, sc, nil
	}
	if err := c.acquire(ctx); err != nil {
		return nil, nil, err
	}
	sc, err = sftp.NewClient(cn.client,
		// Concurrent writes make uploads fast over latency; the temp
		// name and the size check keep them safe.
		sftp.UseConcurrentWrites(true),
		sftp.MaxConcurrentRequestsPerFile(64),
	)
	if err != nil {
		c.release()
		if cn.dead() {
			return nil, nil, cn.lost(err)
		}
		return nil, nil, fmt.Errorf("%s: open sftp: %w", c.Name(), err)
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.reason != nil {
		sc.Close()
		c.release()
		return nil, nil, cn.lost(nil)
	}
	// From here the slot is the connection's: kill gives it back. The
	// session counter keeps counting it, as sshd does.
	cn.sftp, cn.sftpSlot = sc, true
	return cn, sc, nil
}

// transferErr wraps a failed SFTP operation: transient when the
// connection went away under it.
func (c *Client) transferErr(cn *conn, what string, err error) error {
	// The SFTP client says "connection lost" as soon as its channel
	// closes, which can be before the connection is found dead (a
	// killed sshd): that is a lost connection too, worth a retry.
	if cn.dead() || errors.Is(err, sftp.ErrSSHFxConnectionLost) {
		return fmt.Errorf("%s: %w", what, cn.lost(err))
	}
	return fmt.Errorf("%s: %s: %w", c.Name(), what, err)
}

// Put writes f at the absolute remote path dst atomically with f.Mode
// (0644 when zero). It implements shelltarget.Host.
func (c *Client) Put(ctx context.Context, f target.File, dst string) error {
	_, err := c.PutFile(ctx, f, dst)
	return err
}

// PutFile is Put that also says whether it copied: a Source file whose
// sha256 equals that of dst (as `sha256sum` on the node says) is skipped,
// when dst is a regular file that the connecting user owns and that
// neither group nor others may write; any other dst is replaced.
func (c *Client) PutFile(ctx context.Context, f target.File, dst string) (copied bool, err error) {
	if !path.IsAbs(dst) {
		return false, fmt.Errorf("%s: put %s: destination must be an absolute path", c.Name(), dst)
	}
	mode := f.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	var body io.Reader
	var size int64
	if f.Source != "" {
		lf, err := os.Open(f.Source)
		if err != nil {
			return false, fmt.Errorf("%s: put %s: %w", c.Name(), dst, err)
		}
		defer lf.Close()
		st, err := lf.Stat()
		if err != nil {
			return false, fmt.Errorf("%s: put %s: %w", c.Name(), dst, err)
		}
		size = st.Size()
		if c.stillWhole(ctx, dst, f.Digest) {
			return false, nil
		}
		same, err := c.sameContents(ctx, lf, dst)
		if err != nil {
			return false, err
		}
		if same {
			if err := c.ensureMode(ctx, dst, mode); err != nil {
				return false, err
			}
			c.rememberWhole(ctx, dst, f.Digest)
			return false, nil
		}
		if _, err := lf.Seek(0, io.SeekStart); err != nil {
			return false, fmt.Errorf("%s: put %s: %w", c.Name(), dst, err)
		}
		body = lf
	} else {
		body = bytes.NewReader(f.Data)
		size = int64(len(f.Data))
	}

	cn, sc, err := c.sftpClient(ctx)
	if err != nil {
		return false, err
	}
	dir, base := path.Split(dst)
	tmp := path.Join(dir, "."+base+".fleet-"+randomSuffix()+".tmp")
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	rf, err := sc.OpenFile(tmp, flags)
	if errors.Is(err, fs.ErrNotExist) {
		if err := sc.MkdirAll(dir); err != nil {
			return false, c.transferErr(cn, "put "+dst+": create "+dir, err)
		}
		rf, err = sc.OpenFile(tmp, flags)
	}
	if err != nil {
		return false, c.transferErr(cn, "put "+dst, err)
	}
	ok := false
	defer func() {
		if !ok {
			rf.Close()
			_ = sc.Remove(tmp)
		}
	}()
	n, err := rf.ReadFrom(&ctxReader{ctx: ctx, r: body, size: size})
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("%s: put %s: %w", c.Name(), dst, ctx.Err())
		}
		return false, c.transferErr(cn, "put "+dst, err)
	}
	if n != size {
		return false, c.transferErr(cn, "put "+dst, fmt.Errorf("wrote %d of %d bytes", n, size))
	}
	if err := rf.Chmod(mode); err != nil {
		return false, c.transferErr(cn, "put "+dst+": chmod", err)
	}
	if err := rf.Close(); err != nil {
		return false, c.transferErr(cn, "put "+dst+": close", err)
	}
	if _, posix := sc.HasExtension("posix-rename@openssh.com"); posix {
		err = sc.PosixRename(tmp, dst)
	} else {
		// Plain SFTP rename refuses to replace a file.
		_ = sc.Remove(dst)
		err = sc.Rename(tmp, dst)
	}
	if err != nil {
		_ = sc.Remove(tmp)
		ok = true
		return false, c.transferErr(cn, "put "+dst+": rename", err)
	}
	ok = true
	if f.Source != "" {
		c.rememberWhole(ctx, dst, f.Digest)
	}
	return true, nil
}

// sumCommand prints the sha256 of the remote file dst when it is a
// regular file (not a link) owned by the connecting user (id -u: on a
// node where the login name is an alias of root, root) and writable by
// nobody else; it prints nothing for any other dst. stat -c is GNU
// coreutils, stat -f the BSD spelling.
func sumCommand(dst string) string {
	return "f=" + shellquote.Quote(dst) + `
[ -f "$f" ] && [ ! -L "$f" ] || exit 1
o=$(stat -c '%u %a' -- "$f" 2>/dev/null || stat -f '%u %Lp' -- "$f" 2>/dev/null) || exit 1
[ "${o%% *}" = "$(id -u)" ] || exit 1
[ $((0${o#* } & 022)) -eq 0 ] || exit 1
sha256sum -- "$f" 2>/dev/null || shasum -a 256 -- "$f"`
}

// sameContents compares the local file's sha256 with the remote one's.
// A missing remote file, one that someone else could have written, or a
// node without sha256sum, is "not the same".
func (c *Client) sameContents(ctx context.Context, local io.Reader, dst string) (bool, error) {
	h := sha256.New()
	if _, err := io.Copy(h, local); err != nil {
		return false, fmt.Errorf("%s: put %s: hash local file: %w", c.Name(), dst, err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	var out bytes.Buffer
	code, err := c.Exec(ctx, sumCommand(dst), nil, &out, nil)
	if err != nil {
		return false, err
	}
	if code != 0 {
		return false, nil
	}
	got, _, _ := strings.Cut(out.String(), " ")
	return got == want, nil
}

func (c *Client) ensureMode(ctx context.Context, dst string, mode fs.FileMode) error {
	cn, sc, err := c.sftpClient(ctx)
	if err != nil {
		return err
	}
	st, err := sc.Stat(dst)
	if err != nil {
		return c.transferErr(cn, "stat "+dst, err)
	}
	if st.Mode().Perm() == mode {
		return nil
	}
	if err := sc.Chmod(dst, mode); err != nil {
		return c.transferErr(cn, "chmod "+dst, err)
	}
	return nil
}

// Get copies the remote file src to the local path dst atomically (temp
// file, fsync, rename) with o.Mode: only a regular file, reached from
// o.Root without following a link (each component is checked with
// lstat, and the opened file must match the checked one), at most
// o.MaxSize bytes. A missing src gives an error satisfying
// errors.Is(err, fs.ErrNotExist). It implements shelltarget.Host.
func (c *Client) Get(ctx context.Context, src, dst string, o shelltarget.GetOptions) error {
	cn, sc, err := c.sftpClient(ctx)
	if err != nil {
		return err
	}
	notExist := func(err error) error {
		var se *sftp.StatusError
		if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxNoSuchFile && !errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		}
		return c.transferErr(cn, "get "+src, err)
	}
	root := o.Root
	if root == "" {
		root = path.Dir(src)
	}
	rel := strings.TrimPrefix(path.Clean(src), path.Clean(root)+"/")
	if !path.IsAbs(src) || rel == path.Clean(src) || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("%s: get %s: not inside %s", c.Name(), src, root)
	}
	var st fs.FileInfo
	parts := strings.Split(rel, "/")
	for i := range parts {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: get %s: %w", c.Name(), src, err)
		}
		p := path.Join(root, path.Join(parts[:i+1]...))
		st, err = sc.Lstat(p)
		if err != nil {
			return notExist(err)
		}
		last := i == len(parts)-1
		if !(last && st.Mode().IsRegular()) && !(!last && st.IsDir()) {
			return shelltarget.NotRegular(p, shelltarget.FileKind(st.Mode()))
		}
	}
	if o.MaxSize > 0 && st.Size() > o.MaxSize {
		return shelltarget.TooLarge(src, st.Size(), o.MaxSize)
	}
	rf, err := sc.Open(src)
	if err != nil {
		return notExist(err)
	}
	defer rf.Close()
	fst, err := rf.Stat()
	if err != nil {
		return c.transferErr(cn, "get "+src, err)
	}
	// A link or another file swapped in between the lstat and the open
	// shows here: the open file is not the one checked.
	if !fst.Mode().IsRegular() || fst.Size() != st.Size() || !fst.ModTime().Equal(st.ModTime()) || !sameOwner(st, fst) {
		return shelltarget.NotRegular(src, "something that changed while it was opened")
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("%s: get %s: %w", c.Name(), src, err)
	}
	lf, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".fleet-*.tmp")
	if err != nil {
		return fmt.Errorf("%s: get %s: %w", c.Name(), src, err)
	}
	ok := false
	defer func() {
		if !ok {
			lf.Close()
			os.Remove(lf.Name())
		}
	}()
	n, err := rf.WriteTo(&ctxWriter{ctx: ctx, w: lf, max: o.MaxSize})
	switch {
	case errors.Is(err, errTooLarge):
		return shelltarget.TooLarge(src, o.MaxSize+1, o.MaxSize)
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("%s: get %s: %w", c.Name(), src, ctx.Err())
	case err != nil:
		return c.transferErr(cn, "get "+src, err)
	}
	if n != st.Size() {
		return c.transferErr(cn, "get "+src, fmt.Errorf("read %d of %d bytes", n, st.Size()))
	}
	mode := o.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	if err := lf.Chmod(mode); err != nil {
		return fmt.Errorf("%s: get %s: %w", c.Name(), src, err)
	}
	// fsync before the rename: a crash must not leave a complete-looking
	// name over incomplete data.
	if err := lf.Sync(); err != nil {
		return fmt.Errorf("%s: get %s: %w", c.Name(), src, err)
	}
	if err := lf.Close(); err != nil {
		return fmt.Errorf("%s: get %s: %w", c.Name(), src, err)
	}
	if err := os.Rename(lf.Name(), dst); err != nil {
		return fmt.Errorf("%s: get %s: %w", c.Name(), src, err)
	}
	ok = true
	return nil
}

// sameOwner compares the owners SFTP reports for two stats of a file.
func sameOwner(a, b fs.FileInfo) bool {
	sa, okA := a.Sys().(*sftp.FileStat)
	sb, okB := b.Sys().(*sftp.FileStat)
	return !okA || !okB || (sa.UID == sb.UID && sa.GID == sb.GID)
}

// MkdirAll creates the remote directory dir and its parents.
func (c *Client) MkdirAll(ctx context.Context, dir string) error {
	cn, sc, err := c.sftpClient(ctx)
	if err != nil {
		return err
	}
	if err := sc.MkdirAll(dir); err != nil {
		return c.transferErr(cn, "mkdir "+dir, err)
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ctxReader stops an upload between chunks once ctx ends; Size lets
// sftp's ReadFrom use concurrent writes.
type ctxReader struct {
	ctx  context.Context
	r    io.Reader
	size int64
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *ctxReader) Size() int64 { return r.size }

// ctxWriter stops a download between chunks once ctx ends, and after
// max bytes (when max > 0) with errTooLarge.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
	max int64
	n   int64
}

var errTooLarge = errors.New("over the size cap")

func (w *ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	if w.max > 0 && w.n+int64(len(p)) > w.max {
		return 0, errTooLarge
	}
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}
