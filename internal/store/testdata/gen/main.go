// Command gen writes the fixture run directory the store, report and CLI
// tests read: a small sweep over 2 GPU types x 2 frameworks x several
// concurrencies, laid out as the engine lays out results/<run-id>/, with a
// retried job, a failed job and a job whose client failed too many
// requests. Run from the repository root:
//
//	go run ./internal/store/testdata/gen internal/store/testdata/runs
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/fleetbench/fleet/internal/results"
)

type group struct {
	hw, fw, node string
	tp           int
	tput, k      float64 // tput/GPU = tput * c / (c + k)
	intvty, m    float64 // interactivity = intvty / (1 + c/m)
	ttft         float64 // ms at low concurrency
}

func main() {
	out := os.Args[1]
	runID := "20261101-120000-fixture"
	dir := filepath.Join(out, runID)
	must(os.RemoveAll(dir))
	must(os.MkdirAll(filepath.Join(dir, "jobs"), 0o755))
	groups := []group{
		{"h200", "vllm", "h200-a", 8, 1400, 24, 90, 40, 60},
		{"h200", "vllm", "h200-a", 4, 1750, 30, 58, 40, 75},
		{"h200", "sglang", "h200-a", 8, 1550, 20, 80, 48, 55},
		{"mi300x", "vllm", "mi300x-a", 8, 1100, 28, 70, 36, 80},
		{"mi300x", "sglang", "mi300x-a", 8, 1250, 22, 75, 44, 70},
	}
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	now := start
	var journal []map[string]any
	type outcome struct {
		Job      string `json:"job"`
		Config   string `json:"config"`
		State    string `json:"state"`
		Node     string `json:"node,omitempty"`
		Attempts int    `json:"attempts"`
		Reason   string `json:"reason,omitempty"`
	}
	var outcomes []outcome
	var rows []*results.Row
	entry := func(e map[string]any) {
		now = now.Add(7 * time.Second)
		e["time"] = now
		journal = append(journal, e)
	}
	for gi, g := range groups {
		config := fmt.Sprintf("llama70b-fp8-%s-%s", g.hw, g.fw)
		for ci, c := range []int{4, 8, 16, 32, 64} {
			id := fmt.Sprintf("%s_1k1k_tp%d-ep1-dpafalse_conc%d", config, g.tp, c)
			name := fmt.Sprintf("llama70b_1k1k_fp8_%s_tp%d-ep1-dpafalse_conc%d_%s", g.fw, g.tp, c, g.node)
			jitter := 1 + 0.02*math.Sin(float64(gi*7+ci*3))
			cf := float64(c)
			tput := g.tput * cf / (cf + g.k) * jitter
			intvty := g.intvty / (1 + cf/g.m) / jitter
			tpot := 1000 / intvty
			ttft := g.ttft * (1 + cf/16) * jitter
			e2el := ttft + 0.9*1024*tpot
			total := tput * float64(g.tp)
			raw := map[string]any{
				"date": now.Format("20060102-150405"), "backend": "vllm", "model_id": "meta-llama/Llama-3.3-70B-Instruct",
				"tokenizer_id": "meta-llama/Llama-3.3-70B-Instruct", "best_of": 1, "num_prompts": 10 * c,
				"request_rate": "inf", "burstiness": 1.0, "max_concurrency": c, "duration": 120.0,
				"completed": 10 * c, "failed": 0, "total_input_tokens": 9 * 1024 * c, "total_output_tokens": 9 * 1024 * c,
				"request_throughput": float64(10*c) / 120, "request_goodput:": nil,
				"output_throughput": total / 2, "total_token_throughput": total,
				"mean_ttft_ms": ttft * 1.1, "median_ttft_ms": ttft, "std_ttft_ms": ttft * 0.2, "p99_ttft_ms": ttft * 2.5,
				"mean_tpot_ms": tpot * 1.03, "median_tpot_ms": tpot, "std_tpot_ms": tpot * 0.05, "p99_tpot_ms": tpot * 1.4,
				"mean_itl_ms": tpot * 1.02, "median_itl_ms": tpot * 0.98, "std_itl_ms": tpot * 0.3, "p99_itl_ms": tpot * 3,
				"mean_e2el_ms": e2el * 1.01, "median_e2el_ms": e2el, "std_e2el_ms": e2el * 0.04, "p99_e2el_ms": e2el * 1.15,
			}
			state, reason, attempts := "done", "", 1
			switch {
			case g.hw == "mi300x" && g.fw == "sglang" && c == 64:
				state, reason = "failed", "server exited before it became healthy: torch.OutOfMemoryError: HIP out of memory"
			case g.hw == "h200" && g.fw == "sglang" && c == 32:
				attempts = 2
			case g.hw == "mi300x" && g.fw == "vllm" && c == 64:
				state, reason = "failed", "too many failed requests (client failure ratio over its limit): client said: 71 of 640 requests failed"
				raw["completed"], raw["failed"] = 569, 71
			}
			entry(map[string]any{"job": id, "state": "queued"})
			for a := 1; a <= attempts; a++ {
				entry(map[string]any{"job": id, "attempt": a, "node": g.node, "state": "preparing"})
				if state == "failed" && reason[:6] == "server" {
					entry(map[string]any{"job": id, "attempt": a, "node": g.node, "state": "running", "handle": map[string]any{"target": g.node, "ref": "1234"}})
					entry(map[string]any{"job": id, "attempt": a, "node": g.node, "state": "failed", "reason": reason})
					continue
				}
				if a < attempts {
					entry(map[string]any{"job": id, "attempt": a, "node": g.node, "state": "retrying", "reason": "start: ssh: connection lost"})
					continue
				}
				entry(map[string]any{"job": id, "attempt": a, "node": g.node, "state": "running", "handle": map[string]any{"target": g.node, "ref": "1234"}})
				exit := map[string]any{"code": 0}
				if state == "failed" {
					exit["code"] = 3
				}
				entry(map[string]any{"job": id, "attempt": a, "node": g.node, "state": "fetching", "exit": exit})
				jd := filepath.Join(dir, "jobs", id)
				must(os.MkdirAll(filepath.Join(jd, "results"), 0o755))
				b, _ := json.Marshal(raw)
				must(os.WriteFile(filepath.Join(jd, "results", name+".json"), b, 0o644))
				row, err := results.Aggregate(results.Meta{RunID: runID, JobID: id, Node: g.node, HW: g.hw,
					Model: "meta-llama/Llama-3.3-70B-Instruct", Framework: g.fw, Precision: "fp8", Image: "example/" + g.fw + ":1.0",
					TP: g.tp, EP: 1, Conc: c, ISL: 1024, OSL: 1024, GPUs: g.tp}, b)
				must(err)
				rb, _ := json.MarshalIndent(row, "", "  ")
				must(os.WriteFile(filepath.Join(jd, "row.json"), rb, 0o644))
				if state == "failed" {
					entry(map[string]any{"job": id, "attempt": a, "node": g.node, "state": "failed", "reason": reason})
				} else {
					entry(map[string]any{"job": id, "attempt": a, "node": g.node, "state": "done", "exit": exit, "result": "jobs/" + id + "/row.json"})
					rows = append(rows, row)
				}
			}
			outcomes = append(outcomes, outcome{id, config, state, g.node, attempts, reason})
		}
	}
	// A job no machine could take: it never had an attempt.
	id := "llama70b-fp8-h200-vllm_1k1k_tp16-ep1-dpafalse_conc64"
	entry(map[string]any{"job": id, "state": "queued"})
	reason := "no machine left that fits (candidates: h200-a)"
	entry(map[string]any{"job": id, "state": "failed", "reason": reason})
	outcomes = append(outcomes, outcome{id, "llama70b-fp8-h200-vllm", "failed", "", 0, reason})

	f, err := os.Create(filepath.Join(dir, "journal.jsonl"))
	must(err)
	enc := json.NewEncoder(f)
	for _, e := range journal {
		must(enc.Encode(e))
	}
	must(f.Close())
	results.SortRows(rows)
	sum, _ := json.MarshalIndent(map[string]any{"run_id": runID, "jobs": outcomes, "rows": rows}, "", "  ")
	must(os.WriteFile(filepath.Join(dir, "summary.json"), sum, 0o644))
	info, _ := json.MarshalIndent(map[string]any{"run_id": runID, "sweep": "sweeps/fixture.hcl", "inventory": "inventory.hcl",
		"jobs": len(outcomes), "started": start.Format(time.RFC3339), "fleet_version": "test"}, "", "  ")
	must(os.WriteFile(filepath.Join(dir, "run.json"), info, 0o644))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
