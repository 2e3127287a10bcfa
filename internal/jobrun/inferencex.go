package jobrun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/filetail"
	"github.com/fleetbench/fleet/internal/jobspec"
)

// InferenceXLauncher runs an InferenceX job's script in the job's
// runtime, relative to the work directory.
const InferenceXLauncher = "scripts/server/inferencex.sh"

// Bounds on what is copied out of the workspace.
const (
	maxResultBytes = 64 << 20
	maxLogBytes    = 64 << 20 // logs longer than this keep their end
)

// runInferenceX runs one of InferenceX's benchmark scripts as its
// launchers do: the bundle unpacked into a fresh workspace, the script
// started by scripts/server/inferencex.sh with the workspace as
// /workspace, its environment contract and the port fleet chose. The
// script runs server and client itself; fleet watches /health on the
// port only to report progress and to hold the health and benchmark
// timeouts, then collects <workspace>/<result_filename>.json into
// results/, and server.log and gpu_metrics.csv into logs/.
func (r *runner) runInferenceX(ctx context.Context) error {
	x := r.j.InferenceX
	if _, err := os.Stat(filepath.Join(r.o.Dir, InferenceXLauncher)); err != nil {
		return fail(jobspec.ExitBadEnv, "no InferenceX launcher (%s)", InferenceXLauncher)
	}
	if err := r.prepare(); err != nil {
		return err
	}
	r.progress(jobspec.Progress{Phase: jobspec.PhaseStarting, Port: r.port})

	ws := filepath.Join(r.o.Dir, filepath.FromSlash(x.Workspace))
	if err := unpackBundle(filepath.Join(r.o.Dir, filepath.FromSlash(x.Bundle)), ws); err != nil {
		return fail(jobspec.ExitBadEnv, "unpack the InferenceX bundle %s into %s: %w", x.Bundle, x.Workspace, err)
	}
	if x.Client == jobspec.ClientFleet {
		self := r.o.Self
		if self == "" {
			self = filepath.Join(r.o.Dir, jobspec.BinPath)
		}
		if err := installFleetClient(ws, self); err != nil {
			return fail(jobspec.ExitBadEnv, "install fleet's client in the workspace: %w", err)
		}
	}
	defer r.collectLogs(ws)

	r.logf("running InferenceX script %s (client %s, result %s.json) on port %d", x.Script, x.Client, x.ResultFilename, r.port)
	scriptLog := filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.ScriptLogPath))
	if err := r.start(InferenceXLauncher, scriptLog, nil); err != nil {
		return fail(jobspec.ExitScriptFailed, "start InferenceX script %s: %w", x.Script, err)
	}
	defer r.stopServer()

	healthy, err := r.watchScript(ctx)
	if err != nil {
		return err // stopped, then its logs collected, by the deferred calls
	}
	// The script is over: what it left is what there is.
	r.collectLogs(ws)
	if st := exitStatus(r.serverStatus()); r.serverStatus() != nil {
		if r.portClash() {
			return r.clash()
		}
		when := "before its server became healthy"
		if healthy {
			when = "after its server became healthy"
		}
		r.logf("InferenceX script %s exited (%s) %s; last lines of %s:", x.Script, st, when, jobspec.ScriptLogPath)
		r.printTail(scriptLog)
		return fail(jobspec.ExitScriptFailed, "InferenceX script %s exited (%s) %s: %s", x.Script, st, when, lastLines(scriptLog, 3))
	}
	if r.j.Eval != nil && r.j.Eval.Only {
		return r.collectIXEval(ws) // an eval-only script leaves no result
	}
	name := x.ResultFilename + ".json"
	err = copyOut(filepath.Join(ws, name), filepath.Join(r.o.Dir, "results", name), maxResultBytes, false)
	if err != nil {
		r.logf("InferenceX script %s left no usable %s: %v; last lines of %s:", x.Script, name, err, jobspec.ScriptLogPath)
		r.printTail(scriptLog)
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("no %s in the workspace", name)
		}
		return fail(jobspec.ExitNoResult, "InferenceX script %s ended (status 0) without its result: %v: %s", x.Script, err, lastLines(scriptLog, 3))
	}
	r.logf("result saved in %s", filepath.Join("results", name))
	if r.j.Eval != nil {
		return r.collectIXEval(ws)
	}
	return nil
}

// watchScript waits for the script to end, probing /health on the port
// meanwhile: the first 200 is the end of the health phase and starts the
// benchmark timeout. It says whether the server became healthy.
func (r *runner) watchScript(ctx context.Context) (bool, error) {
	j := r.j
	r.progress(jobspec.Progress{Phase: jobspec.PhaseHealth, Port: r.port})
	started := time.Now()
	healthDeadline := time.NewTimer(j.HealthTimeout.D())
	defer healthDeadline.Stop()
	var benchDeadline <-chan time.Time
	b := newBackoff(r.o.HealthPoll)
	tick := time.NewTimer(b.pause())
	defer tick.Stop()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 3 * time.Second}
	defer client.CloseIdleConnections()
	url := fmt.Sprintf("http://127.0.0.1:%d/health", r.port)
	up := false
	for {
		select {
		case <-r.exited:
			return up, nil
		case <-ctx.Done():
			return up, ctx.Err()
		case <-healthDeadline.C:
			if up {
				continue
			}
			r.logf("the script's server not healthy after %s; last lines of %s:", j.HealthTimeout.D(), jobspec.ScriptLogPath)
			r.printTail(filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.ScriptLogPath)))
			return false, fail(jobspec.ExitHealthTimeout, "InferenceX script %s: server not healthy after %s", j.InferenceX.Script, j.HealthTimeout.D())
		case <-benchDeadline:
			r.logf("benchmark timed out after %s", j.BenchTimeout.D())
			return true, fail(jobspec.ExitBenchTimeout, "InferenceX script %s: benchmark timed out after %s", j.InferenceX.Script, j.BenchTimeout.D())
		case <-tick.C:
			if up {
				continue
			}
			if !healthy(ctx, client, url) {
				tick.Reset(b.pause())
				continue
			}
			up = true
			r.logf("server healthy after %s; the script runs its client", time.Since(started).Round(time.Second))
			r.progress(jobspec.Progress{Phase: jobspec.PhaseBenchmark, Port: r.port})
			t := time.NewTimer(j.BenchTimeout.D())
			defer t.Stop()
			benchDeadline = t.C
		}
	}
}

// collectLogs copies the script's server log and GPU samples from the
// workspace into logs/ (regular files only, bounded), when present. The
// server log then serves the port clash check and failure tails.
func (r *runner) collectLogs(ws string) {
	for _, c := range []struct{ from, to string }{
		{"server.log", "logs/server.log"}, {"gpu_metrics.csv", jobspec.GPUMetricsPath},
	} {
		err := copyOut(filepath.Join(ws, c.from), filepath.Join(r.o.Dir, filepath.FromSlash(c.to)), maxLogBytes, true)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			r.logf("not copied from the workspace: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.GPUMetricsPath))); err == nil {
		zone := scriptZone(r.j.Runtime, time.Now())
		if err := os.WriteFile(filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.GPUMetricsZonePath)), []byte(zone+"\n"), 0o644); err != nil {
			r.logf("GPU metrics zone: %v", err)
		}
	}
}

// scriptZone is the UTC offset of the script's clock: a docker container
// runs in UTC (fleet passes no TZ in); on the host, and in an enroot or
// pyxis container, which shares the host's /etc/localtime, it is the
// node's own zone.
func scriptZone(runtime string, now time.Time) string {
	if runtime == "docker" {
		return "0"
	}
	_, offset := now.Zone()
	return strconv.Itoa(offset)
}

// printTail copies the last lines of a log to the job's log.
func (r *runner) printTail(path string) {
	b, _ := filetail.Read(path, tailBytes)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range lines {
		fmt.Fprintln(r.o.Out, l)
	}
}

// lastLines is the last n non-empty lines of a log on one line, for a
// failure reason.
func lastLines(path string, n int) string {
	b, _ := filetail.Read(path, 8<<10)
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	if len(keep) == 0 {
		return "(its log is empty)"
	}
	s := strings.Join(keep, " | ")
	if len(s) > 400 {
		s = "..." + s[len(s)-397:]
	}
	return "last lines of " + jobspec.ScriptLogPath + ": " + s
}
