package run

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// lock is an exclusive flock on a run's .lock file. The kernel drops it
// when the holder dies, however it dies, so a killed controller never
// leaves a stale lock behind; the file's contents (pid and host of the
// holder) only serve the message a second controller gets.
type lock struct{ f *os.File }

// ErrLocked says another controller holds the run.
var ErrLocked = errors.New("run is in use by another controller")

func acquire(path, runID string) (*lock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("run %s: open lock: %w", runID, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("run %s: %w (%s, lock %s): wait for it to end or stop it first", runID, ErrLocked, holder, path)
		}
		return nil, fmt.Errorf("run %s: lock %s: %w", runID, path, err)
	}
	host, _ := os.Hostname()
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid %d on host %s\n", os.Getpid(), host)
	}
	return &lock{f: f}, nil
}

func readHolder(f *os.File) string {
	b := make([]byte, 256)
	n, _ := f.ReadAt(b, 0)
	s := strings.TrimSpace(string(b[:n]))
	if s == "" {
		return "holder unknown"
	}
	return "held by fleet " + s
}

func (l *lock) release() {
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}
