package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/target"
)

// ixCheckout writes a small InferenceX checkout with the given benchmark
// scripts under benchmarks/single_node/.
func ixCheckout(t *testing.T, scripts ...string) string {
	t.Helper()
	dir := t.TempDir()
	files := []string{"benchmarks/benchmark_lib.sh", "utils/bench_serving/benchmark_serving.py", "utils/process_result.py"}
	for _, s := range scripts {
		files = append(files, "benchmarks/single_node/"+s)
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("# "+f+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ixJobs are n jobs from one InferenceX single-node row, one per conc.
func ixJobs(n int, candidates ...string) []*plan.Job {
	jobs := jobsFor(n, candidates...)
	for _, j := range jobs {
		j.InferenceX = &inferencex.Job{
			Image: "lmsysorg/sglang:v0.5.16", Model: "org/m", ModelPrefix: "dsr1", Precision: "fp4", Framework: "sglang",
			Runner: "h200", ISL: 8192, OSL: 1024, TP: 8, PP: 1, DCPSize: 1, PCPSize: 1, EP: 1, Conc: []int{j.Conc},
			MaxModelLen: 9472, SpecDecoding: "none", ExpName: "dsr1_8k1k",
		}
		j.Framework = "sglang"
	}
	return jobs
}

// recordSpecs makes the engine's first machine record every spec it starts.
func recordSpecs(e *Engine, s *scriptedTarget) func() []*target.Spec {
	var mu sync.Mutex
	var specs []*target.Spec
	e.machines[0].Target = &recordingTarget{scriptedTarget: s, onStart: func(sp *target.Spec) { mu.Lock(); specs = append(specs, sp); mu.Unlock() }}
	return func() []*target.Spec { mu.Lock(); defer mu.Unlock(); return specs }
}

func TestInferenceXJobShipsTheBundleAndNamesItsScript(t *testing.T) {
	dir := ixCheckout(t, "fixed_seq_len/dsr1_fp4_h200.sh", "fixed_seq_len/dsr1_fp4_b200_sglang.sh")
	s := newScripted("p", ok)
	e := newEngine(t, t.TempDir(), Options{InferenceX: &IXOptions{Dir: dir}}, s)
	specs := recordSpecs(e, s)
	jobs := ixJobs(2, "p")
	sum, err := e.Run(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 0 || len(sum.Rows) != 2 {
		t.Fatalf("failed %d rows %d, want 0 and 2 (the row comes from the fetched result)", sum.Failed, len(sum.Rows))
	}
	var bundles []string
	for _, sp := range specs() {
		var bundle *target.File
		var job *jobspec.Job
		for i, f := range sp.Files {
			switch f.Path {
			case "ix.tar":
				bundle = &sp.Files[i]
			case jobspec.Path:
				p := filepath.Join(t.TempDir(), "job.json")
				os.WriteFile(p, f.Data, 0o644)
				if job, err = jobspec.Read(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		if bundle == nil || !bundle.Shared || bundle.Source == "" {
			t.Fatalf("%s: no shared bundle file ix.tar among the spec's files", sp.JobID)
		}
		raw, err := os.ReadFile(bundle.Source)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != bundle.Digest {
			t.Errorf("bundle digest %s is not its contents'", bundle.Digest)
		}
		bundles = append(bundles, bundle.Source)

		ix := job.InferenceX
		if ix == nil {
			t.Fatalf("%s: job file without an inferencex section", sp.JobID)
		}
		conc := job.Conc
		rf := "dsr1_8k1k_fp4_sglang_tp8-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc" + strconv.Itoa(conc) + "_p"
		if ix.Bundle != "ix.tar" || ix.Workspace != "ix" || ix.Client != ClientInferenceX || ix.ResultFilename != rf || job.ResultFilename != rf {
			t.Errorf("section %+v, job result %s; want bundle ix.tar, workspace ix, client inferencex, result %s", ix, job.ResultFilename, rf)
		}
		// h200's launchers run the bare script; the b200 one is another GPU's.
		if ix.Script != "benchmarks/single_node/fixed_seq_len/dsr1_fp4_h200.sh" {
			t.Errorf("script %s", ix.Script)
		}
		for k, want := range map[string]string{"RUNNER_NAME": "p", "RUNNER_TYPE": "h200", "RESULT_FILENAME": rf, "CONC": strconv.Itoa(conc), "GPU_COUNT": "8"} {
			if ix.Env[k] != want {
				t.Errorf("env %s=%q, want %q", k, ix.Env[k], want)
			}
		}
		want := []string{"results/" + rf + ".json", "logs/server.log", "logs/gpu_metrics.csv", "logs/gpu_metrics.zone", "logs/script.log", "job.log"}
		if strings.Join(sp.Outputs, " ") != strings.Join(want, " ") {
			t.Errorf("outputs %v, want %v", sp.Outputs, want)
		}
	}
	if len(bundles) != 2 || bundles[0] != bundles[1] {
		t.Errorf("bundles %v: want both jobs to ship the one built for the run", bundles)
	}
	if !strings.HasPrefix(bundles[0], filepath.Join(e.opts.Run.Path(), "inferencex")+string(filepath.Separator)) {
		t.Errorf("bundle at %s, want it in the run directory's inferencex/", bundles[0])
	}
	if left, _ := filepath.Glob(filepath.Join(e.opts.Run.Path(), "inferencex", "*")); len(left) != 1 {
		t.Errorf("run's inferencex/ holds %v, want one bundle", left)
	}
}

func TestInferenceXJobFailsBeforeStartingWhenItCannotRun(t *testing.T) {
	tests := []struct {
		name   string
		opts   *IXOptions
		reason []string
	}{
		{"no script for the row", &IXOptions{Dir: ixCheckout(t, "fixed_seq_len/dsr1_fp8_h200.sh")},
			[]string{"benchmarks/single_node/fixed_seq_len/dsr1_fp4_h200_sglang.sh", "benchmarks/single_node/fixed_seq_len/dsr1_fp4_h200.sh"}},
		{"no checkout", nil, []string{"no InferenceX checkout"}},
		{"a directory that is not a checkout", &IXOptions{Dir: t.TempDir()}, []string{"not an InferenceX checkout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScripted("p", ok)
			e := newEngine(t, t.TempDir(), Options{InferenceX: tt.opts, Retries: 2}, s)
			sum, err := e.Run(context.Background(), ixJobs(1, "p"))
			if err != nil {
				t.Fatal(err)
			}
			o := sum.Jobs[0]
			if o.State != journal.StateFailed {
				t.Fatalf("state %s, want failed", o.State)
			}
			for _, want := range tt.reason {
				if !strings.Contains(o.Reason, want) {
					t.Errorf("reason %q does not say %q", o.Reason, want)
				}
			}
			if len(s.started) != 0 {
				t.Errorf("started %v on the machine, want nothing", s.started)
			}
		})
	}
}

func TestInferenceXClientIsCheckedBeforeTheRun(t *testing.T) {
	s := newScripted("p", ok)
	e := newEngine(t, t.TempDir(), Options{InferenceX: &IXOptions{Dir: t.TempDir(), Client: "vllm-bench"}}, s)
	if _, err := e.Run(context.Background(), ixJobs(1, "p")); err == nil || !strings.Contains(err.Error(), "vllm-bench") {
		t.Fatalf("err %v, want the bad client named", err)
	}
	if len(s.started) != 0 {
		t.Errorf("started %v", s.started)
	}
}

func TestGPUMetricsZoneIsTheNodes(t *testing.T) {
	tests := []struct {
		file       string // contents; "-" for no file
		wantOffset int
	}{
		{"-", 0}, {"0\n", 0}, {"7200\n", 7200}, {"-18000", -18000}, {"bogus", 0}, {"999999", 0},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if tt.file != "-" {
			os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
			os.WriteFile(filepath.Join(dir, "logs", "gpu_metrics.zone"), []byte(tt.file), 0o644)
		}
		_, off := time.Date(2026, 12, 3, 12, 0, 0, 0, gpuMetricsZone(dir)).Zone()
		if off != tt.wantOffset {
			t.Errorf("zone file %q: offset %d, want %d", tt.file, off, tt.wantOffset)
		}
	}
}
