package jobrun

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// maxBundleBytes bounds what a bundle may unpack to: the parts of a
// checkout a script needs are a few megabytes.
const maxBundleBytes = 1 << 30

// emptyDir makes dir an empty directory: a fresh workspace for each
// attempt. The directory itself stays, since under pyxis it is a mount
// point; a link in its place is removed, never followed.
func emptyDir(dir string) error {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return err
	case !fi.IsDir():
		if err := os.Remove(dir); err != nil {
			return err
		}
		return os.Mkdir(dir, 0o755)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// unpackBundle empties dir and unpacks the tar file bundle (gzip or not)
// into it. Members that would land outside dir are refused, and so are
// links that point outside it, members reached through a link, and
// devices and pipes: a bundle is data, never a way out of the workspace.
func unpackBundle(bundle, dir string) error {
	f, err := os.Open(bundle)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := emptyDir(dir); err != nil {
		return fmt.Errorf("workspace %s: %w", dir, err)
	}
	br := bufio.NewReader(f)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer gz.Close()
		in = gz
	}
	tr := tar.NewReader(in)
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := memberName(h.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		if err := noLinkAbove(dir, name); err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			total += h.Size
			if total > maxBundleBytes {
				return fmt.Errorf("unpacks to more than %d bytes", maxBundleBytes)
			}
			if err := writeMember(dst, tr, h); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		case tar.TypeSymlink:
			if path.IsAbs(h.Linkname) || escapes(path.Join(path.Dir(name), h.Linkname)) {
				return fmt.Errorf("%s: a link to %q, outside the workspace", name, h.Linkname)
			}
			if err := replace(dst); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return err
			}
		case tar.TypeLink:
			target, err := memberName(h.Linkname)
			if err != nil {
				return fmt.Errorf("%s: a hard link to %q: %w", name, h.Linkname, err)
			}
			src := filepath.Join(dir, filepath.FromSlash(target))
			if err := noLinkAbove(dir, target); err != nil {
				return err
			}
			if fi, err := os.Lstat(src); err != nil || !fi.Mode().IsRegular() {
				return fmt.Errorf("%s: a hard link to %q, which is no file unpacked before it", name, h.Linkname)
			}
			if err := replace(dst); err != nil {
				return err
			}
			if err := os.Link(src, dst); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unsupported member type %q (only files, directories and links)", name, h.Typeflag)
		}
	}
}

// memberName cleans a member's name; it must stay inside the workspace.
func memberName(n string) (string, error) {
	if strings.ContainsRune(n, '\\') || path.IsAbs(n) {
		return "", fmt.Errorf("member %q: want a relative, slash-separated name", n)
	}
	c := path.Clean(n)
	if escapes(c) {
		return "", fmt.Errorf("member %q leaves the workspace", n)
	}
	return c, nil
}

func escapes(clean string) bool {
	return clean == ".." || strings.HasPrefix(clean, "../")
}

// noLinkAbove refuses a member whose parent directories include a link:
// writing through it could land anywhere.
func noLinkAbove(dir, name string) error {
	parts := strings.Split(name, "/")
	p := dir
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("member %q lies below a link", name)
		}
	}
	return nil
}

// replace removes what a later member of the same name replaces (never a
// directory's contents).
func replace(dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	fi, err := os.Lstat(dst)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory", dst)
	}
	return os.Remove(dst)
}

func writeMember(dst string, r io.Reader, h *tar.Header) error {
	if err := replace(dst); err != nil {
		return err
	}
	// Permission bits only: no set-id bits from a bundle.
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(h.Mode)&0o777|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.LimitReader(r, h.Size)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyOut copies the regular file src to dst. A link or anything but a
// regular file is refused; a file over limit is refused, or with tail
// its last limit bytes are copied (logs).
func copyOut(src, dst string, limit int64, tail bool) error {
	in, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return fmt.Errorf("%s is a link, not a file", src)
		}
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	if fi.Size() > limit {
		if !tail {
			return fmt.Errorf("%s holds %d bytes, over the %d allowed", src, fi.Size(), limit)
		}
		if _, err := in.Seek(fi.Size()-limit, io.SeekStart); err != nil {
			return err
		}
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.LimitReader(in, limit)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// fleetClient is what replaces the checkout's client for client =
// "fleet": the same arguments, given to the fleet binary's bench, which
// the workspace carries (.fleet/fleet) so that a container sees it.
const fleetClient = `#!/usr/bin/env python3
# Written by fleet job for client = "fleet": the benchmark script's
# arguments go to fleet's own client (fleet bench), unchanged.
import os
import sys

fleet = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".fleet", "fleet")
os.execv(fleet, [fleet, "bench"] + sys.argv[1:])
`

// clientPath is the checkout's client, relative to the workspace.
const clientPath = "utils/bench_serving/benchmark_serving.py"

// installFleetClient copies the fleet binary self into the workspace and
// puts the client that runs it in place of the checkout's.
func installFleetClient(ws, self string) error {
	bin := filepath.Join(ws, ".fleet", "fleet")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	if err := replace(bin); err != nil {
		return err
	}
	// A copy, not a link: the container may write to its workspace, and
	// the binary is the machine's shared one.
	if err := copyFile(self, bin, 0o755); err != nil {
		return fmt.Errorf("fleet binary into the workspace: %w", err)
	}
	client := filepath.Join(ws, filepath.FromSlash(clientPath))
	if err := noLinkAbove(ws, clientPath); err != nil {
		return err
	}
	if err := replace(client); err != nil {
		return err
	}
	return os.WriteFile(client, []byte(fleetClient), 0o755)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
