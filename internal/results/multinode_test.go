package results

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/topology"
)

// A client result of 24000 tok/s in all, 6000 of them output: 18000 input.
const multiClientResult = `{"model_id":"m","max_concurrency":64,"completed":64,"failed":0,
"total_token_throughput":24000,"output_throughput":6000,"median_ttft_ms":500,"median_tpot_ms":25}`

func TestAggregateMultiDividesThroughputAsInferenceX(t *testing.T) {
	disagg := topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 8}, Decode: topology.Pool{Workers: 1, TP: 8}, KVTransfer: "nixl"}
	agg := topology.Shape{Prefill: topology.Pool{Workers: 2, TP: 8}}
	gb200 := topology.Shape{Prefill: topology.Pool{Workers: 3, TP: 4}, Decode: topology.Pool{Workers: 1, TP: 32, EP: 32, DPAttn: true}}
	for _, c := range []struct {
		name                  string
		shape                 topology.Shape
		tput, out, in         float64 // hand-computed
		prefillGPU, decodeGPU float64
		tp, ep                int
		dpa                   bool
		disagg                bool
		label                 string
		decodeTP, decodeWork  float64
	}{
		// P = 8, D = 8: 24000/16, 6000/8, 18000/8.
		{"disagg 1p1d tp8", disagg, 1500, 750, 2250, 8, 8, 8, 1, false, true, "p1x8/d1x8", 8, 1},
		// P = 16, D = 0: output per GPU of all 16 GPUs; decode reads as absent.
		{"aggregated 2x8", agg, 1500, 375, 1125, 16, 0, 8, 1, false, false, "agg 2x8", 0, 0},
		// P = 3x4 = 12, D = 1x32 = 32: 24000/44, 6000/32, 18000/12.
		{"gb200 3x4 + 1x32", gb200, 24000.0 / 44, 187.5, 1500, 12, 32, 32, 32, true, true, "p3x4/d1x32ep32dpa", 32, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := AggregateMulti(Meta{HW: "gb200", JobID: "j", TP: 99, GPUs: 99, Router: &RouterInfo{Name: "dynamo", Version: "0.8.1"}},
				c.shape, 16, []byte(multiClientResult))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []struct {
				name      string
				got, want float64
			}{
				{"tput_per_gpu", r.TputPerGPU, c.tput}, {"output_tput_per_gpu", r.OutputTputPerGPU, c.out},
				{"input_tput_per_gpu", r.InputTputPerGPU, c.in},
				{"num_prefill_gpu", r.Metrics["num_prefill_gpu"], c.prefillGPU}, {"num_decode_gpu", r.Metrics["num_decode_gpu"], c.decodeGPU},
				{"decode_tp", r.Metrics["decode_tp"], c.decodeTP}, {"decode_num_workers", r.Metrics["decode_num_workers"], c.decodeWork},
				{"prefill_tp", r.Metrics["prefill_tp"], float64(c.shape.Prefill.TP)},
				{"prefill_num_workers", r.Metrics["prefill_num_workers"], float64(c.shape.Prefill.Workers)},
				{"prefill_pp", r.Metrics["prefill_pp"], 1}, {"decode_pcp_size", r.Metrics["decode_pcp_size"], 1},
			} {
				if math.Abs(n.got-n.want) > 1e-9 {
					t.Errorf("%s = %v, want %v", n.name, n.got, n.want)
				}
			}
			if r.TP != c.tp || r.EP != c.ep || r.DPAttention != c.dpa || r.Conc != 16 {
				t.Errorf("tp %d ep %d dpa %t conc %d, want the shown pool's tp %d ep %d dpa %t and conc 16", r.TP, r.EP, r.DPAttention, r.Conc, c.tp, c.ep, c.dpa)
			}
			if !r.MultiNode() || r.Shape() != c.label {
				t.Errorf("multi-node %t shape %q, want true %q", r.MultiNode(), r.Shape(), c.label)
			}
			if got, want := string(r.Extra["disagg"]), map[bool]string{true: "true", false: "false"}[c.disagg]; got != want {
				t.Errorf("disagg = %s, want %s", got, want)
			}
			if got := string(r.Extra["decode_dp_attention"]); got != map[bool]string{true: `"true"`, false: `"false"`}[c.dpa && c.disagg] {
				t.Errorf("decode_dp_attention = %s", got)
			}
			if got := string(r.Extra["router"]); got != `{"name":"dynamo","version":"0.8.1"}` {
				t.Errorf("router = %s", got)
			}
			// The row survives its file: every multi-node key read back.
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseRow(b)
			if err != nil {
				t.Fatal(err)
			}
			if back.Shape() != c.label || back.TputPerGPU != r.TputPerGPU || back.Metrics["num_decode_gpu"] != c.decodeGPU {
				t.Errorf("read back: shape %q tput %v num_decode_gpu %v", back.Shape(), back.TputPerGPU, back.Metrics["num_decode_gpu"])
			}
		})
	}
}

func TestAggregateMultiRefusesABadShapeOrRouter(t *testing.T) {
	ok := topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 8}}
	for name, c := range map[string]struct {
		shape  topology.Shape
		router *RouterInfo
	}{
		"no prefill worker":      {topology.Shape{Decode: topology.Pool{Workers: 1, TP: 8}}, nil},
		"router without version": {ok, &RouterInfo{Name: "dynamo"}},
	} {
		if _, err := AggregateMulti(Meta{HW: "h200"}, c.shape, 4, []byte(multiClientResult)); err == nil && c.router == nil {
			t.Errorf("%s: accepted", name)
		}
		if c.router != nil {
			if _, err := AggregateMulti(Meta{HW: "h200", Router: c.router}, c.shape, 4, []byte(multiClientResult)); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	}
	r, err := AggregateMulti(Meta{HW: "h200"}, ok, 0, []byte(multiClientResult))
	if err != nil || r.Conc != 64 {
		t.Fatalf("conc 0 should take the client's max_concurrency (64): %v %v", r, err)
	}
	if _, has := r.Extra["router"]; has {
		t.Errorf("a row without router metadata has a router key: %s", r.Extra["router"])
	}
}

func multiRows(t *testing.T) []*Row {
	t.Helper()
	s := topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 8}, Decode: topology.Pool{Workers: 1, TP: 8}}
	var rows []*Row
	for _, conc := range []int{4, 16, 64} {
		r, err := AggregateMulti(Meta{HW: "h200", JobID: "j", Framework: "sglang", Precision: "fp8", ISL: 1024, OSL: 1024}, s, conc, []byte(multiClientResult))
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return rows
}

func TestRowFileHoldsOneRowOrSeveral(t *testing.T) {
	dir := t.TempDir()
	several := filepath.Join(dir, "several.json")
	rows := multiRows(t)
	if err := WriteRows(several, rows); err != nil {
		t.Fatal(err)
	}
	back, err := ReadRows(several)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 3 {
		t.Fatalf("read %d rows, want 3", len(back))
	}
	for i, r := range back {
		if r.Conc != rows[i].Conc || r.Shape() != "p1x8/d1x8" || r.JobID != "j" || r.TputPerGPU != 1500 {
			t.Errorf("row %d read back as conc %d shape %q job %q tput %v", i, r.Conc, r.Shape(), r.JobID, r.TputPerGPU)
		}
	}
	if _, err := ReadRow(several); err == nil {
		t.Error("ReadRow read a file of three rows as one")
	}

	one := filepath.Join(dir, "one.json")
	if err := WriteRows(one, rows[:1]); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(one)
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		t.Errorf("one row should be written as an object, as before: %.40s", b)
	}
	if r, err := ReadRow(one); err != nil || r.Conc != 4 {
		t.Errorf("ReadRow of one row: %v %v", r, err)
	}
	if got, err := ReadRows(one); err != nil || len(got) != 1 {
		t.Errorf("ReadRows of one row: %d rows, %v", len(got), err)
	}

	for name, body := range map[string]string{"empty array": `[]`, "bad second row": `[{"tp":8,"tput_per_gpu":1},{"tp":-1,"tput_per_gpu":1}]`} {
		p := filepath.Join(dir, "bad.json")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ReadRows(p); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
	if err := WriteRows(filepath.Join(dir, "none.json"), nil); err == nil {
		t.Error("wrote a row file without rows")
	}
}

func TestTableShowsTheShapeWhenARowIsMultiNode(t *testing.T) {
	single, err := Aggregate(Meta{HW: "h200", TP: 8, Conc: 4, Framework: "sglang", Precision: "fp8", ISL: 1024, OSL: 1024}, []byte(clientResult))
	if err != nil {
		t.Fatal(err)
	}
	rows := append([]*Row{single}, multiRows(t)...)
	agg, err := AggregateMulti(Meta{HW: "h200", Framework: "sglang", Precision: "fp8", ISL: 1024, OSL: 1024},
		topology.Shape{Prefill: topology.Pool{Workers: 2, TP: 8}}, 4, []byte(multiClientResult))
	if err != nil {
		t.Fatal(err)
	}
	rows = append(rows, agg)
	SortRows(rows)
	var buf bytes.Buffer
	if err := WriteTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	want := `    HW  FRAMEWORK  PRECISION    ISL/OSL      SHAPE  TP  EP  CONC  TTFT ms  TPOT ms  E2EL s  TPUT/GPU  INTVTY  FAILED
  h200     sglang        fp8  1024/1024          -   8   1     4    100.0    20.00   21.00    2000.0    50.0       2
  h200     sglang        fp8  1024/1024    agg 2x8   8   1     4    500.0    25.00       -    1500.0    40.0       0
  h200     sglang        fp8  1024/1024  p1x8/d1x8   8   1     4    500.0    25.00       -    1500.0    40.0       0
  h200     sglang        fp8  1024/1024  p1x8/d1x8   8   1    16    500.0    25.00       -    1500.0    40.0       0
  h200     sglang        fp8  1024/1024  p1x8/d1x8   8   1    64    500.0    25.00       -    1500.0    40.0       0
`
	var got strings.Builder
	for _, l := range strings.Split(buf.String(), "\n") {
		if l != "" {
			got.WriteString(strings.TrimRight(l, " ") + "\n")
		}
	}
	if got.String() != want {
		t.Errorf("table:\n%q\nwant:\n%q", got.String(), want)
	}

	buf.Reset()
	WriteTable(&buf, []*Row{single})
	if strings.Contains(buf.String(), "SHAPE") {
		t.Errorf("a table of single-node rows has a SHAPE column:\n%s", buf.String())
	}
}

func TestCSVHasAShapeColumnWhenARowIsMultiNode(t *testing.T) {
	single, err := Aggregate(Meta{HW: "h200", TP: 8, Conc: 4}, []byte(clientResult))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, append([]*Row{single}, multiRows(t)[:1]...)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	head := strings.Split(lines[0], ",")
	col := -1
	for i, h := range head {
		if h == "shape" {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("no shape column: %s", lines[0])
	}
	if got := strings.Split(lines[1], ",")[col]; got != "" {
		t.Errorf("single-node row's shape %q, want empty", got)
	}
	if got := strings.Split(lines[2], ",")[col]; got != "p1x8/d1x8" {
		t.Errorf("multi-node row's shape %q", got)
	}
	buf.Reset()
	WriteCSV(&buf, []*Row{single})
	if strings.Contains(strings.SplitN(buf.String(), "\n", 2)[0], "shape") {
		t.Error("a CSV of single-node rows gained a shape column")
	}
}
