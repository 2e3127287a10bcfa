package jobspec

import (
	"strconv"
	"strings"
)

// specMethods are the speculative decoding methods a job may name
// (config.SpecMethods; repeated here so that the node's side does not
// import the controller's configuration).
var specMethods = []string{"none", "mtp", "eagle3", "draft_model"}

// SpecOn reports whether the job drafts.
func (j *Job) SpecOn() bool { return j.Spec != "" && j.Spec != "none" }

// validateSpec checks the speculative decoding fields of a fleet job. An
// InferenceX job's spec is its row's, which its own script reads.
func (j *Job) validateSpec(bad func(field, format string, args ...any)) {
	if j.Spec == "" || j.InferenceX != nil {
		return
	}
	known := false
	for _, m := range specMethods {
		known = known || j.Spec == m
	}
	if !known {
		bad("spec_decoding", "%q: want one of %s", j.Spec, strings.Join(specMethods, ", "))
		return
	}
	if !j.SpecOn() {
		return
	}
	if j.SpecTokens < 1 {
		bad("num_spec_tokens", "%d: want at least 1 draft token with spec_decoding %q", j.SpecTokens, j.Spec)
	}
	if (j.Spec == "eagle3" || j.Spec == "draft_model") && strings.TrimSpace(j.DraftModel) == "" {
		bad("draft_model", "missing: spec_decoding %q loads a drafter", j.Spec)
	}
	if strings.ContainsAny(j.DraftModel, "\n\r\x00") {
		bad("draft_model", "%q contains a line break", j.DraftModel)
	}
	if j.SpecAcceptLength != 0 && !(j.SpecAcceptLength >= 1 && j.SpecAcceptLength <= float64(j.SpecTokens+1)) {
		bad("spec_accept_length", "%v: want 1 to num_spec_tokens + 1 = %d", j.SpecAcceptLength, j.SpecTokens+1)
	}
}

// specEnv adds the speculative decoding variables of scripts/README.md
// for a fleet job that names spec (none included): SPEC_DECODING as
// InferenceX's workflow sets it, and when it drafts NUM_SPEC_TOKENS,
// DRAFT_MODEL and SPEC_ACCEPT_LENGTH, which the launchers turn into
// their framework's flags. A job without spec gets none of them.
func (j *Job) specEnv(env map[string]string) {
	if j.Spec == "" || j.InferenceX != nil {
		return
	}
	env["SPEC_DECODING"] = j.Spec
	if !j.SpecOn() {
		return
	}
	env["NUM_SPEC_TOKENS"] = strconv.Itoa(j.SpecTokens)
	if j.DraftModel != "" {
		env["DRAFT_MODEL"] = j.DraftModel
	}
	if j.SpecAcceptLength > 0 {
		env["SPEC_ACCEPT_LENGTH"] = strconv.FormatFloat(j.SpecAcceptLength, 'f', -1, 64)
	}
}
