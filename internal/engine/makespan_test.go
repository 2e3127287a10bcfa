package engine

import (
	"context"
	"fmt"
	"io"
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

// BenchmarkMakespan compares the time a mixed-tp sweep takes on 4 nodes of
// 8 GPUs with exclusive placement (one job per node, the default) and with
// packing (jobs on disjoint GPUs), against the lower bound: total
// GPU-time / GPUs, or the longest job if that is more. Durations are
// plan.Estimate's, scaled so that an hour of estimated time runs in 200 ms;
// the reported figures are in estimated hours.
func BenchmarkMakespan(b *testing.B) {
	const scale = 200 * time.Millisecond // per estimated hour
	jobs := mixedTPSweep()
	dur := map[string]time.Duration{}
	var gpuHours, longest float64
	for _, j := range jobs {
		est := plan.Estimate(j)
		dur[run.JobDirName(j.ID)] = time.Duration(est.Hours() * float64(scale))
		gpuHours += est.Hours() * float64(j.GPUs())
		longest = max(longest, est.Hours())
	}
	lower := max(gpuHours/32, longest)
	for _, packing := range []bool{false, true} {
		name := "exclusive"
		if packing {
			name = "packing"
		}
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
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
				e := New(ms, Options{Run: d, Binaries: &agentbin.Finder{Self: os.Args[0]}, Logger: log.New(io.Discard)})
				start := time.Now()
				sum, err := e.Run(context.Background(), jobs)
				if err != nil || sum.Failed != 0 {
					b.Fatalf("run: %v, %d failed", err, sum.Failed)
				}
				total += time.Since(start)
				d.Close()
			}
			makespan := float64(total/time.Duration(b.N)) / float64(scale)
			b.ReportMetric(makespan, "est-hours")
			b.ReportMetric(lower, "lower-bound-hours")
			b.ReportMetric(makespan/lower, "x-lower-bound")
		})
	}
}
