package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/target"
)

// plantLargeRun writes a run directory of n done jobs, each with the
// fixture's row and a journal of one attempt, as a sweep leaves it.
func plantLargeRun(b *testing.B, n int) string {
	b.Helper()
	row, err := os.ReadFile(filepath.Join(fixtureDir, "jobs", "llama70b-fp8-h200-sglang_1k1k_tp8-ep1-dpafalse_conc16", "row.json"))
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "20261101-120000-large")
	info, _ := json.Marshal(map[string]any{"run_id": filepath.Base(dir), "jobs": n, "started": "2026-11-01T12:00:00Z", "sweep": "sweeps/large.hcl"})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, run.InfoFile), info, 0o644); err != nil {
		b.Fatal(err)
	}
	jr, err := journal.Open(filepath.Join(dir, run.JournalFile))
	if err != nil {
		b.Fatal(err)
	}
	defer jr.Close()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var entries []journal.Entry
	for i := range n {
		id := fmt.Sprintf("llama70b-fp8-h200-sglang/1k1k/tp8-ep1-dpafalse/conc%d", i)
		jobDir := run.JobDirName(id)
		if err := os.MkdirAll(filepath.Join(dir, "jobs", jobDir), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "jobs", jobDir, "row.json"), row, 0o644); err != nil {
			b.Fatal(err)
		}
		at := t0.Add(time.Duration(i) * time.Second)
		entries = append(entries,
			journal.Entry{Time: at, Job: id, Config: "llama70b-fp8-h200-sglang", GPU: "h200", State: journal.StateQueued},
			journal.Entry{Time: at, Job: id, Attempt: 1, Node: "h200-a", State: journal.StatePreparing},
			journal.Entry{Time: at, Job: id, Attempt: 1, Node: "h200-a", State: journal.StateRunning, Handle: &target.Handle{Target: "h200-a", Ref: "1"}},
			journal.Entry{Time: at, Job: id, Attempt: 1, Node: "h200-a", State: journal.StateFetching, Exit: &target.Exit{}},
			journal.Entry{Time: at, Job: id, Attempt: 1, Node: "h200-a", State: journal.StateDone, Exit: &target.Exit{}, Result: "jobs/" + jobDir + "/row.json"})
	}
	if err := jr.AppendAll(entries); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkImportRun1000 imports a run of 1,000 done jobs into a new
// store, as a sweep's last index or fleet report does: the target is
// under a second. s/import is wall time; cpu-s/import the CPU time the
// process spent (all cores), which a busy machine does not inflate.
//
//	go test -run '^$' -bench ImportRun1000 -benchtime 5x ./internal/store/
func BenchmarkImportRun1000(b *testing.B) {
	dir := plantLargeRun(b, 1000)
	ctx := context.Background()
	var total, cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, err := Open(ctx, filepath.Join(b.TempDir(), FileName))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		stats, err := s.ImportRun(ctx, dir)
		total, cpu = total+time.Since(start), cpu+cpuTime()-cpu0
		if err != nil || stats.Jobs != 1000 || stats.Rows != 1000 {
			b.Fatalf("import: %+v, %v", stats, err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/import")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/import")
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
