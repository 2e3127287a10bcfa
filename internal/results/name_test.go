package results

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

func TestParseResultName(t *testing.T) {
	cases := []struct {
		name string
		want NameInfo
		ok   bool
	}{
		{"dsr1_1k1k_fp8_sglang_tp8-ep1-dpafalse_conc64_h200-cw_0.json",
			NameInfo{ModelPrefix: "dsr1", Seq: "1k1k", Precision: "fp8", Framework: "sglang", TP: 8, EP: 1, PP: 1, Conc: 64, Node: "h200-cw_0"}, true},
		{"gptoss_120b_8k1k_fp4_trt_tp4-ep4-dpatrue_conc256_b200-nb_1",
			NameInfo{ModelPrefix: "gptoss_120b", Seq: "8k1k", Precision: "fp4", Framework: "trt", TP: 4, EP: 4, PP: 1, DPAttn: true, Conc: 256, Node: "b200-nb_1"}, true},
		{"sim70b_1k256_fp8_sim_tp8-ep1-pp2-dpafalse_conc4_local",
			NameInfo{ModelPrefix: "sim70b", Seq: "1k256", Precision: "fp8", Framework: "sim", TP: 8, EP: 1, PP: 2, Conc: 4, Node: "local"}, true},
		{"llama70b_1k8k_fp8_vllm_tp2-ep1-dpafalse_conc8",
			NameInfo{ModelPrefix: "llama70b", Seq: "1k8k", Precision: "fp8", Framework: "vllm", TP: 2, EP: 1, PP: 1, Conc: 8}, true},
		{"results", NameInfo{}, false},
		{"dsr1_1k1k_fp8_sglang_tp0-ep1-dpafalse_conc64_x", NameInfo{}, false},
	}
	for _, c := range cases {
		got, ok := ParseResultName(c.name)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("ParseResultName(%q) = %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestSeqLensAndHWFromNode(t *testing.T) {
	seqs := []struct {
		seq      string
		isl, osl int
		ok       bool
	}{{"1k1k", 1024, 1024, true}, {"8k1k", 8192, 1024, true}, {"1k8k", 1024, 8192, true}, {"1k256", 1024, 256, true}, {"long", 0, 0, false}}
	for _, c := range seqs {
		isl, osl, ok := SeqLens(c.seq)
		if isl != c.isl || osl != c.osl || ok != c.ok {
			t.Errorf("SeqLens(%q) = %d, %d, %v", c.seq, isl, osl, ok)
		}
	}
	nodes := map[string]string{"h200-cw_0": "h200", "mi355x-amd_1": "mi355x", "GB200-nv_0": "gb200", "b300": "b300", "local": ""}
	for node, want := range nodes {
		if got := HWFromNode(node); got != want {
			t.Errorf("HWFromNode(%q) = %q, want %q", node, got, want)
		}
	}
}

func TestExportFormats(t *testing.T) {
	a, _ := Aggregate(Meta{HW: "h200", TP: 8, Conc: 64, JobID: "j1", RunID: "r"}, []byte(clientResult))
	b := &Row{HW: "mi300x", TP: 4, EP: 1, Conc: 4, JobID: "j2", RunID: "r", TputPerGPU: 10, Metrics: map[string]float64{"only_here": 1}}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, []*Row{a, b}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("csv: %v, %d records", err, len(recs))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	if recs[1][col["tput_per_gpu"]] != "2000" || recs[1][col["median_ttft"]] != "0.1" || recs[1][col["only_here"]] != "" ||
		recs[2][col["only_here"]] != "1" || recs[2][col["hw"]] != "mi300x" {
		t.Errorf("csv rows: %v", recs)
	}

	buf.Reset()
	if err := WriteInferenceMAX(&buf, []*Row{a}); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if !strings.HasPrefix(s, "[\n  {\"hw\": \"h200\", \"tp\": 8,") || strings.Contains(s, "job_id") || strings.Contains(s, "run_id") ||
		!strings.Contains(s, `"median_intvty": 50`) {
		t.Errorf("inferencemax export: %s", s)
	}
	buf.Reset()
	if err := WriteInferenceMAX(&buf, nil); err != nil || buf.String() != "[]\n" {
		t.Errorf("empty export: %q %v", buf.String(), err)
	}
}
