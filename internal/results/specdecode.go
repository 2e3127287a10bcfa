package results

import (
	"encoding/json"
	"math"
)

// KeySpecAcceptLength is the row key of the mean acceptance length the
// client measured on the server's speculative decoding counters: tokens
// emitted per decode step (1 + accepted / drafts).
const KeySpecAcceptLength = "spec_accept_length"

// SetSpec writes a fleet job's speculative decoding into its row as
// InferenceX's rows carry it: spec_decoding ("none" when the job does
// not draft) and, when the client's result (bench's JSON) measured one,
// spec_accept_length. A job whose config names no spec (method "")
// leaves the row as it was.
func (r *Row) SetSpec(method string, clientResult []byte) {
	if method == "" {
		return
	}
	if r.Extra == nil {
		r.Extra = map[string]json.RawMessage{}
	}
	b, _ := json.Marshal(method)
	r.Extra["spec_decoding"] = b
	var res struct {
		AcceptLength *float64 `json:"spec_accept_length"`
	}
	if json.Unmarshal(clientResult, &res) == nil && res.AcceptLength != nil && !math.IsNaN(*res.AcceptLength) && !math.IsInf(*res.AcceptLength, 0) {
		if r.Metrics == nil {
			r.Metrics = map[string]float64{}
		}
		r.Metrics[KeySpecAcceptLength] = *res.AcceptLength
	}
}

// SpecAcceptLength is the row's measured acceptance length, if any.
func (r *Row) SpecAcceptLength() (float64, bool) {
	v, ok := r.Metrics[KeySpecAcceptLength]
	return v, ok
}
