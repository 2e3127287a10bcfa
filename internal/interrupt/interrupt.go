// Package interrupt turns the ways a user (or the system) stops fleet into
// one cancellation with a bounded cleanup. Ctrl-C, SIGTERM, SIGHUP (the
// terminal closed) and a broken stdout or stderr (whatever read them went
// away) all cancel the command's context: work stops, remote jobs are
// killed, the journal records them. A second interrupt does not abandon
// the remote jobs: it bounds what cleanup may still take to a few seconds
// (see Cleanup), after which the command ends and lists what it could not
// stop. Only a third interrupt, or cleanup outliving its bound, ends the
// process at once.
package interrupt

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"
)

// Cancelled is the cause of a context cancelled by Watch (see
// context.Cause). It unwraps to context.Canceled, so a cancelled command
// exits 130 like any other.
type Cancelled struct {
	By string // "Ctrl-C", "SIGTERM", "a closed stdout", ...
}

func (c *Cancelled) Error() string { return "cancelled by " + c.By }

// Unwrap makes errors.Is(err, context.Canceled) hold.
func (c *Cancelled) Unwrap() error { return context.Canceled }

// signalName is how a user knows the signal.
func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "Ctrl-C (SIGINT)"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP (the terminal closed)"
	}
	return s.String()
}

// Defaults of Watch: how long cleanup may go on after the second
// interrupt, and how much longer the process waits for the command to
// return after that before it exits anyway.
const (
	DefaultGrace    = 5 * time.Second
	DefaultBackstop = 10 * time.Second
)

type boundKey struct{}

// Cleanup returns a context for cleanup after ctx may have been cancelled
// (killing a remote job, fetching its logs): it ignores ctx's
// cancellation, ends after d, and ends early once cleanup is cut short by
// a second interrupt of the Watch that made ctx.
func Cleanup(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	bound, ok := ctx.Value(boundKey{}).(context.Context)
	if !ok {
		return c, cancel
	}
	stop := context.AfterFunc(bound, cancel)
	return c, func() { stop(); cancel() }
}

// Watcher follows the signals of one command.
type Watcher struct {
	cancel context.CancelCauseFunc
	hurry  context.CancelFunc // ends every Cleanup context
	notify io.Writer          // where the second and third interrupts are acknowledged
	exit   func(int)          // os.Exit, replaceable in tests
	grace  time.Duration
	back   time.Duration

	sigs  chan os.Signal
	pipes chan os.Signal
	done  chan struct{}
	once  sync.Once

	mu     sync.Mutex
	broken []string      // streams whose writes failed
	timers []*time.Timer // the second interrupt's, stopped by Stop
}

// Options change Watch's defaults; zero values keep them.
type Options struct {
	Grace    time.Duration // cleanup after the second interrupt
	Backstop time.Duration // then how long until the process exits regardless
	Exit     func(int)     // default os.Exit
}

// Watch starts following SIGINT, SIGTERM and SIGHUP, and makes writes to
// a closed pipe fail with EPIPE instead of killing the process (SIGPIPE).
// The returned context is cancelled by the first interrupt; Stop ends the
// watch. Interrupts are acknowledged on notify.
func Watch(parent context.Context, notify io.Writer, o Options) (context.Context, *Watcher) {
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Backstop <= 0 {
		o.Backstop = DefaultBackstop
	}
	if o.Exit == nil {
		o.Exit = os.Exit
	}
	bound, hurry := context.WithCancel(context.WithoutCancel(parent))
	ctx, cancel := context.WithCancelCause(context.WithValue(parent, boundKey{}, bound))
	w := &Watcher{cancel: cancel, hurry: hurry, notify: notify, exit: o.Exit, grace: o.Grace, back: o.Backstop,
		sigs: make(chan os.Signal, 3), pipes: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(w.sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	// Asking for SIGPIPE is what makes Go return EPIPE from a write to a
	// closed stdout or stderr instead of dying (signal.Ignore would be
	// inherited by every job fleet starts). The signal itself says
	// nothing: a dropped SSH connection raises it too; the failed write
	// of a guarded stream is what cancels.
	signal.Notify(w.pipes, syscall.SIGPIPE)
	go w.loop()
	return ctx, w
}

func (w *Watcher) loop() {
	n := 0
	for {
		select {
		case <-w.done:
			return
		case <-w.pipes:
		case sig := <-w.sigs:
			n++
			switch n {
			case 1:
				w.cancel(&Cancelled{By: signalName(sig)})
			case 2:
				fmt.Fprintf(w.notify, "fleet: %s again: cleanup (stopping remote jobs) gets at most %s more; once more exits at once\n", signalName(sig), w.grace)
				w.mu.Lock()
				w.timers = append(w.timers, time.AfterFunc(w.grace, w.hurry), time.AfterFunc(w.grace+w.back, func() {
					fmt.Fprintln(w.notify, "fleet: cleanup did not finish; exiting. Jobs may still run on their machines: see fleet status")
					w.exit(130)
				}))
				w.mu.Unlock()
			default:
				fmt.Fprintln(w.notify, "fleet: exiting at once. Jobs may still run on their machines: see fleet status")
				w.exit(130)
			}
		}
	}
}

// Stop ends the watch and restores the default handling of the signals.
func (w *Watcher) Stop() {
	w.once.Do(func() {
		signal.Stop(w.sigs)
		signal.Stop(w.pipes)
		close(w.done)
		w.mu.Lock()
		for _, t := range w.timers {
			t.Stop()
		}
		w.mu.Unlock()
	})
}

// Broken lists the streams whose writes failed ("stdout", "stderr"):
// the command was cancelled because its output went away.
func (w *Watcher) Broken() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.broken...)
}

// Guard returns f wrapped so that a failed write (EPIPE when the reader
// of a pipe went away, ENOSPC, ...) cancels the command like an
// interrupt. Later writes are dropped without an error, so that a writer
// that also feeds a log file (io.MultiWriter) keeps writing the file. A
// terminal is returned as it is: when it goes away, SIGHUP says so, and
// code that draws on a terminal needs the *os.File.
func (w *Watcher) Guard(name string, f *os.File) io.Writer {
	if term.IsTerminal(int(f.Fd())) {
		return f
	}
	return &guarded{w: w, name: name, out: f}
}

type guarded struct {
	w    *Watcher
	name string
	out  io.Writer

	mu     sync.Mutex
	failed bool
}

func (g *guarded) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failed {
		return len(p), nil
	}
	if _, err := g.out.Write(p); err != nil {
		g.failed = true
		g.w.mu.Lock()
		g.w.broken = append(g.w.broken, g.name)
		g.w.mu.Unlock()
		g.w.cancel(&Cancelled{By: fmt.Sprintf("a failed write to %s (%v)", g.name, err)})
	}
	return len(p), nil
}
