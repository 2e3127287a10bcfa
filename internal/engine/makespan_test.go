package engine

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/target"
)

// timedTarget runs each job for a duration given per job, scaled down:
// the makespan benchmark measures the scheduler's placement, not servers.
type timedTarget struct {
	*scriptedTarget
	dur map[string]time.Duration
}

func (t *timedTarget) Wait(ctx context.Context, h target.Handle) (target.Exit, error) {
	t.mu.Lock()
	t.running--
	t.mu.Unlock()
	select {
	case <-time.After(t.dur[h.JobID]):
		return target.Exit{}, nil
	case <-ctx.Done():
		return target.Exit{Code: -1}, ctx.Err()
	}
}

// mixedTPSweep is a sim sweep of tp 1, 2, 4 and 8 at concurrencies 4..64
// over three sequence-length pairs: 60 jobs whose estimated durations
// differ by more than ten times.
func mixedTPSweep() []*plan.Job {
	var jobs []*plan.Job
	for _, seq := range []struct {
		name     string
		isl, osl int
	}{{"1k1k", 1024, 1024}, {"1k8k", 1024, 8192}, {"8k1k", 8192, 1024}} {
		for _, tp := range []int{1, 2, 4, 8} {
			for _, conc := range []int{4, 8, 16, 32, 64} {
				j := &plan.Job{Config: "llama70b-fp8-h200-vllm", Model: "meta-llama/Llama-3.3-70B-Instruct", ModelPrefix: "llama70b", Precision: "fp8", Framework: "vllm",
					Runner: []string{"h200"}, GPU: "h200", Seq: seq.name, ISL: seq.isl, OSL: seq.osl, TP: tp, EP: 1, Conc: conc,
					NumPrompts: 10 * conc, NumWarmups: 2 * conc, MaxModelLen: seq.isl + seq.osl + 256, RangeRatio: 0.8}
				j.ID = plan.JobID(j)
				jobs = append(jobs, j)
			}
		}
	}
	return jobs
}

// wideMixSweep is the second packing instance: 200 sim jobs with tp 1, 2,
// 4 and 8 drawn at random (a fixed seed), each with its own sequence
// lengths, concurrency and prompt count, so that durations spread over
// two orders of magnitude and no width comes in tidy groups.
func wideMixSweep() []*plan.Job {
	rng := rand.New(rand.NewPCG(17, 3))
	seqs := []struct{ isl, osl int }{{128, 256}, {1024, 1024}, {1024, 8192}, {8192, 1024}, {4096, 512}, {512, 4096}}
	var jobs []*plan.Job
	for i := range 200 {
		seq := seqs[rng.IntN(len(seqs))]
		tp := []int{1, 2, 4, 8}[rng.IntN(4)]
		conc := []int{1, 4, 16, 64, 256}[rng.IntN(5)]
		j := &plan.Job{Config: fmt.Sprintf("mix-%03d", i), Model: "meta-llama/Llama-3.3-70B-Instruct", ModelPrefix: "llama70b", Precision: "fp8", Framework: "vllm",
			Runner: []string{"h200"}, GPU: "h200", Seq: fmt.Sprintf("%d-%d", seq.isl, seq.osl), ISL: seq.isl, OSL: seq.osl, TP: tp, EP: 1, Conc: conc,
			NumPrompts: (2 + rng.IntN(10)) * conc, NumWarmups: conc, MaxModelLen: seq.isl + seq.osl + 256, RangeRatio: 0.8}
		j.ID = plan.JobID(j)
		jobs = append(jobs, j)
	}
	return jobs
}

// makespanInstance is a sweep and how fast to run it: scale is the wall
// time of one estimated hour.
type makespanInstance struct {
	name  string
	jobs  []*plan.Job
	scale time.Duration
}

// lowerBound is no schedule's makespan can beat, in estimated hours:
// total GPU-time over the GPUs, or the longest job if that is more.
func lowerBound(jobs []*plan.Job, gpus int) float64 {
	var gpuHours, longest float64
	for _, j := range jobs {
		est := plan.Estimate(j).Hours()
		gpuHours += est * float64(j.GPUs())
		longest = max(longest, est)
	}
	return max(gpuHours/float64(gpus), longest)
}

// BenchmarkMakespan measures how close to the lower bound (total
// GPU-time / GPUs, or the longest job if that is more) a sweep ends on 4
// nodes of 8 GPUs, on two instances: mixed60 (60 jobs, tp 1-8 in regular
// groups) and mix200 (200 jobs, tp and durations drawn at random). Jobs
// last their plan.Estimate; figures are in estimated hours or multiples
// of the lower bound (x-lower-bound).
//
// <instance>/policy is exact: the scheduling policy alone, run by
// simulate against a clock of its own, for packing (packing.go), for the
// first-fit policy it replaced (firstFit, in packing_test.go) and for
// exclusive nodes (one job per node, the default).
//
// <instance>/engine-packing and engine-exclusive run the real engine on
// scripted targets whose jobs sleep for their estimate, scaled so that
// the lower bound lasts about 3 s of wall time. They add the engine's
// per-job cost (the job directory's files, the journal's and the row's
// syncs: milliseconds a job on an idle disk, far more on a busy one,
// magnified by the scale some thousand times over real jobs) and whatever
// else the machine runs at the time, so they vary from run to run where
// the policy figures do not.
//
//	go test -run '^$' -bench Makespan -benchtime 1x -count 3 ./internal/engine/
func BenchmarkMakespan(b *testing.B) {
	for _, in := range []makespanInstance{
		{"mixed60", mixedTPSweep(), 0},
		{"mix200", wideMixSweep(), 0},
	} {
		for _, j := range in.jobs {
			j.Candidates = []string{"node0", "node1", "node2", "node3"}
		}
		lower := lowerBound(in.jobs, 32)
		b.Run(in.name+"/policy", func(b *testing.B) {
			var packing, firstfit, exclusive time.Duration
			for b.Loop() {
				packing, _ = simulate(b, nodes(4, 8), in.jobs, estimated, nil, true)
				firstfit, _ = simulate(b, nodes(4, 8), in.jobs, estimated, firstFit, false)
				excl := nodes(4, 8)
				for _, m := range excl {
					m.Packing = false
				}
				exclusive, _ = simulate(b, excl, in.jobs, estimated, nil, true)
			}
			b.ReportMetric(lower, "lower-bound-hours")
			b.ReportMetric(packing.Hours()/lower, "packing-x-lower-bound")
			b.ReportMetric(firstfit.Hours()/lower, "firstfit-x-lower-bound")
			b.ReportMetric(exclusive.Hours()/lower, "exclusive-x-lower-bound")
		})
		if in.scale == 0 {
			in.scale = time.Duration(3 * float64(time.Second) / lower)
		}
		dur := map[string]time.Duration{}
		for _, j := range in.jobs {
			dur[run.JobDirName(j.ID)] = time.Duration(plan.Estimate(j).Hours() * float64(in.scale))
		}
		for _, packing := range []bool{true, false} {
			name := in.name + "/engine-exclusive"
			if packing {
				name = in.name + "/engine-packing"
			}
			b.Run(name, func(b *testing.B) {
				var total time.Duration
				for i := 0; i < b.N; i++ {
					total += runMakespan(b, in.jobs, dur, packing)
				}
				makespan := float64(total/time.Duration(b.N)) / float64(in.scale)
				b.ReportMetric(makespan, "est-hours")
				b.ReportMetric(lower, "lower-bound-hours")
				b.ReportMetric(makespan/lower, "x-lower-bound")
			})
		}
	}
}

// runMakespan runs jobs on 4 nodes of 8 GPUs and returns the wall time.
func runMakespan(b *testing.B, jobs []*plan.Job, dur map[string]time.Duration, packing bool) time.Duration {
	var ms []*machine.Machine
	for n := 0; n < 4; n++ {
		s := newScripted(fmt.Sprintf("node%d", n), ok)
		ms = append(ms, &machine.Machine{Name: s.name, GPU: "h200", GPUs: 8, Packing: packing, Target: &timedTarget{s, dur}})
	}
	for _, j := range jobs {
		j.Candidates = []string{"node0", "node1", "node2", "node3"}
	}
	d, err := run.Create(b.TempDir(), run.Info{RunID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	e := New(ms, Options{Run: d, Binaries: &agentbin.Finder{Self: os.Args[0]}, Logger: log.New(io.Discard)})
	start := time.Now()
	sum, err := e.Run(context.Background(), jobs)
	if err != nil || sum.Failed != 0 {
		b.Fatalf("run: %v, %d failed", err, sum.Failed)
	}
	return time.Since(start)
}
