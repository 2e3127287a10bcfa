package launch

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// MaxBundle bounds the bytes of the files a bundle holds. The part of a
// checkout that jobs need is a few megabytes; far more means the
// directory is not what it seems (a data set left in utils/, say), and
// every machine would be sent it.
const MaxBundle = 256 << 20

// BundleName is the bundle's file name in a job's work directory.
const BundleName = "ix.tar"

// bundleTime is every entry's modification time: the bundle's bytes
// depend on the files' contents and modes only, so that its digest names
// the contents and a machine receives each version once.
var bundleTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// utilsDirs are the trees under utils/ that benchmark scripts and
// InferenceX's library source or run: the throughput client, the evals,
// and the agentic client and its tooling (aiperf is a submodule, present
// only when checked out).
var utilsDirs = map[string]bool{"bench_serving": true, "evals": true, "agentic": true, "agentic-benchmark": true, "aiperf": true}

// BundleFile is a packed part of an InferenceX checkout.
type BundleFile struct {
	Path   string // the tar file on this machine, named by its digest
	Digest string // hex sha256 of the tar
	Size   int64  // bytes of the tar
	// Files lists the files the bundle holds, slash-separated relative to
	// the checkout root, sorted.
	Files []string
}

// Has reports whether the bundle holds the file rel (relative to the
// checkout root, slash-separated).
func (b *BundleFile) Has(rel string) bool {
	i := sort.SearchStrings(b.Files, rel)
	return i < len(b.Files) && b.Files[i] == rel
}

// Bundle packs what a job needs of the InferenceX checkout at dir into a
// tar in the user's cache directory; see BundleTo.
func Bundle(dir string) (*BundleFile, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("bundle of %s: %w", dir, err)
	}
	return BundleTo(dir, filepath.Join(cache, "fleet", "inferencex"))
}

// BundleTo packs what a job needs of the InferenceX checkout at dir into
// one tar file in cacheDir, named <sha256>.tar: benchmarks/ (without any
// deprecated/ tree) and, of utils/, the client, evals and agentic trees
// and the Python files at its top, leaving out tests and caches.
//
// The tar is deterministic: entries sorted by path, regular files only,
// fixed times and owners, modes 0755 (executable) or 0644. A symbolic
// link or other special file in those trees is an error that names them
// all: a link could point outside the checkout, and a script it stands
// for would be missing on the node.
func BundleTo(dir, cacheDir string) (*BundleFile, error) {
	files, err := selectFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle of %s: %w", dir, err)
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("bundle of %s: %w", dir, err)
	}
	b, err := writeBundle(dir, cacheDir, files)
	if err != nil {
		return nil, fmt.Errorf("bundle of %s: %w", dir, err)
	}
	return b, nil
}

// entry is one file to pack.
type entry struct {
	rel  string // slash-separated, relative to the checkout
	size int64
	exec bool
}

// selectFiles walks the checkout's needed trees.
func selectFiles(dir string) ([]entry, error) {
	for _, top := range []string{"benchmarks", "utils"} {
		st, err := os.Stat(filepath.Join(dir, top))
		if err != nil || !st.IsDir() {
			return nil, fmt.Errorf("not an InferenceX checkout: no %s/ directory", top)
		}
	}
	var files []entry
	var special []string
	var total int64
	for _, top := range []string{"benchmarks", "utils"} {
		err := filepath.WalkDir(filepath.Join(dir, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if !wanted(rel, d.IsDir()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() {
				special = append(special, fmt.Sprintf("%s (%s)", rel, kind(d.Type())))
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
			if total > MaxBundle {
				return fmt.Errorf("the needed files pass %d MiB (at %s): not packing them", MaxBundle>>20, rel)
			}
			files = append(files, entry{rel: rel, size: info.Size(), exec: info.Mode().Perm()&0o111 != 0})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(special) > 0 {
		sort.Strings(special)
		return nil, fmt.Errorf("only regular files can be packed; found %s", strings.Join(special, ", "))
	}
	sort.Slice(files, func(a, b int) bool { return files[a].rel < files[b].rel })
	return files, nil
}

// wanted says whether the bundle takes rel (a directory when dir).
func wanted(rel string, dir bool) bool {
	name := path.Base(rel)
	switch {
	case name == ".git" || name == "__pycache__" || strings.HasSuffix(name, ".pyc"):
		return false
	case dir && name == "deprecated":
		return false
	}
	parts := strings.Split(rel, "/")
	if parts[0] != "utils" {
		return true
	}
	// Of utils/: the listed trees and the top-level Python modules, none
	// of their tests.
	if dir && (name == "tests" || name == "test") {
		return false
	}
	if !dir && (strings.HasPrefix(name, "test_") && strings.HasSuffix(name, ".py") || name == "conftest.py") {
		return false
	}
	switch len(parts) {
	case 1:
		return true
	case 2:
		if dir {
			return utilsDirs[name]
		}
		return strings.HasSuffix(name, ".py")
	}
	return true
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "not a regular file"
}

// writeBundle writes the tar beside its final name and renames it to
// <digest>.tar, so a reader never sees half of one.
func writeBundle(dir, cacheDir string, files []entry) (b *BundleFile, err error) {
	tmp, err := os.CreateTemp(cacheDir, ".bundle-*.tar")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	sum := sha256.New()
	counter := &countWriter{}
	tw := tar.NewWriter(io.MultiWriter(tmp, sum, counter))
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.rel
		if err := addFile(tw, dir, f); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	digest := hex.EncodeToString(sum.Sum(nil))
	final := filepath.Join(cacheDir, digest+".tar")
	if err := os.Rename(tmp.Name(), final); err != nil {
		return nil, err
	}
	return &BundleFile{Path: final, Digest: digest, Size: counter.n, Files: names}, nil
}

func addFile(tw *tar.Writer, dir string, f entry) error {
	mode := int64(0o644)
	if f.exec {
		mode = 0o755
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.rel, Mode: mode, Size: f.size, ModTime: bundleTime}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", f.rel, err)
	}
	in, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.rel)))
	if err != nil {
		return err
	}
	defer in.Close()
	// The size is the one the walk saw: a file that changes size
	// meanwhile fails the bundle rather than packing a mix.
	if _, err := io.CopyN(tw, in, f.size); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("file shrank while being packed")
		}
		return fmt.Errorf("%s: %w", f.rel, err)
	}
	if n, _ := in.Read(make([]byte, 1)); n > 0 {
		return fmt.Errorf("%s: file grew while being packed", f.rel)
	}
	return nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
