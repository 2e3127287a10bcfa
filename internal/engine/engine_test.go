package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/target"
)

// scriptedTarget is an in-memory machine for the scheduler's tests: each
// job's behaviour comes from a function of (job, attempt). It stands in for
// nothing the integration tests cover (those run real targets); it lets
// these tests put the scheduler into every situation cheaply.
type scriptedTarget struct {
	name   string
	behave func(jobID string, attempt int) (exit target.Exit, startErr error)
	delay  time.Duration

	mu       sync.Mutex
	started  []string
	running  int
	peak     int
	cancels  int
	exits    map[string]target.Exit
	inflight map[string]chan struct{}
}

func newScripted(name string, behave func(string, int) (target.Exit, error)) *scriptedTarget {
	return &scriptedTarget{name: name, behave: behave, exits: map[string]target.Exit{}, inflight: map[string]chan struct{}{}}
}

func (s *scriptedTarget) Name() string { return s.name }
func (s *scriptedTarget) Platform(context.Context) (target.Platform, error) {
	return target.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}, nil
}
func (s *scriptedTarget) Prepare(_ context.Context, spec *target.Spec) (target.Handle, error) {
	return target.Handle{Target: s.name, JobID: spec.JobID, Attempt: spec.Attempt, WorkDir: "/w/" + spec.JobID}, nil
}
func (s *scriptedTarget) Start(_ context.Context, spec *target.Spec, h target.Handle) (target.Handle, error) {
	ex, err := s.behave(spec.JobID, spec.Attempt)
	if err != nil {
		return h, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(s.started, fmt.Sprintf("%s#%d", spec.JobID, spec.Attempt))
	s.running++
	s.peak = max(s.peak, s.running)
	h.Ref = fmt.Sprintf("%d", len(s.started))
	s.exits[h.Ref] = ex
	s.inflight[h.Ref] = make(chan struct{})
	return h, nil
}
func (s *scriptedTarget) Wait(ctx context.Context, h target.Handle) (target.Exit, error) {
	s.mu.Lock()
	ch := s.inflight[h.Ref]
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.running--; s.mu.Unlock() }()
	select {
	case <-time.After(s.delay):
	case <-ch:
		return target.Exit{Code: 143, Signal: "SIGTERM"}, nil
	case <-ctx.Done():
		return target.Exit{Code: -1}, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exits[h.Ref], nil
}
func (s *scriptedTarget) Logs(context.Context, target.Handle, io.Writer) error { return nil }
func (s *scriptedTarget) Fetch(_ context.Context, h target.Handle, paths []string, dir string) ([]string, error) {
	s.mu.Lock()
	ex := s.exits[h.Ref]
	s.mu.Unlock()
	if ex.Code != 0 && ex.Code != jobspec.ExitFailureRatio {
		return nil, nil
	}
	p := filepath.Join(dir, paths[0])
	os.MkdirAll(filepath.Dir(p), 0o755)
	if paths[0] == jobspec.RendezvousPath {
		// A multi-node job's head says where its rendezvous listens.
		return paths[:1], os.WriteFile(p, []byte(`{"addrs":["198.18.0.11:4000"]}`), 0o600)
	}
	body := `{"model_id":"org/m","max_concurrency":4,"completed":10,"total_token_throughput":800,"output_throughput":400,"median_ttft_ms":50,"median_tpot_ms":10}`
	return paths[:1], os.WriteFile(p, []byte(body), 0o644)
}
func (s *scriptedTarget) Cancel(_ context.Context, h target.Handle) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancels++
	if ch, ok := s.inflight[h.Ref]; ok {
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
	return nil
}
func (s *scriptedTarget) Cleanup(context.Context, target.Handle) error { return nil }
func (s *scriptedTarget) Close() error                                 { return nil }

func ok(string, int) (target.Exit, error) { return target.Exit{}, nil }

func jobsFor(n int, candidates ...string) []*plan.Job {
	var out []*plan.Job
	for i := 0; i < n; i++ {
		out = append(out, &plan.Job{
			ID: fmt.Sprintf("cfg/1k1k/tp8/conc%d", 4<<i), Config: "cfg", Model: "org/m", ModelPrefix: "m", Seq: "1k1k", Precision: "fp8",
			Framework: "sim", TP: 8, EP: 1, Conc: 4 << i, ISL: 1024, OSL: 1024, MaxModelLen: 2304, RangeRatio: 0.8,
			NumPrompts: 40, NumWarmups: 8, Candidates: candidates,
		})
	}
	return out
}

// runDir creates (or, to resume, opens) the run "run" under results and
// closes it when the test ends.
func runDir(t *testing.T, results string, resume bool) *run.Dir {
	t.Helper()
	var d *run.Dir
	var err error
	if resume {
		d, err = run.Open(results, "run")
	} else {
		d, err = run.Create(results, run.Info{RunID: "run"})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// newEngine returns an engine over ts whose run lives under results
// (results/run).
func newEngine(t *testing.T, results string, opts Options, ts ...*scriptedTarget) *Engine {
	t.Helper()
	var ms []*machine.Machine
	for _, s := range ts {
		ms = append(ms, &machine.Machine{Name: s.name, GPU: "h200", GPUs: 8, Target: s})
	}
	opts.Run = runDir(t, results, opts.Resume)
	opts.Binaries = &agentbin.Finder{Self: os.Args[0]}
	opts.Logger = log.New(io.Discard)
	opts.Backoff = time.Millisecond
	return New(ms, opts)
}

func states(s *run.Summary) map[string]string {
	m := map[string]string{}
	for _, o := range s.Jobs {
		m[o.Job] = o.State
	}
	return m
}

func TestEveryJobRunsOnceAndMachinesRunInParallel(t *testing.T) {
	a, b := newScripted("a", ok), newScripted("b", ok)
	a.delay, b.delay = 20*time.Millisecond, 20*time.Millisecond
	sum, err := newEngine(t, t.TempDir(), Options{}, a, b).Run(context.Background(), jobsFor(6, "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 0 || len(sum.Rows) != 6 {
		t.Fatalf("failed=%d rows=%d, want 0 and 6", sum.Failed, len(sum.Rows))
	}
	if len(a.started) == 0 || len(b.started) == 0 || len(a.started)+len(b.started) != 6 {
		t.Fatalf("starts a=%v b=%v: want the 6 jobs spread over both", a.started, b.started)
	}
	if a.peak != 1 || b.peak != 1 {
		t.Fatalf("a machine ran %d/%d jobs at once; exclusive by default means 1", a.peak, b.peak)
	}
}

func TestTransientFailuresAreRetriedElsewhereAndFinalOnesAreNot(t *testing.T) {
	flaky := newScripted("flaky", func(string, int) (target.Exit, error) {
		return target.Exit{}, target.Transient(errors.New("connection lost"))
	})
	good := newScripted("good", func(id string, _ int) (target.Exit, error) {
		if id == "cfg_1k1k_tp8_conc4" {
			return target.Exit{Code: 11}, nil // health timeout: the job's fault
		}
		return target.Exit{}, nil
	})
	good.delay = 30 * time.Millisecond
	sum, err := newEngine(t, t.TempDir(), Options{Retries: 2}, flaky, good).Run(context.Background(), jobsFor(3, "flaky", "good"))
	if err != nil {
		t.Fatal(err)
	}
	st := states(sum)
	if st["cfg/1k1k/tp8/conc4"] != journal.StateFailed {
		t.Errorf("job with a final failure: %s, want failed", st["cfg/1k1k/tp8/conc4"])
	}
	for _, id := range []string{"cfg/1k1k/tp8/conc8", "cfg/1k1k/tp8/conc16"} {
		if st[id] != journal.StateDone {
			t.Errorf("%s: %s, want done after a retry on the good machine", id, st[id])
		}
	}
	finalRuns := 0
	for _, s := range good.started {
		if strings.HasPrefix(s, "cfg_1k1k_tp8_conc4#") {
			finalRuns++
		}
	}
	if finalRuns != 1 {
		t.Errorf("the job that failed for good ran %d times on the good machine, want 1: %v", finalRuns, good.started)
	}
}

func TestMachineThatKeepsFailingIsSetAside(t *testing.T) {
	var calls int
	var mu sync.Mutex
	bad := newScripted("bad", func(string, int) (target.Exit, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return target.Exit{}, target.Transient(errors.New("unreachable"))
	})
	sum, err := newEngine(t, t.TempDir(), Options{Retries: 10, SetAsideAfter: 2}, bad).Run(context.Background(), jobsFor(4, "bad"))
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("machine tried %d times, want 2 before it is set aside", calls)
	}
	if sum.Failed != 4 {
		t.Errorf("failed = %d, want all 4 (no machine left)", sum.Failed)
	}
}

func TestCancelStopsRunningJobsAndLeavesTheRestUnstarted(t *testing.T) {
	slow := newScripted("slow", ok)
	slow.delay = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	sum, err := newEngine(t, t.TempDir(), Options{}, slow).Run(ctx, jobsFor(3, "slow"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if slow.cancels != 1 {
		t.Errorf("cancels = %d, want 1 (the running job)", slow.cancels)
	}
	var got []string
	for _, s := range states(sum) {
		got = append(got, s)
	}
	sort.Strings(got)
	if fmt.Sprint(got) != "[cancelled cancelled cancelled]" {
		t.Errorf("states = %v", got)
	}
}

func TestResumeSkipsJobsAlreadyDone(t *testing.T) {
	dir := t.TempDir()
	first := newScripted("a", func(id string, _ int) (target.Exit, error) {
		if id == "cfg_1k1k_tp8_conc16" {
			return target.Exit{Code: 13}, nil
		}
		return target.Exit{}, nil
	})
	e := newEngine(t, dir, Options{}, first)
	if _, err := e.Run(context.Background(), jobsFor(3, "a")); err != nil {
		t.Fatal(err)
	}
	e.opts.Run.Close() // the controller exits; the next one resumes
	second := newScripted("a", ok)
	sum, err := newEngine(t, dir, Options{Resume: true}, second).Run(context.Background(), jobsFor(3, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(second.started) != "[cfg_1k1k_tp8_conc16#2]" {
		t.Errorf("resume started %v, want only the failed job, as attempt 2", second.started)
	}
	if sum.Failed != 0 || len(sum.Rows) != 3 {
		t.Errorf("after resume failed=%d rows=%d, want 0 and 3", sum.Failed, len(sum.Rows))
	}
}

func TestPackingRunsJobsOnDisjointGPUs(t *testing.T) {
	var mu sync.Mutex
	var specs []*target.Spec
	s := newScripted("p", ok)
	s.delay = 50 * time.Millisecond
	e := newEngine(t, t.TempDir(), Options{}, s)
	e.machines[0].Packing = true
	rec := &recordingTarget{scriptedTarget: s, onStart: func(sp *target.Spec) { mu.Lock(); specs = append(specs, sp); mu.Unlock() }}
	e.machines[0].Target = rec
	jobs := jobsFor(4, "p")
	for _, j := range jobs {
		j.TP = 4
	}
	if _, err := e.Run(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	if s.peak != 2 {
		t.Fatalf("peak jobs at once = %d, want 2 tp4 jobs on 8 GPUs", s.peak)
	}
	for _, sp := range specs {
		if len(sp.Devices) != 4 || sp.Env["CUDA_VISIBLE_DEVICES"] == "" {
			t.Errorf("job %s got devices %v env %q", sp.JobID, sp.Devices, sp.Env["CUDA_VISIBLE_DEVICES"])
		}
	}
}

type recordingTarget struct {
	*scriptedTarget
	onStart func(*target.Spec)
}

func (r *recordingTarget) Start(ctx context.Context, spec *target.Spec, h target.Handle) (target.Handle, error) {
	r.onStart(spec)
	return r.scriptedTarget.Start(ctx, spec, h)
}

// flakyCancel fails its first cancels, as an unreachable machine does.
type flakyCancel struct {
	*scriptedTarget
	failures int
}

func (f *flakyCancel) Cancel(ctx context.Context, h target.Handle) error {
	f.mu.Lock()
	if f.failures > 0 {
		f.failures--
		f.mu.Unlock()
		return target.Transient(errors.New("no route to host"))
	}
	f.mu.Unlock()
	return f.scriptedTarget.Cancel(ctx, h)
}

func TestJobsLeftRunningByAFailedCancelAreKilledLater(t *testing.T) {
	lost := newScripted("a", ok)
	lost.delay = time.Hour
	tg := &flakyCancel{scriptedTarget: lost, failures: 1}
	e := newEngine(t, t.TempDir(), Options{}, lost)
	e.machines[0].Target = tg
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := e.Run(ctx, jobsFor(1, "a")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	// The cancel at the job's end failed; the one at the run's end worked.
	if lost.cancels != 1 || tg.failures != 0 || len(e.Orphans()) != 0 {
		t.Fatalf("cancels=%d failures left=%d orphans=%v; want the job killed on the second try", lost.cancels, tg.failures, e.Orphans())
	}
}

func TestARetriedJobKeepsOnlyTheResultOfTheAttemptThatCounts(t *testing.T) {
	dir := t.TempDir()
	// The first machine's node "dies" after the result was written: the
	// attempt brings a result back but ends NODE_FAIL.
	dying := newScripted("dying", func(string, int) (target.Exit, error) { return target.Exit{State: "NODE_FAIL"}, nil })
	good := newScripted("good", ok)
	e := newEngine(t, dir, Options{Retries: 1}, dying, good)
	jobs := jobsFor(1, "dying", "good")
	sum, err := e.Run(context.Background(), jobs)
	if err != nil || sum.Failed != 0 {
		t.Fatalf("run: %v, failed %d", err, sum.Failed)
	}
	results, _ := filepath.Glob(filepath.Join(dir, "run", "jobs", run.JobDirName(jobs[0].ID), "results", "*.json"))
	if len(results) != 1 || !strings.HasSuffix(results[0], "_good.json") {
		t.Fatalf("results = %v, want only the good attempt's", results)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "run", "jobs", run.JobDirName(jobs[0].ID), "attempts", "1", "results", "*_dying.json"))
	if len(aside) != 1 {
		t.Fatalf("the failed attempt's outputs were not kept aside")
	}
}
