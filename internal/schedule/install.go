package schedule

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fleetbench/fleet/internal/atomicfile"
)

// UserUnitDir is where systemd's user manager reads a user's own units:
// $XDG_CONFIG_HOME/systemd/user, ~/.config/systemd/user without it (the
// XDG spec ignores a relative XDG_CONFIG_HOME, and so does this).
func UserUnitDir(getenv func(string) string) (string, error) {
	if x := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "systemd", "user"), nil
	}
	home := getenv("HOME")
	if !filepath.IsAbs(home) {
		return "", errors.New("neither XDG_CONFIG_HOME nor HOME is an absolute path: cannot find the systemd user unit directory")
	}
	return filepath.Join(home, ".config", "systemd", "user"), nil
}

// ErrNotOurs says a file in the way was not written by fleet schedule.
var ErrNotOurs = errors.New("not written by fleet schedule")

// owned reports whether the file at path exists and carries name's
// marker. A file that exists without it is ErrNotOurs.
func owned(path, name string) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	first, _, _ := strings.Cut(string(data), "\n")
	if first != Marker(name) {
		return false, fmt.Errorf("%s: %w (its first line is not %q); move it away or choose another --name", path, ErrNotOurs, Marker(name))
	}
	return true, nil
}

// Install writes files into dir, creating dir. It checks every file
// first and writes none when one in the way is not fleet's for name;
// a file already as wanted is left alone. It returns the files it wrote.
func Install(dir, name string, files []File) (written []string, err error) {
	for _, f := range files {
		if _, err := owned(filepath.Join(dir, f.Name), name); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, []byte(f.Text)) {
			continue
		}
		if err := atomicfile.WriteBytes(p, []byte(f.Text), 0o644); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

// Installed lists which of a schedule's files exist in dir. A file of that
// name not written by fleet for this schedule is ErrNotOurs.
func Installed(dir, name string) ([]string, error) {
	var found []string
	for _, suffix := range []string{".timer", ".service"} {
		p := filepath.Join(dir, name+suffix)
		ok, err := owned(p, name)
		if err != nil {
			return nil, err
		}
		if ok {
			found = append(found, p)
		}
	}
	return found, nil
}

// Remove deletes the schedule's files from dir: the timer first, so that
// a half-done removal never leaves a timer without its service. It
// refuses files that are not fleet's, and returns what it removed.
func Remove(dir, name string) (removed []string, err error) {
	found, err := Installed(dir, name)
	if err != nil {
		return nil, err
	}
	for _, p := range found {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("remove %s: %w", p, err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}
