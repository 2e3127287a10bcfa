package store

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/inferencex/ixresult"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
)

var ixDir = filepath.Join("testdata", "inferencex")

const ix2026 = "agg_dsr1_8k1k_fp4_sglang_tp4-pp1-dcp1-pcp1-ep4-dpatrue_disagg-false_spec-mtp_conc8_b200-cw_01_recipe-0f1e2d3c4b5a6978.json"

func TestImportInferenceXFilesOfEveryEra(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	rep, err := s.ImportFiles(ctx, []string{ixDir}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Files {
		if f.Status != FileImported {
			t.Errorf("%s: %s %s", f.Path, f.Status, f.Note)
		}
	}
	jobs, err := s.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*Job{}
	for _, j := range jobs {
		byID[j.ID] = j
	}
	type want struct {
		hw, node      string
		tp, ep        int
		dpa           bool
		tput, out, in float64
		extra         map[string]string // extra keys as JSON
		metrics       map[string]float64
	}
	for id, w := range map[string]want{
		// 2025: dp_attention a bool, no pp or spec keys, a runner-suffixed hw.
		"dsr1-fp8-h200-nb-sglang_1k1k_tp8-ep1-dpafalse_conc64": {hw: "h200-nb", node: "h200-nb_0", tp: 8, ep: 1,
			tput: 1850.5, out: 925.25, in: 925.25, metrics: map[string]float64{"median_intvty": 31.25}},
		"DeepSeek-R1-fp4-b200-trt_1k1k_tp8-ep8-dpatrue_conc128": {hw: "b200", tp: 8, ep: 8, dpa: true, tput: 2500, out: 1250, in: 1250},
		// 2026: dp_attention a string; spec, recipe, router and power kept.
		"dsr1-fp4-b200-sglang_8k1k_tp4-ep4-dpatrue_conc8_spec-mtp_recipe-0f1e2d3c4b5a6978": {hw: "b200", node: "b200-cw_01", tp: 4, ep: 4, dpa: true,
			tput: 9216, out: 1024, in: 8192,
			extra: map[string]string{"spec_decoding": `"mtp"`, "disagg": "false", "is_multinode": "false", "infmax_model_prefix": `"dsr1"`,
				"router": `{"name":"sglang-router","version":"0.3.2"}`},
			metrics: map[string]float64{"pp": 1, "dcp_size": 1, "power_valid": 1, "total_gpu_energy_j": 40000}},
		"gptoss-fp4-b200-vllm_1k8k_tp1-ep1-dpafalse_conc16": {hw: "b200", tp: 1, ep: 1, tput: 3000, out: 2700, in: 300,
			extra: map[string]string{"recipe_fingerprint": `""`}},
		// Multi-node: no tp of its own; the store shows the decode role's.
		"dsr1-fp8-gb200-dynamo-sglang_8k1k_prefill-tp4-pp1-dcp1-pcp1-ep4-dptrue-nw4_decode-tp16-pp1-dcp1-pcp1-ep16-dptrue-nw1_conc256_recipe-aa11bb22cc33dd44": {
			hw: "gb200", tp: 16, ep: 16, dpa: true, tput: 4000, out: 900, in: 7100,
			extra:   map[string]string{"is_multinode": "true", "kv_p2p_transfer": `"nixl"`, "prefill_hw": `"gb200"`, "prefill_dp_attention": `"true"`},
			metrics: map[string]float64{"prefill_tp": 4, "num_prefill_gpu": 16, "num_decode_gpu": 16}},
		// ... or the prefill role's when decode has no GPUs.
		"dsr1-fp4-gb200-dynamo-trt_8k1k_prefill-tp8-pp1-dcp1-pcp1-ep8-dpfalse-nw1_decode-tp0-pp1-dcp1-pcp1-ep0-dpfalse-nw0_conc64_spec-mtp": {
			hw: "gb200", tp: 8, ep: 8, tput: 2000, out: 250, in: 1750, metrics: map[string]float64{"decode_tp": 0, "num_decode_gpu": 0}},
		// Raw client files: InferenceMAX's old names ...
		"dsr1-fp8-b200-vllm_1k1k_tp8-ep1-dpafalse_conc16": {hw: "b200", node: "b200-nb_1", tp: 8, ep: 1, tput: 2000, out: 1000, in: 1000},
		// ... the current single-node formula, with and without the recipe ...
		"dsr1-fp8-b200-sglang_8k1k_tp2-ep1-dpafalse_conc4": {hw: "b200", node: "b200-cw_00", tp: 2, ep: 1, tput: 2560, out: 512, in: 2048,
			extra:   map[string]string{"spec_decoding": `"none"`, "infmax_model_prefix": `"dsr1"`, "dp_attention": ""},
			metrics: map[string]float64{"mean_intvty": 50, "p99.9_e2el": 52.5, "power_valid": 0}},
		"dsr1-fp8-b200-sglang_8k1k_tp2-ep1-dpafalse_conc8_recipe-0123456789abcdef": {hw: "b200", node: "b200-cw_00", tp: 2, ep: 1,
			tput: 5120, out: 1024, in: 4096, extra: map[string]string{"recipe_fingerprint": `"0123456789abcdef"`}},
		// ... and the multi-node files, disaggregated (8 + 8 GPUs) and not (8 + 0).
		"dsr1-fp8-gb200-dynamo-sglang_8k1k_prefill-tp4-pp1-dcp1-pcp1-ep4-dptrue-nw2_decode-tp8-pp1-dcp1-pcp1-ep8-dpfalse-nw1_conc8": {
			hw: "gb200", node: "gb200-nv_0", tp: 8, ep: 8, tput: 320, out: 128, in: 512,
			metrics: map[string]float64{"num_prefill_gpu": 8, "num_decode_gpu": 8}},
		"dsr1-fp8-gb200-dynamo-trt_8k1k_prefill-tp8-pp1-dcp1-pcp1-ep8-dpfalse-nw1_decode-tp0-pp1-dcp1-pcp1-ep0-dpfalse-nw0_conc4_recipe-89abcdef01234567": {
			hw: "gb200", node: "gb200-nv_1", tp: 8, ep: 8, tput: 640, out: 128, in: 512, metrics: map[string]float64{"num_decode_gpu": 0}},
	} {
		j := byID[id]
		if j == nil {
			t.Errorf("no job %s; have %q", id, keys(byID))
			continue
		}
		if j.State != StateDone || len(j.Rows) != 1 {
			t.Errorf("%s: %s with %d rows, want done with one", id, j.State, len(j.Rows))
			continue
		}
		r := j.Rows[0]
		if j.HW != w.hw || (w.node != "" && j.Node != w.node) || r.TP != w.tp || r.EP != w.ep || r.DPAttention != w.dpa {
			t.Errorf("%s: hw %s node %s tp %d ep %d dpa %v; want %s %s %d %d %v", id, j.HW, j.Node, r.TP, r.EP, r.DPAttention,
				w.hw, w.node, w.tp, w.ep, w.dpa)
		}
		if r.TputPerGPU != w.tput || r.OutputTputPerGPU != w.out || r.InputTputPerGPU != w.in {
			t.Errorf("%s: throughput per GPU %v %v %v, want %v %v %v", id, r.TputPerGPU, r.OutputTputPerGPU, r.InputTputPerGPU, w.tput, w.out, w.in)
		}
		for k, v := range w.extra {
			if got := string(r.Extra[k]); got != v {
				t.Errorf("%s: extra %s = %s, want %s", id, k, got, v)
			}
		}
		for k, v := range w.metrics {
			if got, ok := r.Metrics[k]; !ok || got != v {
				t.Errorf("%s: %s = %v (%v), want %v", id, k, got, ok, v)
			}
		}
	}
	if len(jobs) != 11 {
		t.Errorf("%d jobs, want 11: %q", len(jobs), keys(byID))
	}
}

// topLevel decodes a JSON object's keys in order and its values as
// written (numbers keep 8 apart from 8.0).
func topLevel(t *testing.T, dec *json.Decoder) ([]string, map[string]string) {
	t.Helper()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("want an object, got %v %v", tok, err)
	}
	var order []string
	vals := map[string]string{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			t.Fatal(err)
		}
		order = append(order, k.(string))
		vals[k.(string)] = c.String()
	}
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	return order, vals
}

func TestInferenceXRowsExportAsTheyCameIn(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		file string
		rows int // InferenceX rows (2026 keys) in the file; others are older
	}{
		{ix2026, 1},
		{"agg_bmk.json", 3},
	} {
		t.Run(c.file, func(t *testing.T) {
			s := openTemp(t)
			if _, err := s.ImportFiles(ctx, []string{filepath.Join(ixDir, c.file)}, ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			rows, err := s.Rows(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := ixresult.WriteRows(&out, rows); err != nil {
				t.Fatal(err)
			}
			type row struct {
				order []string
				vals  map[string]string
			}
			read := func(b []byte) map[string]row {
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.UseNumber()
				var objs []json.RawMessage
				if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
					if err := json.Unmarshal(b, &objs); err != nil {
						t.Fatal(err)
					}
				} else {
					objs = []json.RawMessage{b}
				}
				m := map[string]row{}
				for _, o := range objs {
					order, vals := topLevel(t, json.NewDecoder(bytes.NewReader(o)))
					m[vals["hw"]+" "+vals["conc"]] = row{order, vals}
				}
				return m
			}
			in, err := os.ReadFile(filepath.Join(ixDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			want, got := read(in), read(out.Bytes())
			n := 0
			for k, w := range want {
				if _, ok := w.vals["infmax_model_prefix"]; !ok {
					continue // an older row gains the keys it lacked
				}
				n++
				g, ok := got[k]
				if !ok {
					t.Errorf("row %s not exported", k)
					continue
				}
				if !reflect.DeepEqual(g.order, w.order) {
					t.Errorf("row %s keys\n%q\nwant\n%q", k, g.order, w.order)
				}
				for key, v := range w.vals {
					if g.vals[key] != v {
						t.Errorf("row %s: %s = %s, want %s", k, key, g.vals[key], v)
					}
				}
			}
			if n != c.rows {
				t.Errorf("compared %d rows, want %d", n, c.rows)
			}
		})
	}
}

func TestImportRunIDOfLongFileNames(t *testing.T) {
	long := strings.Repeat("dsr1_8k1k_fp8_dynamo-sglang_prefill-tp4-pp1-dcp1-pcp1-ep4", 3)
	a, b := importRunID(long+"_conc4.json"), importRunID(long+"_conc8.json")
	for _, id := range []string{a, b} {
		if err := run.CheckID(id); err != nil {
			t.Error(err)
		}
	}
	if a == b {
		t.Errorf("two long names share run id %s", a)
	}
	if got := importRunID("agg_bmk.json"); got != "import-agg_bmk.json" {
		t.Errorf("short name: %s", got)
	}
}

func TestAStoreOfTheFirstSchemaKeepsItsRowsAndGainsExtraKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := openAt(ctx, path, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A row recorded by a fleet of the first schema: in the jobs table.
	for _, q := range []string{`INSERT INTO runs(id, source, recorded_at) VALUES ('old', 'sweep', '2026-01-01T00:00:00Z')`,
		`INSERT INTO jobs(run_id, job_id, state, hw, has_row, tp, tput_per_gpu) VALUES ('old', 'j0', 'done', 'h200', 1, 8, 50)`,
		`INSERT INTO jobs(run_id, job_id, state, hw, has_row) VALUES ('old', 'j1', 'failed', 'h200', 0)`,
		`INSERT INTO metrics(run_id, job_id, name, value) VALUES ('old', 'j0', 'median_ttft', 0.25)`} {
		if _, err := s.db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	row := &results.Row{HW: "b200", TP: 4, EP: 1, Conc: 4, JobID: "j1", TputPerGPU: 100, Metrics: map[string]float64{"pp": 1},
		Extra: map[string]json.RawMessage{"spec_decoding": json.RawMessage(`"mtp"`), "router": json.RawMessage(`{"name":"r","version":"1"}`)}}
	if err := s.RecordRow(ctx, "new", row); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Rows(ctx, "old", "new")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Extra != nil || rows[0].TputPerGPU != 50 || rows[0].TP != 8 || rows[0].Metrics["median_ttft"] != 0.25 {
		t.Fatalf("rows %+v: want the old row, its metric kept and without extra keys, first", rows)
	}
	if got := rows[1].Extra; !reflect.DeepEqual(got, row.Extra) {
		t.Errorf("extra keys back as %s, want %s", got, row.Extra)
	}
	jobs, err := s.Jobs(ctx, "old")
	if err != nil || len(jobs) != 2 || len(jobs[1].Rows) != 0 || jobs[1].State != StateFailed {
		t.Errorf("old jobs %+v, %v: want the failed one without rows", jobs, err)
	}
}
