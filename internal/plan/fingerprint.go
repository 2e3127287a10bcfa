package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/fleetbench/fleet/internal/topology"
)

// fingerprintRecipe is everything that defines a fleet job's result
// except its concurrency: the canonical form Fingerprint hashes. Names
// (job id, config key, model prefix, scenario name), where the job runs
// (runner labels, node, candidates) and the concurrency are left out, so
// that renaming a config or moving a job to another machine of the same
// GPU type keeps its results, and every concurrency of one recipe shares
// one fingerprint. The client's prompt and warm-up counts enter per unit
// of concurrency, since the job's counts scale with it. Defaults that
// mean the same result are written one way (pp and ep of 0 are 1, no
// server arguments is an empty list).
//
// Changing this struct changes every fleet job's fingerprint, and with it
// which stored results `fleet sweep --only-changed` reuses: add fields
// only with care.
type fingerprintRecipe struct {
	Model          string            `json:"model"`
	Image          string            `json:"image"`
	Framework      string            `json:"framework"`
	Precision      string            `json:"precision"`
	GPU            string            `json:"gpu"`
	TP             int               `json:"tp"`
	EP             int               `json:"ep"`
	PP             int               `json:"pp"`
	DPAttn         bool              `json:"dp_attn"`
	ISL            int               `json:"isl"`
	OSL            int               `json:"osl"`
	MaxModelLen    int               `json:"max_model_len"`
	ServerArgs     []string          `json:"server_args"`
	Env            map[string]string `json:"env"`
	Spec           string            `json:"spec"`
	RangeRatio     float64           `json:"range_ratio"`
	PromptsPerConc int               `json:"prompts_per_conc"`
	WarmupsPerConc int               `json:"warmups_per_conc"`
	Percentiles    []float64         `json:"percentiles"`
	ClientArgs     []string          `json:"client_args"`
	Multi          *topology.Shape   `json:"multi"`
	Agentic        *AgenticSpec      `json:"agentic"`

	// The size of a drafting spec; omitted when zero, so that the
	// fingerprints of jobs without spec stayed as they were.
	SpecTokens       int     `json:"spec_tokens,omitempty"`
	DraftModel       string  `json:"draft_model,omitempty"`
	SpecAcceptLength float64 `json:"spec_accept_length,omitempty"`
	// Eval is absent for a job that does not eval, so that such jobs
	// keep their fingerprints; a job that evals is a different recipe
	// (its row carries scores, or is eval-only). The dataset enters by
	// name, not by where the controller keeps it.
	Eval *EvalSpec `json:"eval,omitempty"`
}

// Fingerprint is the job's recipe fingerprint: the hash of everything that
// defines its result except the concurrency, so that a result measured
// before can stand in for the job when nothing in it changed.
//
// An InferenceX job has its row's: the recipe-fingerprint the row carries
// (InferenceX's CI sets it), else inferencex.RecipeFingerprint of the row.
// A fleet job's is made the same way, over fingerprintRecipe: the SHA-256,
// in hex, of its sorted-key compact JSON (inferencex.CanonicalSHA256).
func Fingerprint(j *Job) (string, error) {
	if ix := j.InferenceX; ix != nil {
		if ix.RecipeFingerprint != "" {
			return ix.RecipeFingerprint, nil
		}
		fp, err := inferencex.RecipeFingerprint(ix)
		if err != nil {
			return "", fmt.Errorf("job %s: %w", j.ID, err)
		}
		return fp, nil
	}
	b, err := recipeJSON(j)
	if err != nil {
		return "", err
	}
	return canonicalFingerprint(j, b)
}

// recipeJSON is j's recipe as encoding/json writes it: the same bytes
// for the same recipe, since struct fields come in order and map keys
// sorted.
func recipeJSON(j *Job) ([]byte, error) {
	r := fingerprintRecipe{
		Model: j.Model, Image: j.Image, Framework: j.Framework, Precision: j.Precision, GPU: j.GPU,
		TP: j.TP, EP: max(j.EP, 1), PP: max(j.PP, 1), DPAttn: j.DPAttn,
		ISL: j.ISL, OSL: j.OSL, MaxModelLen: j.MaxModelLen,
		ServerArgs: orEmpty(j.ServerArgs), Env: maps.Clone(j.Env), Spec: j.Spec,
		SpecTokens: j.SpecTokens, DraftModel: j.DraftModel, SpecAcceptLength: j.SpecAcceptLength,
		RangeRatio: j.RangeRatio, Percentiles: slices.Clone(j.Percentiles), ClientArgs: orEmpty(j.ClientArgs),
		Multi: j.Multi, Agentic: j.Agentic, Eval: fingerprintEval(j.Eval),
	}
	if r.Env == nil {
		r.Env = map[string]string{}
	}
	if r.Percentiles == nil {
		r.Percentiles = []float64{}
	}
	if j.Conc > 0 {
		r.PromptsPerConc, r.WarmupsPerConc = j.NumPrompts/j.Conc, j.NumWarmups/j.Conc
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("job %s: recipe fingerprint: %w", j.ID, err)
	}
	return b, nil
}

// canonicalFingerprint hashes a recipe's JSON in InferenceX's canonical
// form.
func canonicalFingerprint(j *Job, b []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var canonical map[string]any
	if err := dec.Decode(&canonical); err != nil {
		return "", fmt.Errorf("job %s: recipe fingerprint: %w", j.ID, err)
	}
	fp, err := inferencex.CanonicalSHA256(canonical)
	if err != nil {
		return "", fmt.Errorf("job %s: %w", j.ID, err)
	}
	return fp, nil
}

// SetFingerprints sets every job's Fingerprint. Run it on placed jobs: a
// job's GPU type, which the placement may choose, is part of its recipe.
// Jobs that differ only
// in what the recipe leaves out (the concurrency, above all) share one,
// so each distinct recipe is hashed once: the canonical form is most of
// planning a large matrix otherwise.
func SetFingerprints(jobs []*Job) error {
	seen := map[string]string{}
	for _, j := range jobs {
		if j.InferenceX != nil {
			fp, err := Fingerprint(j)
			if err != nil {
				return err
			}
			j.Fingerprint = fp
			continue
		}
		b, err := recipeJSON(j)
		if err != nil {
			return err
		}
		fp, ok := seen[string(b)]
		if !ok {
			if fp, err = canonicalFingerprint(j, b); err != nil {
				return err
			}
			seen[string(b)] = fp
		}
		j.Fingerprint = fp
	}
	return nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}
