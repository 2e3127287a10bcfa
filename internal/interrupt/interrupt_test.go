package interrupt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the watcher's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCleanupOutlivesItsContextUntilItsTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, stop := Cleanup(ctx, time.Hour)
	defer stop()
	if c.Err() != nil {
		t.Fatalf("cleanup context ended with its parent: %v", c.Err())
	}
	short, stop2 := Cleanup(ctx, time.Millisecond)
	defer stop2()
	select {
	case <-short.Done():
	case <-time.After(time.Minute):
		t.Fatal("cleanup context outlived its timeout")
	}
}

// signalSelf sends sig to this process, which Watch is handling.
func signalSelf(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), sig); err != nil {
		t.Fatal(err)
	}
}

func waitDone(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not cancelled", what)
	}
}

// TestInterruptsInThreeStages walks through Ctrl-C three times: the first
// cancels the work and leaves cleanup alone, the second ends cleanup after
// the grace period, the third exits at once.
func TestInterruptsInThreeStages(t *testing.T) {
	exits := make(chan int, 3)
	var notes syncBuffer
	ctx, w := Watch(context.Background(), &notes, Options{Grace: 50 * time.Millisecond, Backstop: time.Hour, Exit: func(c int) { exits <- c }})
	defer w.Stop()
	cleanup, stop := Cleanup(ctx, time.Hour)
	defer stop()

	signalSelf(t, syscall.SIGINT)
	waitDone(t, ctx, "work")
	var c *Cancelled
	if cause := context.Cause(ctx); !errors.As(cause, &c) || !strings.Contains(c.By, "Ctrl-C") || !errors.Is(cause, context.Canceled) {
		t.Errorf("cause %v, want a Cancelled by Ctrl-C that is a context.Canceled", cause)
	}
	if cleanup.Err() != nil {
		t.Fatal("the first interrupt ended cleanup too")
	}
	late, stopLate := Cleanup(ctx, time.Hour) // cleanup started after the first interrupt
	defer stopLate()

	signalSelf(t, syscall.SIGINT)
	waitDone(t, cleanup, "cleanup")
	waitDone(t, late, "cleanup started after the first interrupt")
	if !strings.Contains(notes.String(), "again: cleanup (stopping remote jobs) gets at most 50ms more") {
		t.Errorf("second interrupt not acknowledged: %q", notes.String())
	}
	select {
	case code := <-exits:
		t.Fatalf("exited %d before the backstop or a third interrupt", code)
	default:
	}

	signalSelf(t, syscall.SIGINT)
	select {
	case code := <-exits:
		if code != 130 {
			t.Errorf("exit %d, want 130", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("third interrupt did not exit")
	}
}

func TestBackstopExitsWhenCleanupHangs(t *testing.T) {
	exits := make(chan int, 1)
	ctx, w := Watch(context.Background(), &syncBuffer{}, Options{Grace: time.Millisecond, Backstop: time.Millisecond, Exit: func(c int) { exits <- c }})
	defer w.Stop()
	signalSelf(t, syscall.SIGTERM)
	waitDone(t, ctx, "work")
	signalSelf(t, syscall.SIGTERM)
	select {
	case code := <-exits:
		if code != 130 {
			t.Errorf("exit %d, want 130", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after grace and backstop")
	}
}

func TestSIGHUPCancels(t *testing.T) {
	ctx, w := Watch(context.Background(), &syncBuffer{}, Options{Exit: func(int) {}})
	defer w.Stop()
	signalSelf(t, syscall.SIGHUP)
	waitDone(t, ctx, "work")
	if !strings.Contains(context.Cause(ctx).Error(), "SIGHUP") {
		t.Errorf("cause %v, want SIGHUP", context.Cause(ctx))
	}
}

// TestAFailedWriteCancels writes to a pipe whose reader is gone, as
// fleet's stdout is when the pager it fed quits.
func TestAFailedWriteCancels(t *testing.T) {
	ctx, w := Watch(context.Background(), &syncBuffer{}, Options{Exit: func(int) {}})
	defer w.Stop()
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	out := w.Guard("stdout", pw)
	if _, err := out.Write([]byte("read\n")); err != nil || ctx.Err() != nil {
		t.Fatalf("a write to a live pipe: %v, ctx %v", err, ctx.Err())
	}
	r.Close()
	for i := 0; i < 2; i++ {
		// Failed writes report success, so that a MultiWriter feeding a
		// log file too keeps writing it.
		if n, err := out.Write([]byte("lost\n")); n != 5 || err != nil {
			t.Errorf("write %d after the reader went: %d, %v", i, n, err)
		}
	}
	waitDone(t, ctx, "work")
	if got := w.Broken(); len(got) != 1 || got[0] != "stdout" {
		t.Errorf("Broken() = %v, want [stdout]", got)
	}
	if !strings.Contains(context.Cause(ctx).Error(), "stdout") {
		t.Errorf("cause %v does not name stdout", context.Cause(ctx))
	}
}
