package schedule

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock is a schedule's lock, held while one of its runs is under way. It
// is an flock, as a run directory's lock is (internal/run): the kernel
// drops it when the holder dies, however it dies, so a killed run never
// blocks the next one; the file's content, the holder's pid, serves only
// the message a second run gets.
type Lock struct{ f *os.File }

// RunningError says a previous run of the schedule holds its lock.
type RunningError struct {
	Name string
	PID  int // 0 when the holder had not written it yet
}

func (e *RunningError) Error() string {
	pid := "unknown"
	if e.PID > 0 {
		pid = strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("previous run of %s still running (pid %s), not starting", e.Name, pid)
}

// LockPath is the lock file of schedule name in its working directory,
// which every way of running it (timer, cron line, by hand) shares.
func LockPath(dir, name string) string {
	return filepath.Join(dir, ".fleet-schedule-"+name+".lock")
}

// Acquire takes the lock at path for schedule name without waiting. When a
// run holds it already the error is a *RunningError.
func Acquire(path, name string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("schedule %s: open lock: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid := holder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &RunningError{Name: name, PID: pid}
		}
		return nil, fmt.Errorf("schedule %s: lock %s: %w", name, path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

func holder(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// Release lets the next run start.
func (l *Lock) Release() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// SkippedExit is fleet's exit code for a scheduled run that did not start
// because the previous run of its schedule still runs (cmd/fleet's
// ExitSkipped: the one place exit codes are decided; a test there keeps
// the two equal). The service unit counts it as a success.
const SkippedExit = 5
