package main

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPlanFull runs `fleet plan` in-process on the full matrix
// (sweeps/full.hcl over the example inventory) and on the InferenceX
// checkout fixture's generated matrix, output discarded: the target is
// under 0.1 s each. s/plan is wall time; cpu-s/plan the CPU time of the
// process, which a busy machine does not inflate.
//
//	go test -run '^$' -bench PlanFull -benchtime 10x ./cmd/fleet/
func BenchmarkPlanFull(b *testing.B) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"full.hcl", []string{"plan", "../../sweeps/full.hcl", "--inventory", "../../inventory.hcl"}},
		{"inferencex", []string{"plan", "--inferencex", "../../internal/inferencex/testdata/checkout", "--inventory", "../../inventory.hcl"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var wall, cpu time.Duration
			for i := 0; i < b.N; i++ {
				start, cpu0 := time.Now(), processCPU()
				code, out, errs := runFleetContext(context.Background(), nil, c.args...)
				wall, cpu = wall+time.Since(start), cpu+processCPU()-cpu0
				if code != ExitOK || len(out) == 0 {
					b.Fatalf("fleet %v: exit %d\n%s", c.args, code, errs)
				}
			}
			b.ReportMetric(wall.Seconds()/float64(b.N), "s/plan")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/plan")
		})
	}
}

// processCPU is the CPU time (user and system) the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
