package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/topology"
)

// plantMultiNodeRun writes run id into resultsDir with one disaggregated
// job (1 prefill + 1 decode worker of tp8) measured at three
// concurrencies, as the engine leaves it.
func plantMultiNodeRun(t *testing.T, resultsDir, id string) {
	t.Helper()
	d, err := run.Create(resultsDir, run.Info{RunID: id})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 8}, Decode: topology.Pool{Workers: 1, TP: 8}, KVTransfer: "nixl"}
	var rows []*results.Row
	for _, conc := range []int{4, 16, 64} {
		raw := fmt.Sprintf(`{"model_id":"m","max_concurrency":%d,"completed":10,"failed":0,"total_token_throughput":%d,
"output_throughput":%d,"median_ttft_ms":200,"median_tpot_ms":%d,"median_e2el_ms":3000}`, conc, 1600*conc, 400*conc, 10+conc)
		r, err := results.AggregateMulti(results.Meta{RunID: id, JobID: "disagg", Node: "h200-0", HW: "h200", Model: "m",
			Framework: "sglang", Precision: "fp8", ISL: 1024, OSL: 1024}, s, conc, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if err := os.MkdirAll(d.JobDir("disagg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := results.WriteRows(d.RowPath("disagg"), rows); err != nil {
		t.Fatal(err)
	}
	j, err := d.Journal()
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(journal.Entry{Job: "disagg", Attempt: 1, Node: "h200-0", State: journal.StateDone, Result: d.Rel(d.RowPath("disagg"))}); err != nil {
		t.Fatal(err)
	}
}

func TestAMultiNodeJobsRowsReachStatusReportAndExports(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	plantMultiNodeRun(t, dir, "multi")

	code, stdout, stderr := runFleet(t, nil, "status", "multi", "--results", dir)
	if code != ExitOK || !strings.Contains(stdout, "p1x8/d1x8 conc 4 16 64") {
		t.Errorf("status: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runFleet(t, nil, "report", "multi", "--results", dir, "--out", t.TempDir())
	if code != ExitOK || !strings.Contains(stdout, "SHAPE") || strings.Count(stdout, "p1x8/d1x8") < 3 {
		t.Errorf("report: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runFleet(t, nil, "results", "list", "--results", dir, "--json")
	var runs []struct {
		ID         string
		Jobs, Rows int
	}
	if err := json.Unmarshal([]byte(stdout), &runs); err != nil || code != ExitOK || len(runs) != 1 || runs[0].Jobs != 1 || runs[0].Rows != 3 {
		t.Errorf("list: exit %d, %v: %+v, want one job with 3 rows", code, err, runs)
	}
	code, stdout, stderr = runFleet(t, nil, "results", "export", "--results", dir, "--format", "inferencex")
	var ix []map[string]any
	if err := json.Unmarshal([]byte(stdout), &ix); err != nil || code != ExitOK || len(ix) != 3 {
		t.Fatalf("export inferencex: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	// 1600·conc tok/s over 16 GPUs; 400·conc output over the 8 decode
	// GPUs; 1200·conc input over the 8 prefill GPUs.
	for _, r := range ix {
		conc := r["conc"].(float64)
		if r["is_multinode"] != true || r["disagg"] != true || r["num_prefill_gpu"] != 8.0 || r["decode_tp"] != 8.0 ||
			r["tput_per_gpu"] != 100*conc || r["output_tput_per_gpu"] != 50*conc || r["input_tput_per_gpu"] != 150*conc {
			t.Errorf("exported row %v", r)
		}
	}
}
