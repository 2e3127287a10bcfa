package results

import (
	"encoding/json"
	"time"
)

// Extra keys fleet gives a row's recipe and its reuse. The fingerprint
// lives where InferenceX's rows carry it (recipe_fingerprint, a hex string
// or ""), for fleet's own rows too, so every row has it in one place.
const (
	FingerprintKey = "recipe_fingerprint"
	// ReusedKey marks a row a sweep with --only-changed took from an
	// earlier run instead of measuring it again: {"run","job","started"}.
	ReusedKey = "reused_from"
)

// Reuse says where a reused row was measured.
type Reuse struct {
	Run     string    `json:"run"`
	Job     string    `json:"job"`
	Started time.Time `json:"started,omitzero"` // when that run started
}

// Fingerprint is the row's recipe fingerprint, "" when it has none.
func (r *Row) Fingerprint() string {
	var s string
	if json.Unmarshal(r.Extra[FingerprintKey], &s) != nil {
		return ""
	}
	return s
}

// SetFingerprint records the row's recipe fingerprint; "" leaves the row
// as it is.
func (r *Row) SetFingerprint(fp string) {
	if fp == "" {
		return
	}
	r.setExtra(FingerprintKey, fp)
}

// ReusedFrom is where the row was measured when a sweep reused it; nil
// for a row measured in its own run.
func (r *Row) ReusedFrom() *Reuse {
	raw, ok := r.Extra[ReusedKey]
	if !ok {
		return nil
	}
	var u Reuse
	if json.Unmarshal(raw, &u) != nil || u.Run == "" {
		return nil
	}
	return &u
}

// MarkReused marks the row as taken from an earlier run.
func (r *Row) MarkReused(u Reuse) { r.setExtra(ReusedKey, u) }

func (r *Row) setExtra(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return // strings and Reuse always marshal
	}
	if r.Extra == nil {
		r.Extra = map[string]json.RawMessage{}
	}
	r.Extra[key] = b
}
