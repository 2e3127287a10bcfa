package store

import (
	"bytes"
	"context"
	"database/sql"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
)

func TestImportRefusesExtremeNumbersAndBadRunIDsNamingFileAndField(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, content, field string
		opts                 ImportOptions
	}{
		{"a row with a throughput beyond reason", `{"hw":"h200","tp":8,"tput_per_gpu":1e300}`, "tput_per_gpu", ImportOptions{}},
		{"a row whose tp wrapped", `{"hw":"h200","tp":-9223372036854775808,"tput_per_gpu":1}`, "tp", ImportOptions{}},
		{"a row with a negative failed count", `{"hw":"h200","tp":8,"tput_per_gpu":1,"failed":-3}`, "failed", ImportOptions{}},
		{"the second row of a list", `[{"hw":"h200","tp":8,"tput_per_gpu":1},{"hw":"h200","tp":8,"tput_per_gpu":1,"median_ttft":-1e300}]`, "row 2: median_ttft", ImportOptions{}},
		{"a client result whose input throughput overflows", `{"hw":"h200","tp":8,"total_token_throughput":1.7e308,"output_throughput":-1.7e308}`, "tput_per_gpu", ImportOptions{}},
		{"a client result whose completed count would wrap", `{"hw":"h200","tp":8,"total_token_throughput":1,"completed":1e19}`, "completed", ImportOptions{}},
		{"a row naming a run outside results/", `{"hw":"h200","tp":8,"tput_per_gpu":1,"run_id":"../../x"}`, "run_id", ImportOptions{}},
		{"a --run that is not a run id", `{"hw":"h200","tp":8,"tput_per_gpu":1}`, "run id", ImportOptions{RunID: "../x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			p := filepath.Join(t.TempDir(), "hostile.json")
			os.WriteFile(p, []byte(tc.content), 0o644)
			_, err := s.ImportFiles(ctx, []string{p}, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.field) || (tc.opts.RunID == "" && !strings.Contains(err.Error(), p)) {
				t.Fatalf("import = %v, want an error naming %s and %s", err, p, tc.field)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM jobs`); n != 0 {
				t.Fatalf("%d jobs reached the store", n)
			}
		})
	}
}

func TestImportSkipsAHostileFileFoundWhileWalkingAndSaysWhy(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.json"), []byte(`{"hw":"h200","tp":8,"tput_per_gpu":1,"run_id":"r","job_id":"a"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"hw":"h200","tp":8,"tput_per_gpu":1e300,"run_id":"r","job_id":"b"}`), 0o644)
	s := openTemp(t)
	rep, err := s.ImportFiles(context.Background(), []string{dir}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(FileImported) != 1 || rep.Count(FileSkipped) != 1 {
		t.Fatalf("report: %+v", rep.Files)
	}
	for _, f := range rep.Files {
		if f.Status == FileSkipped && !strings.Contains(f.Note, "tput_per_gpu") {
			t.Errorf("skipped without naming the field: %+v", f)
		}
	}
}

// FuzzImportParse feeds arbitrary bytes to the parser of imported files:
// it must not panic, and what it accepts must be a checked row in a run
// whose id can name a directory.
func FuzzImportParse(f *testing.F) {
	for _, seed := range []string{
		`{"hw":"h200","tp":8,"ep":1,"conc":4,"tput_per_gpu":100,"median_ttft":0.05,"run_id":"r","job_id":"j"}`,
		`[{"hw":"h200","tp":8,"tput_per_gpu":1},{"hw":"h200","tp":8,"tput_per_gpu":2}]`,
		`{"hw":"h200","tp":8,"total_token_throughput":16000,"output_throughput":8000,"completed":640,"median_tpot_ms":20,"date":"20261129-101010"}`,
		`{"hw":"h200","tp":8,"total_token_throughput":1.7e308,"output_throughput":-1.7e308}`,
		`{"hw":"h200","tp":8,"tput_per_gpu":1,"run_id":"../../x"}`,
	} {
		f.Add([]byte(seed), "")
	}
	f.Fuzz(func(t *testing.T, raw []byte, runID string) {
		cands, err := parseResults(raw, "/in/llama70b_1k1k_fp8_vllm_tp8-ep1-dpafalse_conc4_h200-cw_0.json", "/in", ImportOptions{RunID: runID})
		if err != nil {
			return
		}
		for _, c := range cands {
			for _, r := range c.job.Rows {
				if err := r.Check(); err != nil {
					t.Fatalf("accepted a row that fails its check: %v", err)
				}
			}
			if err := run.CheckID(c.job.RunID); err != nil {
				t.Fatalf("accepted run id %q: %v", c.job.RunID, err)
			}
		}
	})
}

func TestAStoreHoldingAnOldNonFiniteRowStillExports(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	// As an import before rows were checked left it.
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.upsertRun(ctx, tx, Run{ID: "old", Source: SourceImport}); err != nil {
			return err
		}
		for _, j := range []Job{
			{RunID: "old", ID: "bad", State: StateDone, HW: "h200", Rows: []*results.Row{{HW: "h200", TP: 8, TputPerGPU: math.Inf(1), Metrics: map[string]float64{"median_ttft": math.NaN()}}}},
			{RunID: "old", ID: "good", State: StateDone, HW: "h200", Rows: []*results.Row{{HW: "h200", TP: 8, TputPerGPU: 10, Metrics: map[string]float64{}}}},
		} {
			if err := upsertJob(ctx, tx, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.Rows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := results.WriteJSON(&b, rows); err != nil {
		t.Fatalf("export of the whole store failed for one old row: %v", err)
	}
	if !strings.Contains(b.String(), `"job_id": "good"`) {
		t.Fatalf("export lacks the good row:\n%s", b.String())
	}
}
