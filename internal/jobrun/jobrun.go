// Package jobrun is `fleet job`: it runs one benchmark job on the node,
// inside the job's work directory, from its job file. It chooses the
// server's port, starts the framework's launcher (scripts/server/*.sh),
// waits for the server to be healthy, runs the benchmark client in-process,
// stops the server, and classifies how it all ended into one of
// jobspec's exit codes. A job with an InferenceX section runs one of
// InferenceX's benchmark scripts instead (runInferenceX). Progress lines (jobspec.FormatProgress) on its
// output tell the controller where the job stands.
package jobrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/fleetbench/fleet/internal/agentic/trace"
	"github.com/fleetbench/fleet/internal/bench"
	"github.com/fleetbench/fleet/internal/bench/benchflags"
	"github.com/fleetbench/fleet/internal/filetail"
	"github.com/fleetbench/fleet/internal/jobspec"
)

// Options configure one run of a job.
type Options struct {
	Dir string // the job's work directory
	Job *jobspec.Job
	// Out receives log lines and progress lines: the job's log.
	Out io.Writer
	// Self is the fleet binary, exported to the launcher as FLEET_BIN.
	Self string
	// Environ is the launcher's base environment (os.Environ()); the
	// job's contract goes over it.
	Environ []string
	Version string // recorded in the result as fleet_version

	StopGrace time.Duration // TERM to KILL when stopping the server (30s)
	// HealthPoll is the longest pause between health probes (500ms):
	// they start 20ms apart and double up to it (probe.go).
	HealthPoll    time.Duration
	PortTries     int           // ports tried from the preferred one (200)
	ProgressEvery time.Duration // benchmark progress lines (5s)
	// DeathGrace is how long a failed client waits for the server to show
	// that it is dying (5s): a dead server explains failures better.
	DeathGrace time.Duration
	// StatePoll is how often a node of a multi-node job polls the head
	// (its heartbeat) and the head checks its nodes (500ms).
	StatePoll time.Duration
	// NodeLostAfter is how long a node of a multi-node job may be silent
	// (or the head unreachable) before the job ends (15s).
	NodeLostAfter time.Duration
}

// Failure is how a job ended when it did not end well: its exit code and
// why.
type Failure struct {
	Code int
	Err  error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

func fail(code int, format string, args ...any) *Failure {
	return &Failure{Code: code, Err: fmt.Errorf(format, args...)}
}

// Backend is the benchmark client's backend for a framework.
func Backend(framework string) bench.Backend {
	switch framework {
	case "sglang":
		return bench.BackendSGLang
	case "trt":
		return bench.BackendTRT
	default:
		return bench.BackendVLLM
	}
}

// ResultPath is where a job's result file goes, relative to its work
// directory.
func ResultPath(j *jobspec.Job) string {
	if j.InferenceX != nil {
		return filepath.Join("results", j.InferenceX.ResultFilename+".json")
	}
	return filepath.Join("results", j.ResultFilename+".json")
}

// Run runs the job and returns nil when it is done, a *Failure with the
// exit code otherwise, or ctx's error when it was cancelled. The server
// is stopped in every case before Run returns.
func Run(ctx context.Context, o Options) error {
	r := &runner{o: o, j: o.Job}
	r.defaults()
	err := r.run(ctx)
	code := jobspec.ExitOK
	var f *Failure
	switch {
	case errors.As(err, &f):
		code = f.Code
	case err != nil:
		code = 128 + int(syscall.SIGTERM)
	}
	reason := ""
	if f != nil {
		reason = reasonLine(f.Err.Error())
	}
	r.progress(jobspec.Progress{Phase: jobspec.PhaseDone, Port: r.port, Code: code, Reason: reason})
	return err
}

type runner struct {
	o    Options
	j    *jobspec.Job
	mu   sync.Mutex // Out
	port int
	// trees are an agentic job's sessions, read before its server starts.
	trees []*trace.Tree
	// quiet drops progress lines and tag marks log lines: a node other
	// than the head of a multi-node job.
	quiet bool
	tag   string

	server *proc
	exited chan struct{} // closed when the server has exited
	log    string        // logs/server.log
}

func (r *runner) defaults() {
	o := &r.o
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 30 * time.Second
	}
	if o.HealthPoll <= 0 {
		o.HealthPoll = 500 * time.Millisecond
	}
	if o.PortTries <= 0 {
		o.PortTries = 200
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	if o.DeathGrace <= 0 {
		o.DeathGrace = 5 * time.Second
	}
	if o.StatePoll <= 0 {
		o.StatePoll = 500 * time.Millisecond
	}
	if o.NodeLostAfter <= 0 {
		o.NodeLostAfter = 15 * time.Second
	}
	r.log = filepath.Join(o.Dir, "logs", "server.log")
}

func (r *runner) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.o.Out, "[fleet-job%s %s] %s\n", r.tag, time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (r *runner) progress(p jobspec.Progress) {
	if r.quiet {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(r.o.Out, jobspec.FormatProgress(p))
}

func (r *runner) run(ctx context.Context) error {
	j := r.j
	if j.InferenceX != nil {
		return r.runInferenceX(ctx)
	}
	if j.Multi != nil {
		return r.runMulti(ctx)
	}
	launcher := filepath.Join("scripts", "server", j.Framework+".sh")
	if _, err := os.Stat(filepath.Join(r.o.Dir, launcher)); err != nil {
		return fail(jobspec.ExitBadEnv, "no server launcher for framework %q (%s)", j.Framework, launcher)
	}
	if err := r.prepare(); err != nil {
		return err
	}
	fl, err := r.benchFlags()
	if err != nil {
		return fail(jobspec.ExitBadEnv, "client extra_args: %w", err)
	}
	if j.Agentic != nil {
		// Traces that cannot be read fail the job before its server starts.
		if r.trees, err = r.loadTraces(); err != nil {
			return err
		}
	}

	r.progress(jobspec.Progress{Phase: jobspec.PhaseStarting, Port: r.port})
	r.logf("starting %s server: model=%s tp=%d conc=%d isl=%d osl=%d port=%d", j.Framework, j.Model, j.TP, j.Conc, j.ISL, j.OSL, r.port)
	if err := r.start(launcher, r.log, j.ServerArgs); err != nil {
		return fail(jobspec.ExitServerExited, "start the server: %w", err)
	}
	defer r.stopServer()

	r.progress(jobspec.Progress{Phase: jobspec.PhaseHealth, Port: r.port})
	started := time.Now()
	if err := r.waitHealthy(ctx); err != nil {
		return err
	}
	r.logf("server healthy after %s", time.Since(started).Round(time.Second))
	// A server that could not bind its port leaves the probe to whatever
	// listens there: that answer is not ours.
	if r.portClash() {
		return r.clash()
	}

	switch {
	case j.Agentic != nil:
		err = r.replay(ctx)
	case j.Eval != nil && j.Eval.Only:
		// An eval-only job measures accuracy, not speed.
	default:
		err = r.benchmark(ctx, fl, ResultPath(j))
	}
	if err == nil && j.Eval != nil {
		err = r.evaluate(ctx)
	}
	if err == nil && !r.alive() && r.portClash() {
		err = r.clash()
	}
	var f *Failure
	if errors.As(err, &f) && f.Code == jobspec.ExitPortClash {
		// The result measured another server.
		os.Remove(filepath.Join(r.o.Dir, ResultPath(j)))
	}
	return err
}

// benchFlags is the client's configuration: the job's settings, then the
// sweep's client extra_args over them, read by fleet bench's own flags.
func (r *runner) benchFlags() (*benchflags.Flags, error) {
	j := r.j
	fl := benchflags.Defaults()
	c := &fl.Config
	c.BaseURL = "http://127.0.0.1:" + strconv.Itoa(r.port)
	c.Backend = Backend(j.Framework)
	c.Model = j.Model
	c.Random.InputLen, c.Random.OutputLen, c.Random.RangeRatio = j.ISL, j.OSL, j.RangeRatio
	c.NumPrompts, c.MaxConcurrency, c.NumWarmups = j.NumPrompts, j.Conc, j.NumWarmups
	c.IgnoreEOS = true
	specClient(j, fl)
	// No request may outlive the benchmark it belongs to: its limit is
	// the benchmark's (the bench timeout still decides how the job ends,
	// since it started first). extra_args may set a shorter one.
	c.RequestTimeout = j.BenchTimeout.D()
	fl.Rate = "inf"
	fl.PercentileMetrics = "ttft,tpot,itl,e2el"
	fl.MetricPercentiles = j.PercentileList()
	fs := pflag.NewFlagSet("client extra_args", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fl.Register(fs)
	if err := fs.Parse(j.ClientArgs); err != nil {
		return nil, err
	}
	if err := fl.Finish(fs, fs.Args()); err != nil {
		return nil, err
	}
	for _, e := range r.o.Environ {
		if v, ok := strings.CutPrefix(e, "OPENAI_API_KEY="); ok {
			c.APIKey = v
		}
	}
	c.Version = r.o.Version
	return fl, nil
}

// choosePort returns preferred when nothing holds it on 127.0.0.1, else
// the next free port, trying tries ports in all.
// prepare makes the work directory's logs/ and results/ and chooses the
// server's port: the engine's, or the next free one when it is taken.
func (r *runner) prepare() error {
	for _, d := range []string{"logs", "results"} {
		if err := os.MkdirAll(filepath.Join(r.o.Dir, d), 0o755); err != nil {
			return fail(jobspec.ExitBadEnv, "work directory: %w", err)
		}
	}
	port, err := choosePort(r.j.Port, r.o.PortTries)
	if err != nil {
		return fail(jobspec.ExitPortClash, "%w", err)
	}
	r.port = port
	if port != r.j.Port {
		r.logf("port %d is taken; the server uses %d", r.j.Port, port)
	}
	return nil
}

func choosePort(preferred, tries int) (int, error) {
	for p := preferred; p < preferred+tries && p <= 65535; p++ {
		if portFree(p) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port among %d..%d on 127.0.0.1", preferred, min(preferred+tries-1, 65535))
}

// portFree: nothing answers there and the server could bind it.
func portFree(p int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c.Close()
		return false
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// start starts the launcher with args (see startProc), with its output
// in logPath (logs/server.log for fleet's launchers).
func (r *runner) start(launcher, logPath string, args []string) error {
	env := r.j.Env()
	env["PORT"] = strconv.Itoa(r.port)
	if r.o.Self != "" {
		env["FLEET_BIN"] = r.o.Self
	}
	p, err := startProc("server", r.o.Dir, launcher, logPath, r.o.Environ, env, args)
	if err != nil {
		return err
	}
	r.server, r.exited = p, p.exited
	return nil
}

func (r *runner) alive() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// stopServer stops the server: TERM, a grace period, KILL.
func (r *runner) stopServer() {
	if r.server == nil || !r.alive() {
		return
	}
	r.progress(jobspec.Progress{Phase: jobspec.PhaseStopping, Port: r.port})
	r.server.stop(r.o.StopGrace, r.logf)
}

// waitHealthy probes /health until it answers 200, the server exits, or
// the health timeout passes; the probes start close together (backoff).
func (r *runner) waitHealthy(ctx context.Context) error {
	deadline := time.NewTimer(r.j.HealthTimeout.D())
	defer deadline.Stop()
	b := newBackoff(r.o.HealthPoll)
	tick := time.NewTimer(b.pause())
	defer tick.Stop()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 3 * time.Second}
	defer client.CloseIdleConnections()
	url := fmt.Sprintf("http://127.0.0.1:%d/health", r.port)
	for {
		if healthy(ctx, client, url) && r.serving() {
			return nil
		}
		select {
		case <-r.exited:
			if r.portClash() {
				return r.clash()
			}
			r.logf("server exited (%v) before it became healthy; last lines of logs/server.log:", exitStatus(r.serverStatus()))
			r.tail()
			return fail(jobspec.ExitServerExited, "server exited (%v) before it became healthy", exitStatus(r.serverStatus()))
		case <-deadline.C:
			r.logf("server not healthy after %s; last lines of logs/server.log:", r.j.HealthTimeout.D())
			r.tail()
			return fail(jobspec.ExitHealthTimeout, "server not healthy after %s", r.j.HealthTimeout.D())
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			tick.Reset(b.pause())
		}
	}
}

func healthy(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func exitStatus(err error) string {
	if err == nil {
		return "status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() >= 0 {
			return "status " + strconv.Itoa(ee.ExitCode())
		}
		return ee.String()
	}
	return err.Error()
}

var errServerDied = errors.New("the server exited during the benchmark")

// benchmark runs the client, writes the result, and classifies how it
// ended.
func (r *runner) benchmark(ctx context.Context, fl *benchflags.Flags, resultRel string) error {
	clientLog, err := r.openClientLog()
	if err != nil {
		return err
	}
	defer clientLog.Close()
	cfg := fl.Config
	cfg.ProgressEvery = r.o.ProgressEvery
	cfg.OnProgress = func(p bench.Progress) {
		r.progress(jobspec.Progress{Phase: jobspec.PhaseBenchmark, Port: r.port, Done: p.Done, Total: p.Total,
			Failed: p.Failed, TokensPerSec: p.TokensPerSec, Elapsed: p.Elapsed.Seconds()})
	}
	bctx, done := r.clientContext(ctx)
	defer done()

	r.progress(jobspec.Progress{Phase: jobspec.PhaseBenchmark, Port: r.port, Total: cfg.NumPrompts})
	r.logf("running benchmark: %d prompts at concurrency %d", cfg.NumPrompts, cfg.MaxConcurrency)
	fmt.Fprintf(clientLog, "fleet job: benchmark %s%s backend=%s model=%s prompts=%d concurrency=%d warmups=%d\n",
		cfg.BaseURL, cfg.Endpoint, cfg.Backend, cfg.Model, cfg.NumPrompts, cfg.MaxConcurrency, cfg.NumWarmups)
	res, err := bench.Run(bctx, cfg, nil)
	if err != nil {
		fmt.Fprintf(clientLog, "fleet job: %v\n", err)
		return r.clientFailed(ctx, bctx, err, bench.ErrWarmupFailed, "benchmark")
	}
	if err := r.printSummary(clientLog, res.WriteSummary); err != nil {
		return err
	}
	path := filepath.Join(r.o.Dir, resultRel)
	if err := res.SaveJSON(path); err != nil {
		fmt.Fprintf(clientLog, "fleet job: %v\n", err)
		return fail(jobspec.ExitClientError, "%w", err)
	}
	fmt.Fprintf(clientLog, "fleet job: result saved in %s\n", resultRel)
	if ratio := res.FailureRatio(); ratio > fl.MaxFailureRatio {
		reason := ""
		if len(res.FailedReasons) > 0 {
			reason = ": " + res.FailedReasons[0].Example
		}
		err := fmt.Errorf("%d of %d requests failed (%.1f%%, over the %.1f%% allowed)%s",
			res.Failed, res.Failed+res.Completed, 100*ratio, 100*fl.MaxFailureRatio, reason)
		fmt.Fprintf(clientLog, "fleet job: %v\n", err)
		if r.dying() {
			return r.died(err)
		}
		return &Failure{Code: jobspec.ExitFailureRatio, Err: err}
	}
	return nil
}

// dying waits a little for a server that may be on its way out: the
// client can fail fast while the server still exits.
func (r *runner) dying() bool {
	select {
	case <-r.exited:
		return true
	case <-time.After(r.o.DeathGrace):
		return false
	}
}

// died classifies a server that exited during the benchmark.
func (r *runner) died(clientErr error) error {
	if r.portClash() {
		return r.clash()
	}
	r.logf("server died (%v) during the benchmark; last lines of logs/server.log:", exitStatus(r.serverStatus()))
	r.tail()
	return fail(jobspec.ExitServerDied, "server died (%v) during the benchmark: client: %v", exitStatus(r.serverStatus()), clientErr)
}

func (r *runner) clash() error {
	r.logf("the server could not listen on port %d, another process answered in its place; last lines of logs/server.log:", r.port)
	r.tail()
	return fail(jobspec.ExitPortClash, "the server could not listen on port %d (address already in use)", r.port)
}

// tailBytes bounds how much of the server log is read from its end.
const tailBytes = 64 << 10

// logTail returns the last tailBytes of the server log.
func (r *runner) logTail() []byte {
	b, _ := filetail.Read(r.log, tailBytes)
	return b
}

// portClash: the server's log says it could not bind its port.
func (r *runner) portClash() bool {
	return bytes.Contains(bytes.ToLower(r.logTail()), []byte("address already in use"))
}

// tail copies the last lines of the server log to the job's log.
func (r *runner) tail() { r.printTail(r.log) }

// reasonLine is a failure's reason fit for a progress line: one line,
// valid UTF-8, bounded.
func reasonLine(s string) string {
	s = strings.ToValidUTF8(strings.Join(strings.Fields(s), " "), "?")
	if len(s) > jobspec.MaxReason {
		s = s[:jobspec.MaxReason]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}
