// Package ixresult is InferenceX's result processing in Go: the
// aggregated row and power validation that InferenceX's
// utils/process_result.py (with aggregate_power.py) makes from a client
// result file, the result file names InferenceX's workflows give, and
// InferenceX's aggregated JSON for rows kept in fleet's store.
package ixresult

import (
	"encoding/json"
	"strconv"

	"github.com/fleetbench/fleet/internal/inferencex"
)

// Role is one role (prefill or decode) of a multi-node job, as the
// multi-node workflow passes it to process_result (PREFILL_TP, ...).
type Role struct {
	TP, PP, DCP, PCP, EP int
	// DPAttention is the string the workflow passed ("true"/"false");
	// process_result writes it unchanged.
	DPAttention string
	NumWorkers  int
}

// Params is everything process_result reads from its environment.
type Params struct {
	RunnerType     string // RUNNER_TYPE: the matrix label, written as hw
	Framework      string
	Precision      string
	SpecDecoding   string
	ResultFilename string // RESULT_FILENAME: the client file is <it>.json
	ISL, OSL       int
	Disagg         bool
	ModelPrefix    string
	Image          string
	// RecipeFingerprint is written as given, "" when none.
	RecipeFingerprint string
	// RouterMetadata is ROUTER_METADATA: a JSON object with exactly a
	// non-empty name and version, or "" (or "null") for none.
	RouterMetadata string
	KVP2PTransfer  string // written only when not empty
	IsMultinode    bool

	// Single node.
	TP, EP int
	// DPAttention is DP_ATTENTION as given ("true"/"false"): process_result
	// writes the string, not a bool.
	DPAttention  string
	PP, DCP, PCP int // 0 reads as 1 (the variables' defaults)

	// Multi-node. PrefillGPUs and DecodeGPUs are what the workflow reads
	// from each result file's name (ParseMultiNodeStem).
	Prefill, Decode         Role
	PrefillGPUs, DecodeGPUs int
	PrefillHW, DecodeHW     string // both or neither
}

// GPUs is the GPU count power is checked against: tp x pp x pcp on one
// node, prefill + decode GPUs on several.
func (p *Params) GPUs() int {
	if p.IsMultinode {
		return p.PrefillGPUs + p.DecodeGPUs
	}
	return p.TP * one(p.PP) * one(p.PCP)
}

// one is a size whose unset value means 1.
func one(n int) int {
	if n == 0 {
		return 1
	}
	return n
}

// ParamsFor is the environment InferenceX's workflows give process_result
// for a generator row run on the runner named runnerName. For a
// multi-node row, ResultFilename is the base name and PrefillGPUs and
// DecodeGPUs the workers' totals; the workflow processes each client file
// with its own stem and the counts in its name (ParseMultiNodeStem), so
// callers override those three per file.
func ParamsFor(j *inferencex.Job, runnerName string) Params {
	p := Params{
		RunnerType: j.Runner, Framework: j.Framework, Precision: j.Precision, SpecDecoding: j.SpecDecoding,
		ResultFilename: ResultFilename(j, runnerName), ISL: j.ISL, OSL: j.OSL, Disagg: j.Disagg,
		ModelPrefix: j.ModelPrefix, Image: j.Image, RecipeFingerprint: j.RecipeFingerprint,
		KVP2PTransfer: j.KVP2PTransfer, IsMultinode: j.MultiNode,
	}
	if j.Router != nil {
		// The workflow passes the row's router object as JSON.
		b, _ := json.Marshal(map[string]string{"name": j.Router.Name, "version": j.Router.Version})
		p.RouterMetadata = string(b)
	}
	if !j.MultiNode {
		p.TP, p.EP, p.DPAttention = j.TP, j.EP, strconv.FormatBool(j.DPAttn)
		p.PP, p.DCP, p.PCP = one(j.PP), one(j.DCPSize), one(j.PCPSize)
		return p
	}
	role := func(w *inferencex.Worker) Role {
		if w == nil {
			return Role{PP: 1, DCP: 1, PCP: 1, DPAttention: "false"}
		}
		return Role{TP: w.TP, PP: one(w.PP), DCP: one(w.DCPSize), PCP: one(w.PCPSize), EP: w.EP,
			DPAttention: strconv.FormatBool(w.DPAttn), NumWorkers: w.NumWorker}
	}
	p.Prefill, p.Decode = role(j.Prefill), role(j.Decode)
	p.PrefillGPUs, p.DecodeGPUs = j.Prefill.GPUs(), j.Decode.GPUs()
	if j.Prefill != nil && j.Decode != nil && j.Prefill.Hardware != "" && j.Decode.Hardware != "" {
		p.PrefillHW, p.DecodeHW = j.Prefill.Hardware, j.Decode.Hardware
	}
	return p
}
