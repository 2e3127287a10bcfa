package plan

import (
	"fmt"
	"strconv"

	"github.com/fleetbench/fleet/internal/config"
)

// setSpec gives a job its band's speculative decoding setting; a zero
// setting (the band names no spec) leaves the job without one.
func setSpec(j *Job, s config.Spec) {
	j.Spec, j.SpecTokens, j.DraftModel, j.SpecAcceptLength = s.Method, s.Tokens, s.DraftModel, s.AcceptLength
}

// specOn reports whether the job drafts.
func specOn(j *Job) bool { return j.Spec != "" && j.Spec != "none" }

// specPoint is the job id's part for speculative decoding: "-spec-mtp"
// when the job drafts, "" otherwise, so that ids of jobs without spec
// read as they always did.
func specPoint(j *Job) string {
	if !specOn(j) {
		return ""
	}
	return "-spec-" + j.Spec
}

// specName is the result name's part, as InferenceX spells it:
// "_spec-<method>" (spec-none too) whenever the job's config names spec,
// "" when it does not, so that earlier names stay as they were.
func specName(j *Job) string {
	if j.Spec == "" {
		return ""
	}
	return "_spec-" + j.Spec
}

// SpecLine describes a drafting job's speculative decoding for the plan,
// "" for a job that does not draft.
func SpecLine(j *Job) string {
	if !specOn(j) {
		return ""
	}
	s := fmt.Sprintf("  speculative decoding %s, %d draft tokens per step", j.Spec, j.SpecTokens)
	if j.DraftModel != "" {
		s += ", drafter " + j.DraftModel
	}
	if j.SpecAcceptLength > 0 {
		s += ", acceptance length pinned at " + strconv.FormatFloat(j.SpecAcceptLength, 'f', -1, 64)
	}
	return s
}
