// Package inferencex holds what fleet knows of an InferenceX checkout that
// every part shares: the job (one row of InferenceX's matrix generator,
// with the generator's key names). Reading master configs and expanding
// them lives in package matrix, running a job the way InferenceX's
// launchers do in package launch, and InferenceX's result processing in
// package ixresult.
package inferencex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Scenario types of the generator's rows.
const (
	FixedSeqLen   = "fixed-seq-len"
	AgenticCoding = "agentic-coding"
)

// Component is a {name, version} metadata object (router, KV offload
// backend); version may be absent for a backend.
type Component struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// Worker is one role of a multi-node job (prefill or decode) as the
// generator writes it: the input keys with pp, dcp-size and pcp-size
// filled in.
type Worker struct {
	NumWorker          int      `json:"num-worker"`
	TP                 int      `json:"tp"`
	EP                 int      `json:"ep"`
	DPAttn             bool     `json:"dp-attn"`
	Hardware           string   `json:"hardware,omitempty"`
	AdditionalSettings []string `json:"additional-settings,omitempty"`
	PP                 int      `json:"pp"`
	DCPSize            int      `json:"dcp-size"`
	PCPSize            int      `json:"pcp-size"`
}

// GPUs is the role's GPU count: workers x tp x pp x pcp.
func (w *Worker) GPUs() int {
	if w == nil {
		return 0
	}
	return w.NumWorker * w.TP * max(w.PP, 1) * max(w.PCPSize, 1)
}

// Job is one row of InferenceX's matrix generator. Which keys a row has
// depends on its kind (single- or multi-node, fixed-seq-len or agentic);
// MarshalJSON writes exactly that kind's keys, so `fleet plan --json`
// compares field for field with the generator's output.
type Job struct {
	// Key is the master-config key the row came from (not a generator
	// field: it is never marshalled).
	Key string `json:"-"`
	// MultiNode says which schema the row follows (not marshalled: the
	// presence of prefill/decode tells it in the generator's output).
	MultiNode bool `json:"-"`

	Image        string `json:"image"`
	Model        string `json:"model"`
	ModelPrefix  string `json:"model-prefix"`
	Precision    string `json:"precision"`
	Framework    string `json:"framework"`
	Runner       string `json:"runner"`
	ISL          int    `json:"isl"`
	OSL          int    `json:"osl"`
	TP           int    `json:"tp"`
	PP           int    `json:"pp"`
	DCPSize      int    `json:"dcp-size"`
	PCPSize      int    `json:"pcp-size"`
	EP           int    `json:"ep"`
	DPAttn       bool   `json:"dp-attn"`
	SpecDecoding string `json:"spec-decoding"`
	// Conc holds one value for single-node rows (written as a number) and
	// a list for multi-node rows: the whole list of a fixed-seq-len row,
	// one value for an agentic row (several once --all-evals merges
	// them).
	Conc        []int  `json:"conc"`
	MaxModelLen int    `json:"max-model-len"`
	ExpName     string `json:"exp-name"`
	Disagg      bool   `json:"disagg"`

	Prefill *Worker `json:"prefill,omitempty"`
	Decode  *Worker `json:"decode,omitempty"`

	// Agentic rows.
	ScenarioType     string     `json:"scenario-type,omitempty"`
	KVOffloading     string     `json:"kv-offloading,omitempty"`
	KVOffloadBackend *Component `json:"kv-offload-backend,omitempty"`
	TotalCPUDramGB   int        `json:"total-cpu-dram-gb"`
	Duration         int        `json:"duration"`

	// Optional keys: nil (or empty) means the generator leaves the key out.
	RunEval           *bool      `json:"run-eval,omitempty"`
	EvalOnly          *bool      `json:"eval-only,omitempty"`
	EvalConc          *int       `json:"eval-conc,omitempty"`
	EvalAllConcs      *bool      `json:"eval-all-concs,omitempty"`
	Router            *Component `json:"router,omitempty"`
	KVP2PTransfer     string     `json:"kv-p2p-transfer,omitempty"`
	RecipeFingerprint string     `json:"recipe-fingerprint,omitempty"`
}

// Agentic says whether the row is an agentic trace-replay row.
func (j *Job) Agentic() bool { return j.ScenarioType == AgenticCoding }

// GPUs is how many GPUs the job occupies: tp x pp x pcp-size on one node,
// or every worker of both roles for a multi-node job.
func (j *Job) GPUs() int {
	if j.MultiNode {
		return j.Prefill.GPUs() + j.Decode.GPUs()
	}
	return max(j.TP, 1) * max(j.PP, 1) * max(j.PCPSize, 1)
}

// FirstConc is the row's (first) concurrency.
func (j *Job) FirstConc() int {
	if len(j.Conc) == 0 {
		return 0
	}
	return j.Conc[0]
}

// rowKeys lists each row kind's keys in the generator's order.
var rowKeys = map[string][]string{
	"single": {"image", "model", "model-prefix", "precision", "framework", "runner", "isl", "osl", "tp", "pp", "dcp-size", "pcp-size",
		"conc", "max-model-len", "ep", "dp-attn", "spec-decoding", "exp-name", "disagg", "run-eval", "router", "eval-only", "recipe-fingerprint"},
	"multi": {"image", "model", "model-prefix", "precision", "framework", "runner", "isl", "osl", "spec-decoding", "prefill", "decode",
		"conc", "max-model-len", "exp-name", "disagg", "run-eval", "router", "kv-p2p-transfer", "eval-conc", "eval-all-concs", "eval-only", "recipe-fingerprint"},
	"single-agentic": {"image", "model", "model-prefix", "precision", "framework", "runner", "tp", "pp", "dcp-size", "pcp-size", "ep", "dp-attn",
		"spec-decoding", "conc", "kv-offloading", "total-cpu-dram-gb", "duration", "exp-name", "scenario-type", "kv-offload-backend", "router",
		"run-eval", "eval-only", "recipe-fingerprint"},
	"multi-agentic": {"image", "model", "model-prefix", "precision", "framework", "runner", "spec-decoding", "prefill", "decode", "conc",
		"kv-offloading", "total-cpu-dram-gb", "duration", "exp-name", "disagg", "scenario-type", "kv-offload-backend", "router", "kv-p2p-transfer",
		"run-eval", "eval-conc", "eval-only", "recipe-fingerprint"},
}

// Kind names the row's schema: single, multi, single-agentic or
// multi-agentic.
func (j *Job) Kind() string {
	k := "single"
	if j.MultiNode {
		k = "multi"
	}
	if j.Agentic() {
		k += "-agentic"
	}
	return k
}

// optional keys are written only when set.
var optional = map[string]bool{"run-eval": true, "eval-only": true, "eval-conc": true, "eval-all-concs": true, "router": true,
	"kv-p2p-transfer": true, "recipe-fingerprint": true, "kv-offload-backend": true}

// MarshalJSON writes the row with the generator's keys for its kind, in
// the generator's order; optional keys only when set.
func (j *Job) MarshalJSON() ([]byte, error) {
	type plain Job
	b, err := json.Marshal((*plain)(j))
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	if !j.MultiNode {
		// One concurrency per row: the generator writes a number.
		all["conc"], _ = json.Marshal(j.FirstConc())
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for _, k := range rowKeys[j.Kind()] {
		v, ok := all[k]
		if !ok || optional[k] && string(v) == "null" {
			continue
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		out.Write(kb)
		out.WriteByte(':')
		out.Write(v)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// ciKeys are keys InferenceX's CI adds to generator rows (priority and
// queueing, from ci_priority.py); UnmarshalJSON accepts and drops them.
var ciKeys = map[string]bool{"priority": true, "queue-token": true, "skip-queue-pr": true}

// UnmarshalJSON reads one generator row. The row kind comes from its
// keys (prefill present: multi-node; scenario-type agentic-coding:
// agentic); every key the kind always has must be present and no key
// outside the kind is accepted. Key is left empty: a row does not name
// its config.
func (j *Job) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("generator row: %w", err)
	}
	if raw == nil {
		return fmt.Errorf("generator row: null, not an object")
	}
	*j = Job{}
	_, j.MultiNode = raw["prefill"]
	if st, ok := raw["scenario-type"]; ok {
		if err := json.Unmarshal(st, &j.ScenarioType); err != nil {
			return fmt.Errorf("generator row: scenario-type: %w", err)
		}
	}
	kind := j.Kind()
	keys := rowKeys[kind]
	known := map[string]bool{}
	for _, k := range keys {
		known[k] = true
		if _, ok := raw[k]; !ok && !optional[k] {
			return fmt.Errorf("generator row (%s): missing key %q", kind, k)
		}
	}
	var unknown []string
	for k := range raw {
		if !known[k] && !ciKeys[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("generator row (%s): unknown key(s) %q", kind, unknown)
	}
	type plain Job
	aux := struct {
		*plain
		Conc json.RawMessage `json:"conc"`
	}{plain: (*plain)(j)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("generator row (%s): %w", kind, err)
	}
	var one int
	if err := json.Unmarshal(aux.Conc, &one); err == nil {
		j.Conc = []int{one}
	} else if err := json.Unmarshal(aux.Conc, &j.Conc); err != nil {
		return fmt.Errorf("generator row (%s): conc must be a number or a list of numbers: %w", kind, err)
	}
	return nil
}
