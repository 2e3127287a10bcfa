package engine

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/fleetbench/fleet/internal/atomicfile"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/target"
)

// traces packs each agentic trace a run replays once: a JSONL file ships
// as it is; a directory of one-trace .json files becomes one JSONL file
// in the run directory. Every job of the run that replays it ships the
// same file, cached on each machine by content.
type traces struct {
	mu     sync.Mutex
	packed map[string]target.File // by the trace's path on the controller
}

// agentic is the job file's agentic section of js and the trace file to
// ship with it (none when the job reads an HF dataset on the node).
func (e *Engine) agentic(js *jobState) (*jobspec.Agentic, []target.File, error) {
	a := js.job.Agentic
	section := &jobspec.Agentic{
		Dataset:          a.Dataset,
		Duration:         jobspec.Duration(int64(a.DurationS) * 1e9),
		WarmupPerLane:    a.WarmupPerLane,
		KVOffloading:     a.KVOffloading,
		KVOffloadBackend: a.KVOffloadBackend,
		DramGB:           a.DramGB,
	}
	if a.Trace == "" {
		return section, nil, nil
	}
	f, err := e.traceFile(a.Trace)
	if err != nil {
		return nil, nil, fmt.Errorf("job %s: trace %s: %w", js.job.ID, a.Trace, err)
	}
	section.Trace = jobspec.AgenticTracePath
	return section, []target.File{f}, nil
}

// agenticEnv is the environment an agentic job adds for the launchers
// (scripts/README.md, "Agentic jobs").
func agenticEnv(j *plan.Job) map[string]string {
	env := j.Agentic.Env()
	if j.Agentic.Trace != "" {
		env["AGENTIC_TRACE"] = jobspec.AgenticTracePath
	}
	return env
}

func (e *Engine) traceFile(path string) (target.File, error) {
	e.traces.mu.Lock()
	defer e.traces.mu.Unlock()
	if f, ok := e.traces.packed[path]; ok {
		return f, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return target.File{}, err
	}
	src := path
	if fi.IsDir() {
		if src, err = e.packTraceDir(path); err != nil {
			return target.File{}, err
		}
	}
	digest, err := fileDigest(src)
	if err != nil {
		return target.File{}, err
	}
	f := target.File{Path: jobspec.AgenticTracePath, Mode: 0o644, Source: src, Digest: digest, Shared: true}
	if e.traces.packed == nil {
		e.traces.packed = map[string]target.File{}
	}
	e.traces.packed[path] = f
	return f, nil
}

// packTraceDir writes a directory's .json traces, in name order, as one
// JSONL file (a trace per line) into the run directory's traces/.
func (e *Engine) packTraceDir(dir string) (string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", fmt.Errorf("no .json trace in %s", dir)
	}
	sort.Strings(names)
	var out bytes.Buffer
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return "", err
		}
		var line bytes.Buffer
		if err := json.Compact(&line, b); err != nil {
			return "", fmt.Errorf("%s: %w", n, err)
		}
		out.Write(line.Bytes())
		out.WriteByte('\n')
	}
	sum := sha256.Sum256(out.Bytes())
	dst := filepath.Join(e.opts.Run.Path(), "traces", hex.EncodeToString(sum[:8])+".jsonl")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	if err := atomicfile.WriteBytes(dst, out.Bytes(), 0o644); err != nil {
		return "", err
	}
	e.log.Info("agentic traces packed", "dir", dir, "traces", len(names), "file", dst)
	return dst, nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, bufio.NewReader(f)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// aggregateAgentic reads the aggregated row an agentic job's client
// wrote (InferenceX's agentic row) and keeps it as the job's row.
func (e *Engine) aggregateAgentic(js *jobState, m *machine.Machine, jobDir string, raw []byte) (*results.Row, error) {
	row, err := results.ParseAgenticRow(raw)
	if err != nil {
		return nil, err
	}
	row.RunID, row.JobID, row.Node = e.opts.Run.ID(), js.job.ID, m.Name
	row.SetFingerprint(js.job.Fingerprint)
	return row, writeRow(jobDir, row)
}

// benchTimeout bounds a job's client: the sweep's benchmark timeout, or
// for an agentic job at least its replay's duration with room for the
// warmup and the requests in flight at its end.
func (e *Engine) benchTimeout(j *plan.Job) time.Duration {
	t := e.opts.Timeouts.Benchmark
	if j.Agentic != nil {
		d := time.Duration(j.Agentic.DurationS) * time.Second
		t = max(t, d+d/4+10*time.Minute)
	}
	return t
}

// jobTimeout bounds a whole job: the sweep's, with an agentic job's longer
// client added.
func (e *Engine) jobTimeout(j *plan.Job) time.Duration {
	if d, ok := e.canaryTimeout(j); ok {
		return d
	}
	return e.opts.Timeouts.Job + e.benchTimeout(j) - e.opts.Timeouts.Benchmark + e.evalTimeout(j)
}
