package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleetbench/fleet/internal/atomicfile"
	"github.com/fleetbench/fleet/internal/filetail"
	"github.com/fleetbench/fleet/internal/inferencex/ixresult"
	"github.com/fleetbench/fleet/internal/interrupt"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/termtext"
)

const cleanupTimeout = 2 * time.Minute

// MaxReason bounds a failure reason, in bytes. A reason quotes what a node
// said (an error's stderr, a log's last line); whole, that can be
// megabytes, and the journal, the summary and every terminal that shows
// the reason would carry it.
const MaxReason = 2 << 10

// maxLogLine bounds one line of a job's output in fleet's own log (the
// job's stream.log keeps it whole).
const maxLogLine = 4 << 10

// reasonText makes a reason that quotes a node fit for the journal, the
// log and a terminal: one line, control characters escaped, bounded.
func reasonText(s string) string { return termtext.Line(s, MaxReason) }

// try is one attempt of a job on a machine while it runs.
type try struct {
	e      *Engine
	js     *jobState
	m      *machine.Machine
	jobDir string
	lg     *log.Logger
	res    attemptResult
	leases *attemptLeases // this attempt's node leases (lease.go)
	// stopLogs ends the job's log stream (followLogs); nil once ended or
	// handed to the background (background.go).
	stopLogs func()
}

// fail ends the attempt failed (cancelled, when the run is being
// cancelled) and records why.
func (t *try) fail(ctx context.Context, transient, blameMachine bool, reason string) attemptResult {
	reason = reasonText(reason)
	t.res.state, t.res.transient, t.res.machine, t.res.reason = journal.StateFailed, transient, blameMachine, reason
	if ctx.Err() != nil {
		t.res.state, t.res.transient, t.res.reason = journal.StateCancelled, false, reasonText("cancelled: "+reason)
	}
	t.e.record(journal.Entry{Job: t.js.job.ID, Attempt: t.js.attempts, Node: t.m.Name, State: t.res.state, Reason: t.res.reason})
	t.lg.Error("job "+t.res.state, "attempt", t.js.attempts, "reason", t.res.reason)
	return t.res
}

// attempt runs one attempt of js where pl placed it and reports how it
// ended. It calls free once the job has ended on its machines and their
// leases are given back, before its outputs are fetched.
func (e *Engine) attempt(ctx context.Context, js *jobState, pl *placement, free func()) attemptResult {
	s := pl.holds[0].slot
	t := &try{e: e, js: js, m: pl.m, jobDir: e.opts.Run.JobDir(js.job.ID),
		lg: e.log.With("job", js.job.ID, "node", pl.m.Name), res: attemptResult{js: js, m: pl.m, holds: pl.holds}}
	var h target.Handle
	defer t.releaseLeases(ctx)
	if js.reattach != nil {
		h = *js.reattach
		js.reattach = nil
		t.lg.Info("re-attaching to job left running by an earlier controller", "ref", h.Ref)
		if failed := t.acquireLeases(ctx); failed != nil {
			return *failed
		}
	} else {
		var failed *attemptResult
		if h, failed = t.start(ctx, s); failed != nil {
			return *failed
		}
	}
	t.leaseStarted(ctx, h)
	e.record(journal.Entry{Job: js.job.ID, Attempt: js.attempts, Node: t.m.Name, State: journal.StateRunning, Handle: &h})
	t.lg.Info("job running", "attempt", js.attempts, "ref", h.Ref)
	if err := os.MkdirAll(t.jobDir, 0o755); err != nil {
		return t.fail(ctx, false, false, err.Error())
	}
	t.stopLogs = t.followLogs(ctx, h)
	defer t.endLogs()

	waitCtx, cancelWait := context.WithTimeout(ctx, e.jobTimeout(js.job))
	ex, werr := t.m.Target.Wait(waitCtx, h)
	timedOut := waitCtx.Err() == context.DeadlineExceeded
	cancelWait()
	if werr != nil && ctx.Err() == nil && !timedOut && target.IsTransient(werr) {
		return t.lost(ctx, h, werr)
	}
	if werr != nil || ctx.Err() != nil || timedOut {
		return t.stop(ctx, h, werr, timedOut)
	}
	// The job has ended well (its running span ends with the fetching
	// entry): its GPUs are free. They go back (the nodes' leases, then
	// the scheduler's slots) before the outputs are fetched, so that the
	// next job starts meanwhile. A failed job keeps
	// them until its failure is booked, so that --fail-fast and a
	// failed canary stop the run before anything else starts.
	e.record(journal.Entry{Job: js.job.ID, Attempt: js.attempts, Node: t.m.Name, State: journal.StateFetching, Exit: &ex})
	if ex.OK() {
		t.releaseLeases(ctx)
		if free != nil {
			free()
			t.res.freed = true
		}
	}
	return t.finish(ctx, h, ex)
}

// start prepares a fresh attempt and starts it on the machine.
func (t *try) start(ctx context.Context, s slot) (target.Handle, *attemptResult) {
	js, m := t.js, t.m
	failed := func(transient, blameMachine bool, reason string) (target.Handle, *attemptResult) {
		r := t.fail(ctx, transient, blameMachine, reason)
		return target.Handle{}, &r
	}
	// Whatever an earlier, cut-off job left on this machine goes first.
	t.e.reapOrphans(ctx, m.Name)
	if js.attempts > 0 {
		// What a failed attempt brought back (a result written before its
		// node died, say) moves aside: the job's directory holds the
		// outputs of the attempt that counts, and only those.
		if err := setAside(t.jobDir, js.attempts); err != nil {
			return failed(false, false, err.Error())
		}
	}
	js.attempts++
	t.e.record(journal.Entry{Job: js.job.ID, Attempt: js.attempts, Node: m.Name, State: journal.StatePreparing})
	t.lg.Info("job preparing", "attempt", js.attempts)
	if r := t.acquireLeases(ctx); r != nil {
		return target.Handle{}, r
	}
	platform, err := m.Target.Platform(ctx)
	if err != nil {
		return failed(target.IsTransient(err), true, err.Error())
	}
	bin, err := t.e.opts.Binaries.For(platform)
	if err != nil {
		return failed(false, true, err.Error())
	}
	spec, err := t.e.buildSpec(js, m, bin, s, js.attempts)
	if err != nil {
		return failed(false, false, err.Error())
	}
	if js.job.Multi != nil {
		if l, err := layout(js.job, m.GPUs); err == nil {
			t.lg.Info("multi-node layout", "nodes", l.NodeCount(), "layout", describeLayout(l))
		}
	}
	h, err := m.Target.Prepare(ctx, spec)
	if err != nil {
		return failed(target.IsTransient(err), true, "prepare: "+err.Error())
	}
	h, err = m.Target.Start(ctx, spec, h)
	if err != nil {
		return failed(target.IsTransient(err), true, "start: "+err.Error())
	}
	return h, nil
}

// followLogs copies the job's output into stream.log and the debug log
// until the returned stop is called (which lets the stream drain first).
func (t *try) followLogs(ctx context.Context, h target.Handle) (stop func()) {
	logCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var done sync.WaitGroup
	f, err := os.OpenFile(filepath.Join(t.jobDir, run.StreamFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.lg.Warn("job output not kept", "err", err)
		return cancel
	}
	done.Add(1)
	go func() {
		defer done.Done()
		defer f.Close()
		w := &lineLogger{file: f, log: func(line string) {
			if p, ok := jobspec.ParseProgress(line); ok && t.e.opts.OnProgress != nil {
				t.e.opts.OnProgress(t.js.job.ID, p)
			}
			// The text log format writes a message raw: a node's line
			// could otherwise drive the terminal that shows the log.
			t.lg.Debug(termtext.Line(line, maxLogLine))
		}}
		if err := t.m.Target.Logs(logCtx, h, w); err != nil {
			t.lg.Debug("log stream ended", "err", err)
		}
		w.Flush()
	}()
	return func() {
		// Logs end with the job; give the stream a moment to drain.
		waitTimeout(&done, 5*time.Second)
		cancel()
		done.Wait()
	}
}

// stop kills a job whose fate is unknown or that must stop (cancelled,
// timed out, lost), brings back what it left, and fails the attempt.
func (t *try) stop(ctx context.Context, h target.Handle, werr error, timedOut bool) attemptResult {
	// Our context may be the cancelled one: the kill gets its own, which
	// a second Ctrl-C cuts short.
	cctx, cancel := interrupt.Cleanup(ctx, cleanupTimeout)
	defer cancel()
	if err := t.m.Target.Cancel(cctx, h); err != nil {
		t.lg.Warn("cancel failed; will kill the job once its machine answers", "err", err, "ref", h.Ref, "workdir", h.WorkDir)
		t.e.addOrphan(t.m.Name, h)
	}
	t.fetch(cctx, h)
	switch {
	case ctx.Err() != nil:
		return t.fail(ctx, false, false, stopReason(ctx))
	case timedOut:
		return t.fail(ctx, false, false, fmt.Sprintf("job timed out after %s", t.e.jobTimeout(t.js.job)))
	default:
		return t.fail(ctx, target.IsTransient(werr), true, "wait: "+werr.Error())
	}
}

// finish brings an ended job's outputs back and decides how it ended.
func (t *try) finish(ctx context.Context, h target.Handle, ex target.Exit) attemptResult {
	js, m := t.js, t.m
	fctx, cancel := interrupt.Cleanup(ctx, cleanupTimeout)
	defer cancel()
	if err := t.fetch(fctx, h); err != nil {
		return t.fail(ctx, target.IsTransient(err), true, "fetch: "+err.Error())
	}
	row, rowErr := t.e.aggregate(js, m, t.jobDir)
	if !ex.OK() {
		transient, blameMachine, reason := classify(ex, t.jobDir)
		return t.fail(ctx, transient, blameMachine, reason)
	}
	if rowErr != nil {
		return t.fail(ctx, false, false, "result: "+rowErr.Error())
	}
	rel := t.e.opts.Run.Rel(t.e.opts.Run.RowPath(js.job.ID))
	if t.e.canaryIDs[js.job.ID] {
		// A canary's few prompts are no result.
		if err := setCanaryRowAside(t.jobDir); err != nil {
			return t.fail(ctx, false, false, err.Error())
		}
		rel = ""
	}
	t.e.record(journal.Entry{Job: js.job.ID, Attempt: js.attempts, Node: m.Name, State: journal.StateDone, Exit: &ex, Result: rel})
	t.lg.Info("job done", "attempt", js.attempts, "tput_per_gpu", fmt.Sprintf("%.1f", row.TputPerGPU))
	if !t.e.opts.KeepWork {
		t.cleanupLater(ctx, h)
	}
	t.res.state = journal.StateDone
	return t.res
}

// classify says whether a failed job is worth retrying and whether its
// machine is to blame, and why it failed in words.
func classify(ex target.Exit, jobDir string) (transient, blameMachine bool, reason string) {
	reason = describeExit(ex, jobDir)
	if ex.State == "LOST" || ex.State == "NODE_FAIL" || ex.State == "PREEMPTED" || ex.State == "BOOT_FAIL" {
		return true, true, reason
	}
	// The exit code table says whether to retry and whom to blame.
	if c, ok := jobspec.Lookup(ex.Code); ok && c.Retry {
		return true, c.Machine, reason
	}
	return false, false, reason
}

// setAside moves the outputs of attempt n out of the way, into
// jobDir/attempts/<n>/.
func setAside(jobDir string, n int) error {
	dst := filepath.Join(jobDir, "attempts", strconv.Itoa(n))
	for _, name := range []string{"results", "logs", "job.log", "stream.log", "row.json"} {
		src := filepath.Join(jobDir, name)
		if _, err := os.Lstat(src); err != nil {
			continue
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("set aside attempt %d: %w", n, err)
		}
		if err := os.Rename(src, filepath.Join(dst, name)); err != nil {
			return fmt.Errorf("set aside attempt %d: %w", n, err)
		}
	}
	return nil
}

// fetch brings the job's outputs into its local directory.
func (t *try) fetch(ctx context.Context, h target.Handle) error {
	got, err := t.m.Target.Fetch(ctx, h, t.js.outputs(t.m), t.jobDir)
	if err != nil {
		t.lg.Warn("fetch failed", "err", err, "fetched", strings.Join(got, ","))
	}
	return err
}

// aggregate reads the client's result file and writes the row beside it.
func (e *Engine) aggregate(js *jobState, m *machine.Machine, jobDir string) (*results.Row, error) {
	name := js.resultName(m.Name)
	if js.job.Multi != nil && js.job.Agentic == nil {
		return e.aggregateMulti(js, m, jobDir, name)
	}
	if evalOnly(js.job) {
		return e.aggregateEval(js, m, jobDir, nil, true)
	}
	raw, err := os.ReadFile(filepath.Join(jobDir, "results", name+".json"))
	if err != nil {
		return nil, fmt.Errorf("no result file: %w", err)
	}
	j := js.job
	if j.Agentic != nil {
		return e.aggregateAgentic(js, m, jobDir, raw)
	}
	if j.InferenceX != nil {
		row, err := e.aggregateIX(js, m, jobDir, name, raw)
		if err != nil || !ixEvals(j) {
			return row, err
		}
		return e.aggregateEval(js, m, jobDir, row, false)
	}
	row, err := results.Aggregate(results.Meta{
		RunID: e.opts.Run.ID(), JobID: j.ID, Node: m.Name, HW: m.GPU,
		Model: j.Model, Framework: j.Framework, Precision: j.Precision, Image: j.Image,
		TP: j.TP, EP: j.EP, PP: j.PP, DPAttn: j.DPAttn, Conc: j.Conc, ISL: j.ISL, OSL: j.OSL,
		GPUs: j.GPUs(), Fingerprint: j.Fingerprint,
	}, raw)
	if err != nil {
		return nil, err
	}
	row.SetSpec(j.Spec, raw)
	setEnergy(row, raw, jobDir, j.GPUs(), singleNodeSamples())
	if j.Eval != nil {
		return e.aggregateEval(js, m, jobDir, row, false)
	}
	return row, writeRow(jobDir, row)
}

// writeRow keeps a job's aggregated row beside its results (run.RowFile).
func writeRow(jobDir string, row *results.Row) error {
	b, err := json.MarshalIndent(row, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(jobDir, run.RowFile), b, 0o644)
}

// aggregateIX computes InferenceX's aggregated row of an InferenceX job
// as its processing does (with power from the GPU monitor's samples when
// they came back), writes it as agg_<name>.json and its power validation
// beside the raw result, and keeps it as the job's row with fleet's
// columns added.
func (e *Engine) aggregateIX(js *jobState, m *machine.Machine, jobDir, name string, raw []byte) (*results.Row, error) {
	p := ixresult.ParamsFor(js.job.InferenceX, m.Name)
	var power *ixresult.PowerInput
	csvPath := filepath.Join(jobDir, filepath.FromSlash(jobspec.GPUMetricsPath))
	if csv, err := os.ReadFile(csvPath); err == nil {
		power = &ixresult.PowerInput{CSV: csv, Source: jobspec.GPUMetricsPath, ExpectedGPUs: p.GPUs(), Location: gpuMetricsZone(jobDir)}
	}
	agg, validation, err := ixresult.Process(p, raw, power)
	if err != nil {
		return nil, fmt.Errorf("InferenceX processing of %s.json: %w", name, err)
	}
	for file, b := range map[string][]byte{"agg_" + name + ".json": agg, "power_validation_" + name + ".json": validation} {
		if b == nil {
			continue
		}
		if err := atomicfile.WriteBytes(filepath.Join(jobDir, "results", file), b, 0o644); err != nil {
			return nil, err
		}
	}
	row, err := ixresult.ReadRow(agg)
	if err != nil {
		return nil, err
	}
	// The client's counts, as fleet's own rows carry them.
	var counts struct{ Completed, Failed int }
	_ = json.Unmarshal(raw, &counts)
	row.RunID, row.JobID, row.Node, row.Completed, row.Failed = e.opts.Run.ID(), js.job.ID, m.Name, counts.Completed, counts.Failed
	row.SetFingerprint(js.job.Fingerprint)
	setIXEnergyDetail(row, raw, power, p.GPUs())
	return row, writeRow(jobDir, row)
}

// gpuMetricsZone is the zone of the GPU monitor's timestamps, as the
// node recorded it (jobspec.GPUMetricsZonePath); UTC when it did not.
func gpuMetricsZone(jobDir string) *time.Location {
	return monitorZone(filepath.Join(jobDir, filepath.FromSlash(jobspec.GPUMetricsZonePath)))
}

// describeExit says in words why the job failed, with the last line of
// the log that tells most.
func describeExit(ex target.Exit, jobDir string) string {
	what := jobspec.Describe(ex.Code)
	switch _, known := jobspec.Lookup(ex.Code); {
	case ex.State != "" && ex.State != "COMPLETED":
		what = ex.String()
	case !known || ex.Signal != "":
		what = "job script failed: " + ex.String()
	}
	// A job without one server (a multi-node job: many processes on many
	// nodes) says itself why it failed, in its last progress line; so
	// does a failed eval (its scores and thresholds).
	if _, err := os.Stat(filepath.Join(jobDir, "logs", "server.log")); err != nil || ex.Code == jobspec.ExitEvalFailed {
		if tail, err := filetail.Read(filepath.Join(jobDir, "job.log"), 16<<10); err == nil {
			if p, ok := jobspec.LastProgress(tail); ok && p.Phase == jobspec.PhaseDone && p.Reason != "" {
				return what + ": " + p.Reason
			}
		}
	}
	var log string
	switch ex.Code {
	case jobspec.ExitServerExited, jobspec.ExitHealthTimeout, jobspec.ExitBenchTimeout, jobspec.ExitServerDied, jobspec.ExitPortClash:
		log = filepath.Join("logs", "server.log")
	case jobspec.ExitScriptFailed, jobspec.ExitNoResult:
		// An InferenceX script's own output: its checks, client and eval.
		log = filepath.FromSlash(jobspec.ScriptLogPath)
	case jobspec.ExitClientError, jobspec.ExitFailureRatio:
		if tail := lastLine(filepath.Join(jobDir, "logs", "client.log")); tail != "" {
			return what + ": client said: " + tail
		}
	default:
		log = "job.log"
	}
	if log != "" {
		if tail := lastLine(filepath.Join(jobDir, log)); tail != "" {
			what += ": " + tail
		}
	}
	return what
}

// lastLine returns the last line of a log, read from its end: a log can
// be large, and only its end says why a job failed.
func lastLine(path string) string {
	b, err := filetail.Read(path, 16<<10)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return termtext.Line(strings.TrimSpace(lines[len(lines)-1]), 200)
}

// lineLogger splits a stream into lines for a file and a log callback.
type lineLogger struct {
	file *os.File
	log  func(string)
	buf  []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	if _, err := l.file.Write(p); err != nil {
		return 0, err
	}
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.log(strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64*1024 {
		l.log(string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

// Flush logs a last partial line.
func (l *lineLogger) Flush() {
	if len(l.buf) > 0 {
		l.log(string(l.buf))
		l.buf = nil
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
	}
}
