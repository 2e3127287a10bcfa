// Package plan expands a sweep into jobs, filters them, and places them on
// the machines of an inventory.
package plan

import (
	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/fleetbench/fleet/internal/topology"
)

// Job is one benchmark run: one server configuration at one concurrency.
type Job struct {
	// ID is stable across runs and retries: it derives from the config key
	// and the point in the search space, never from the placement. See
	// JobID for the rule that makes it safe as a directory name.
	ID          string            `json:"id"`
	Config      string            `json:"config"` // config key
	Model       string            `json:"model"`
	ModelPrefix string            `json:"model_prefix"`
	Image       string            `json:"image"`
	Precision   string            `json:"precision"`
	Framework   string            `json:"framework"`
	Runner      []string          `json:"runner"`
	GPU         string            `json:"gpu,omitempty"` // GPU type the placement chose (or the config asked for)
	Seq         string            `json:"seq"`           // scenario name: 1k1k, 1k8k, 8k1k
	ISL         int               `json:"isl"`
	OSL         int               `json:"osl"`
	MaxModelLen int               `json:"max_model_len"`
	TP          int               `json:"tp"`
	EP          int               `json:"ep"`
	PP          int               `json:"pp"`
	DPAttn      bool              `json:"dp_attn"`
	Conc        int               `json:"conc"`
	ServerArgs  []string          `json:"server_args,omitempty"`
	Env         map[string]string `json:"env,omitempty"`

	RangeRatio  float64   `json:"range_ratio"`
	NumPrompts  int       `json:"num_prompts"`
	NumWarmups  int       `json:"num_warmups"`
	Percentiles []float64 `json:"percentiles"`
	ClientArgs  []string  `json:"client_args,omitempty"`

	// Spec is the speculative decoding method (none, mtp, eagle3,
	// draft_model); empty for a fleet config that names no spec. The
	// size fields are set when it drafts (spec.go).
	Spec             string  `json:"spec,omitempty"`
	SpecTokens       int     `json:"spec_tokens,omitempty"`
	DraftModel       string  `json:"draft_model,omitempty"`
	SpecAcceptLength float64 `json:"spec_accept_length,omitempty"`
	// InferenceX is set for a job expanded from an InferenceX checkout: the
	// generator's row, exactly as InferenceX's generator writes it.
	InferenceX *inferencex.Job `json:"inferencex,omitempty"`
	// Multi is set for a multi-node job: its worker pools and router.
	// Such a job deploys once and runs the client at every concurrency
	// of ConcList in turn (Conc is the first of them).
	Multi    *topology.Shape `json:"multi,omitempty"`
	ConcList []int           `json:"conc_list,omitempty"`
	Agentic  *AgenticSpec    `json:"agentic,omitempty"`
	// Eval is set for a job that scores the model's accuracy (eval.go).
	Eval *EvalSpec `json:"eval,omitempty"`
	// Fingerprint is the job's recipe fingerprint (Fingerprint), set
	// once the job is placed (SetFingerprints).
	Fingerprint string `json:"fingerprint,omitempty"`
	// Why says why an InferenceX job was not placed (Placement.Unplaced).
	Why string `json:"why,omitempty"`

	// Node is the inventory node or cluster the job is placed on; empty
	// until placed. Candidates lists every machine that fits.
	Node       string   `json:"node,omitempty"`
	Candidates []string `json:"candidates,omitempty"`
}

// GPUs is how many GPUs the job occupies (tp x pp on a single node; an
// InferenceX row also counts its context-parallel ranks, and a multi-node
// row every worker of both roles).
func (j *Job) GPUs() int {
	if j.Multi != nil {
		return j.Multi.GPUs()
	}
	if j.InferenceX != nil {
		return j.InferenceX.GPUs()
	}
	pp := j.PP
	if pp < 1 {
		pp = 1
	}
	return j.TP * pp
}
