package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/fleetbench/fleet/internal/inferencex/ixresult"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/topology"
)

func multiClient(conc int) []byte {
	return []byte(fmt.Sprintf(`{"model_id":"m","max_concurrency":%d,"completed":64,"failed":0,
"total_token_throughput":24000,"output_throughput":6000,"median_ttft_ms":500,"median_tpot_ms":25,"p99_itl_ms":40}`, conc))
}

var (
	shape1p1d = topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 8}, Decode: topology.Pool{Workers: 1, TP: 8}, KVTransfer: "nixl"}
	shapeAgg  = topology.Shape{Prefill: topology.Pool{Workers: 2, TP: 8}}
	shapeGB   = topology.Shape{Prefill: topology.Pool{Workers: 3, TP: 4}, Decode: topology.Pool{Workers: 1, TP: 32, EP: 32, DPAttn: true}, KVTransfer: "nixl"}
	concs     = []int{4, 16, 64}
	router    = &results.RouterInfo{Name: "dynamo-router", Version: "0.8.1"}
)

func multiMeta(job string) results.Meta {
	return results.Meta{JobID: job, Node: "gb200-0", HW: "gb200", Model: "m", Framework: "dynamo-sglang", Precision: "fp8",
		Image: "img:1", ISL: 1024, OSL: 1024, Router: router}
}

// plantMultiRun writes a run directory whose job "disagg" is a multi-node
// job with one row per concurrency, and whose job "single" has one row.
func plantMultiRun(t *testing.T, resultsDir, id string, s topology.Shape) {
	t.Helper()
	d, err := run.Create(resultsDir, run.Info{RunID: id})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var rows []*results.Row
	for _, c := range concs {
		r, err := results.AggregateMulti(multiMeta("disagg"), s, c, multiClient(c))
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	single, err := results.Aggregate(results.Meta{JobID: "single", HW: "gb200", TP: 8, Conc: 4}, multiClient(4))
	if err != nil {
		t.Fatal(err)
	}
	j, err := d.Journal()
	if err != nil {
		t.Fatal(err)
	}
	for id, rs := range map[string][]*results.Row{"disagg": rows, "single": {single}} {
		if err := os.MkdirAll(d.JobDir(id), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := results.WriteRows(d.RowPath(id), rs); err != nil {
			t.Fatal(err)
		}
		if err := j.Append(journal.Entry{Job: id, Attempt: 1, Node: "gb200-0", State: journal.StateDone, Result: d.Rel(d.RowPath(id))}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAMultiNodeJobsRowsGoThroughTheStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	plantMultiRun(t, dir, "multi", shape1p1d)
	s := openTemp(t)
	for range 2 { // importing again changes nothing
		stats, err := s.ImportRun(ctx, filepath.Join(dir, "multi"))
		if err != nil {
			t.Fatal(err)
		}
		if stats.Jobs != 2 || stats.Rows != 4 {
			t.Fatalf("import: %d jobs %d rows, want 2 jobs with 4 rows", stats.Jobs, stats.Rows)
		}
	}
	jobs, err := s.Jobs(ctx, "multi")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].ID != "disagg" || len(jobs[0].Rows) != 3 || len(jobs[1].Rows) != 1 {
		t.Fatalf("jobs %+v: want disagg with 3 rows and single with 1", jobs)
	}
	for i, r := range jobs[0].Rows {
		if r.Conc != concs[i] || r.Shape() != "p1x8/d1x8" || r.TputPerGPU != 1500 || r.OutputTputPerGPU != 750 ||
			r.InputTputPerGPU != 2250 || r.Metrics["median_ttft"] != 0.5 || r.Metrics["num_decode_gpu"] != 8 || r.JobID != "disagg" {
			t.Errorf("row %d from the store: conc %d shape %q tput %v/%v/%v metrics %v", i, r.Conc, r.Shape(),
				r.TputPerGPU, r.OutputTputPerGPU, r.InputTputPerGPU, r.Metrics)
		}
	}
	runs, err := s.Runs(ctx)
	if err != nil || len(runs) != 1 || runs[0].Rows != 4 || runs[0].Done != 2 {
		t.Fatalf("runs %+v, %v: want one run of 2 done jobs with 4 rows", runs, err)
	}

	// fleet's JSON export of the run, imported elsewhere, is the same job
	// with the same rows.
	rows, err := s.Rows(ctx, "multi")
	if err != nil {
		t.Fatal(err)
	}
	var exp bytes.Buffer
	if err := results.WriteJSON(&exp, rows); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "export.json")
	if err := os.WriteFile(path, exp.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	other := openTemp(t)
	rep, err := other.ImportFiles(ctx, []string{path}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(FileImported) != 4 || rep.Count(FileSuperseded) != 0 {
		t.Fatalf("import of the export: %+v", rep.Files)
	}
	back, err := other.Jobs(ctx, "multi")
	if err != nil || len(back) != 2 || len(back[0].Rows) != 3 {
		t.Fatalf("the export imported as %+v, %v: want the multi-node job with its 3 rows", back, err)
	}
	for i := range jobs[0].Rows {
		a, _ := json.Marshal(jobs[0].Rows[i])
		b, _ := json.Marshal(back[0].Rows[i])
		if !bytes.Equal(a, b) {
			t.Errorf("row %d after export and import:\n%s\nwant\n%s", i, b, a)
		}
	}
}

// A multi-node row fleet measured exports in InferenceX's format exactly
// as InferenceX's own processing of the same client file writes it.
func TestAMultiNodeRowExportsAsInferenceXWritesIt(t *testing.T) {
	ctx := context.Background()
	role := func(p topology.Pool, present bool) ixresult.Role {
		if !present {
			return ixresult.Role{PP: 1, DCP: 1, PCP: 1, DPAttention: "false"}
		}
		return ixresult.Role{TP: p.TP, PP: 1, DCP: 1, PCP: 1, EP: max(p.EP, 1), DPAttention: strconv.FormatBool(p.DPAttn), NumWorkers: p.Workers}
	}
	for name, sh := range map[string]topology.Shape{"1p1d tp8": shape1p1d, "aggregated 2x8": shapeAgg, "gb200 3x4 + 1x32": shapeGB} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			plantMultiRun(t, dir, "multi", sh)
			s := openTemp(t)
			if _, err := s.ImportRun(ctx, filepath.Join(dir, "multi")); err != nil {
				t.Fatal(err)
			}
			jobs, err := s.Jobs(ctx, "multi")
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := ixresult.WriteRows(&out, jobs[0].Rows); err != nil {
				t.Fatal(err)
			}
			var got []json.RawMessage
			if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != len(concs) {
				t.Fatalf("export of %d rows: %v\n%s", len(concs), err, out.Bytes())
			}
			rb, _ := json.Marshal(router)
			for i, c := range concs {
				p := ixresult.Params{RunnerType: "gb200", Framework: "dynamo-sglang", Precision: "fp8", SpecDecoding: "none",
					ResultFilename: "x", ISL: 1024, OSL: 1024, Disagg: sh.Disaggregated(), Image: "img:1",
					RouterMetadata: string(rb), KVP2PTransfer: sh.KVTransfer, IsMultinode: true,
					Prefill: role(sh.Prefill, true), Decode: role(sh.Decode, sh.Disaggregated()),
					PrefillGPUs: sh.PrefillGPUs(), DecodeGPUs: sh.DecodeGPUs()}
				want, _, err := ixresult.Process(p, multiClient(c), nil)
				if err != nil {
					t.Fatal(err)
				}
				wo, wv := topLevel(t, json.NewDecoder(bytes.NewReader(want)))
				gotOrder, gv := topLevel(t, json.NewDecoder(bytes.NewReader(got[i])))
				if !reflect.DeepEqual(gotOrder, wo) {
					t.Errorf("conc %d keys\n%q\nwant InferenceX's\n%q", c, gotOrder, wo)
				}
				if !reflect.DeepEqual(gv, wv) {
					for k := range wv {
						if gv[k] != wv[k] {
							t.Errorf("conc %d: %s = %s, InferenceX writes %s", c, k, gv[k], wv[k])
						}
					}
				}
			}
		})
	}
}
