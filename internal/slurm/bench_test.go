package slurm_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/slurm"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/local"
	"github.com/fleetbench/fleet/internal/testrig"
)

// BenchmarkPollingCost compares the controller load of following 200
// queued jobs: the target's batched poller (one sacct call per poll for
// all jobs) against one squeue call per job per poll. Both run against the
// rig's real "rig" cluster with 200 held jobs, at a fixed poll interval;
// the figure is Slurm command invocations (controller RPCs) per minute.
//
//	go test ./internal/slurm -run '^$' -bench PollingCost -benchtime 1x
func BenchmarkPollingCost(b *testing.B) {
	const (
		jobs     = 200
		interval = time.Second
		window   = 6 * time.Second
	)
	r := testrig.Load(b)
	c := r.Cluster(b, "rig")
	host := &countingHost{Host: local.New("login"), calls: map[string]int{}}
	base := workBase(b)
	tg, err := slurm.New(host, slurm.Options{
		Name: "rig", WorkDir: base, CommandEnv: map[string]string{"SLURM_CONF": c.SlurmConf},
		SbatchArgs: []string{"--hold"}, Poll: interval, Shared: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close()
	ctx := context.Background()
	var hs []target.Handle
	b.Cleanup(func() {
		ids := make([]string, len(hs))
		for i, h := range hs {
			ids[i] = h.Ref
		}
		for len(ids) > 0 {
			n := min(len(ids), 100)
			r.Slurm(b, "rig", append([]string{"scancel"}, ids[:n]...)...)
			ids = ids[n:]
		}
	})
	for i := 0; i < jobs; i++ {
		spec := &target.Spec{RunID: "bench", JobID: fmt.Sprintf("held-%d", i), Attempt: 1, GPUs: 1, Command: []string{"true"}}
		h, err := tg.Prepare(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if h, err = tg.Start(ctx, spec, h); err != nil {
			b.Fatal(err)
		}
		hs = append(hs, h)
	}

	b.Run("batched", func(b *testing.B) {
		var calls int
		for i := 0; i < b.N; i++ {
			before := host.count("sacct") + host.count("squeue") + host.count("scontrol")
			wctx, cancel := context.WithTimeout(ctx, window)
			var wg sync.WaitGroup
			for _, h := range hs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := tg.Wait(wctx, h); err != nil && wctx.Err() == nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			cancel()
			calls += host.count("sacct") + host.count("squeue") + host.count("scontrol") - before
		}
		b.ReportMetric(float64(calls)/float64(b.N)*float64(time.Minute)/float64(window), "rpcs/min")
		b.ReportMetric(float64(window/interval), "polls/window")
	})

	b.Run("squeue-per-job", func(b *testing.B) {
		var round time.Duration
		for i := 0; i < b.N; i++ {
			start := time.Now()
			for _, h := range hs {
				var out bytes.Buffer
				cmd := "export SLURM_CONF=" + c.SlurmConf + "\nsqueue -h -t all -j " + h.Ref + " -o %T"
				if code, err := host.Exec(ctx, cmd, nil, &out, nil); err != nil || code != 0 || strings.TrimSpace(out.String()) != "PENDING" {
					b.Fatalf("squeue for %s: %d %v %q", h.Ref, code, err, out.String())
				}
			}
			round += time.Since(start)
		}
		// One squeue per job per poll, at the same interval.
		b.ReportMetric(float64(jobs)*float64(time.Minute)/float64(interval), "rpcs/min")
		b.ReportMetric(float64(round.Milliseconds())/float64(b.N), "ms/poll")
	})
}
