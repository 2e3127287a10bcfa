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

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/target"
)

const cleanupTimeout = 2 * time.Minute

// attempt runs one attempt of js on ms and reports how it ended.
func (e *Engine) attempt(ctx context.Context, js *jobState, ms *machineState, s slot) (res attemptResult) {
	m := ms.m
	res = attemptResult{js: js, ms: ms, slot: s}
	jobDir := filepath.Join(e.opts.RunDir, "jobs", js.dir)
	lg := e.log.With("job", js.job.ID, "node", m.Name)
	fail := func(transient, machine bool, reason string) attemptResult {
		res.state, res.transient, res.machine, res.reason = journal.StateFailed, transient, machine, reason
		if ctx.Err() != nil {
			res.state, res.transient, res.reason = journal.StateCancelled, false, "cancelled: "+reason
		}
		e.record(journal.Entry{Job: js.job.ID, Attempt: js.attempts, Node: m.Name, State: res.state, Reason: res.reason})
		lg.Error("job "+res.state, "attempt", js.attempts, "reason", res.reason)
		return res
	}

	var h target.Handle
	if js.reattach != nil {
		h = *js.reattach
		js.reattach = nil
		lg.Info("re-attaching to job left running by an earlier controller", "ref", h.Ref)
	} else {
		// Whatever an earlier, cut-off job left on this machine goes first.
		e.reapOrphans(ctx, m.Name)
		if js.attempts > 0 {
			// What a failed attempt brought back (a result written before
			// its node died, say) moves aside: the job's directory holds
			// the outputs of the attempt that counts, and only those.
			if err := setAside(jobDir, js.attempts); err != nil {
				return fail(false, false, err.Error())
			}
		}
		js.attempts++
		e.record(journal.Entry{Job: js.job.ID, Attempt: js.attempts, Node: m.Name, State: journal.StatePreparing})
		lg.Info("job preparing", "attempt", js.attempts)
		platform, err := m.Target.Platform(ctx)
		if err != nil {
			return fail(target.IsTransient(err), true, err.Error())
		}
		bin, err := e.opts.Binaries.For(platform)
		if err != nil {
			return fail(false, true, err.Error())
		}
		spec, err := e.buildSpec(js, m, bin, s, js.attempts)
		if err != nil {
			return fail(false, false, err.Error())
		}
		h, err = m.Target.Prepare(ctx, spec)
		if err != nil {
			return fail(target.IsTransient(err), true, "prepare: "+err.Error())
		}
		h, err = m.Target.Start(ctx, spec, h)
		if err != nil {
			return fail(target.IsTransient(err), true, "start: "+err.Error())
		}
	}
	e.record(journal.Entry{Job: js.job.ID, Attempt: js.attempts, Node: m.Name, State: journal.StateRunning, Handle: &h})
	lg.Info("job running", "attempt", js.attempts, "ref", h.Ref)

	// Follow the job's output into a local log file and the debug log.
	if err := os.MkdirAll(jobDir, 0o755); err != nil {
		return fail(false, false, err.Error())
	}
	logCtx, stopLogs := context.WithCancel(context.WithoutCancel(ctx))
	var logsDone sync.WaitGroup
	if f, err := os.OpenFile(filepath.Join(jobDir, "stream.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		logsDone.Add(1)
		go func() {
			defer logsDone.Done()
			defer f.Close()
			w := &lineLogger{file: f, log: func(line string) {
				if p, ok := jobspec.ParseProgress(line); ok && e.opts.OnProgress != nil {
					e.opts.OnProgress(js.job.ID, p)
				}
				lg.Debug(line)
			}}
			if err := m.Target.Logs(logCtx, h, w); err != nil {
				lg.Debug("log stream ended", "err", err)
			}
			w.Flush()
		}()
	}
	defer func() {
		// Logs end with the job; give the stream a moment to drain.
		waitTimeout(&logsDone, 5*time.Second)
		stopLogs()
		logsDone.Wait()
	}()

	waitCtx, cancelWait := context.WithTimeout(ctx, e.opts.Timeouts.Job)
	ex, werr := m.Target.Wait(waitCtx, h)
	timedOut := waitCtx.Err() == context.DeadlineExceeded
	cancelWait()
	if werr != nil || ctx.Err() != nil || timedOut {
		// The job's fate is unknown or it must stop: kill it remotely with a
		// context of its own, since ours may be the cancelled one.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		if err := m.Target.Cancel(cctx, h); err != nil {
			lg.Warn("cancel failed; will kill the job once its machine answers", "err", err, "ref", h.Ref, "workdir", h.WorkDir)
			e.addOrphan(m.Name, h)
		}
		e.fetch(cctx, m, h, js, jobDir, lg)
		cancel()
		switch {
		case ctx.Err() != nil:
			return fail(false, false, "run cancelled")
		case timedOut:
			return fail(false, false, fmt.Sprintf("job timed out after %s", e.opts.Timeouts.Job))
		default:
			return fail(target.IsTransient(werr), true, "wait: "+werr.Error())
		}
	}

	e.record(journal.Entry{Job: js.job.ID, Attempt: js.attempts, Node: m.Name, State: journal.StateFetching, Exit: &ex})
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := e.fetch(fctx, m, h, js, jobDir, lg); err != nil {
		return fail(target.IsTransient(err), true, "fetch: "+err.Error())
	}

	row, rowErr := e.aggregate(js, m, jobDir)
	if !ex.OK() {
		reason := describeExit(ex, jobDir)
		if ex.State == "LOST" || ex.State == "NODE_FAIL" || ex.State == "PREEMPTED" || ex.State == "BOOT_FAIL" {
			return fail(true, true, reason)
		}
		// The exit code table says whether to retry and whom to blame.
		if c, ok := jobspec.Lookup(ex.Code); ok && c.Retry {
			return fail(true, c.Machine, reason)
		}
		res.row = row // a failure ratio over its limit still wrote a result
		return fail(false, false, reason)
	}
	if rowErr != nil {
		return fail(false, false, "result: "+rowErr.Error())
	}
	rel, _ := filepath.Rel(e.opts.RunDir, filepath.Join(jobDir, "row.json"))
	e.record(journal.Entry{Job: js.job.ID, Attempt: js.attempts, Node: m.Name, State: journal.StateDone, Exit: &ex, Result: rel})
	lg.Info("job done", "attempt", js.attempts, "tput_per_gpu", fmt.Sprintf("%.1f", row.TputPerGPU))
	if !e.opts.KeepWork {
		if err := m.Target.Cleanup(fctx, h); err != nil {
			lg.Warn("work dir not removed", "err", err)
		}
	}
	res.state, res.row = journal.StateDone, row
	return res
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

// fetch brings the job's outputs into jobDir.
func (e *Engine) fetch(ctx context.Context, m *Machine, h target.Handle, js *jobState, jobDir string, lg interface{ Warn(any, ...any) }) error {
	got, err := m.Target.Fetch(ctx, h, outputs(js.resultName(m.Name)), jobDir)
	if err != nil {
		lg.Warn("fetch failed", "err", err, "fetched", strings.Join(got, ","))
	}
	return err
}

// aggregate reads the client's result file and writes the row beside it.
func (e *Engine) aggregate(js *jobState, m *Machine, jobDir string) (*results.Row, error) {
	name := js.resultName(m.Name)
	raw, err := os.ReadFile(filepath.Join(jobDir, "results", name+".json"))
	if err != nil {
		return nil, fmt.Errorf("no result file: %w", err)
	}
	j := js.job
	row, err := results.Aggregate(results.Meta{
		RunID: e.opts.RunID, JobID: j.ID, Node: m.Name, HW: m.GPU,
		Model: j.Model, Framework: j.Framework, Precision: j.Precision, Image: j.Image,
		TP: j.TP, EP: j.EP, PP: j.PP, DPAttn: j.DPAttn, Conc: j.Conc, ISL: j.ISL, OSL: j.OSL,
		GPUs: j.GPUs(),
	}, raw)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(row, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(jobDir, "row.json"), b); err != nil {
		return nil, err
	}
	return row, nil
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
	var log string
	switch ex.Code {
	case jobspec.ExitServerExited, jobspec.ExitHealthTimeout, jobspec.ExitBenchTimeout, jobspec.ExitServerDied, jobspec.ExitPortClash:
		log = filepath.Join("logs", "server.log")
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

func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 200 {
		l = l[:200] + "..."
	}
	return l
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

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeSummary writes summary.json and summary.txt into the run dir.
func writeSummary(runDir string, s *Summary) error {
	type outcome struct {
		Job      string `json:"job"`
		Config   string `json:"config"`
		GPU      string `json:"gpu,omitempty"`
		State    string `json:"state"`
		Node     string `json:"node,omitempty"`
		Attempts int    `json:"attempts"`
		Reason   string `json:"reason,omitempty"`
	}
	out := struct {
		RunID string         `json:"run_id"`
		Jobs  []outcome      `json:"jobs"`
		Rows  []*results.Row `json:"rows"`
	}{RunID: s.RunID, Rows: s.Rows}
	for _, o := range s.Outcomes {
		out.Jobs = append(out.Jobs, outcome{o.Job.ID, o.Job.Config, o.Job.GPU, o.State, o.Node, o.Attempts, o.Reason})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(runDir, "summary.json"), b); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	f, err := os.Create(filepath.Join(runDir, "summary.txt"))
	if err != nil {
		return err
	}
	defer f.Close()
	return results.WriteTable(f, s.Rows)
}
