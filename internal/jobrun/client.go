package jobrun

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/fleetbench/fleet/internal/jobspec"
)

// openClientLog opens logs/client.log for appending: a multi-node job
// runs its client once per concurrency, into one log.
func (r *runner) openClientLog() (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(r.o.Dir, "logs", "client.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fail(jobspec.ExitClientError, "client log: %w", err)
	}
	return f, nil
}

// clientContext is the client's context: ended by the bench timeout, or
// by the server's exit (cause errServerDied). done releases it.
func (r *runner) clientContext(ctx context.Context) (bctx context.Context, done func()) {
	cctx, cancel := context.WithCancelCause(ctx)
	tctx, cancelTimeout := context.WithTimeout(cctx, r.j.BenchTimeout.D())
	watchDone := make(chan struct{})
	go func() {
		select {
		case <-r.exited:
			cancel(errServerDied)
		case <-watchDone:
		}
	}()
	return tctx, func() {
		close(watchDone)
		cancelTimeout()
		cancel(nil)
	}
}

// clientFailed classifies a client that ended without a result: the job
// cancelled, the server dead, the bench timeout, a failed warmup
// (warmupErr), or the client's own error.
func (r *runner) clientFailed(ctx, bctx context.Context, err, warmupErr error, what string) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(context.Cause(bctx), errServerDied):
		return r.died(err)
	case errors.Is(bctx.Err(), context.DeadlineExceeded):
		r.logf("%s timed out after %s", what, r.j.BenchTimeout.D())
		return fail(jobspec.ExitBenchTimeout, "%s timed out after %s", what, r.j.BenchTimeout.D())
	}
	if r.dying() {
		return r.died(err)
	}
	if errors.Is(err, warmupErr) {
		return fail(jobspec.ExitFailureRatio, "%w", err)
	}
	return fail(jobspec.ExitClientError, "%s: %w", what, err)
}

// printSummary writes a client's summary to its log and the job's output.
func (r *runner) printSummary(clientLog io.Writer, write func(io.Writer) error) error {
	var summary bytes.Buffer
	if err := write(&summary); err != nil {
		return fail(jobspec.ExitClientError, "print summary: %w", err)
	}
	clientLog.Write(summary.Bytes())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.o.Out.Write(summary.Bytes())
	return nil
}
