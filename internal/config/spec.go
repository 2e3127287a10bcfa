package config

import (
	"math"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Spec is one speculative-decoding setting of a search band: a band
// makes one job per setting and concurrency.
type Spec struct {
	// Method is InferenceX's spec-decoding value (SpecMethods): "none",
	// "mtp" (the model's own multi-token-prediction heads), "eagle3" (an
	// EAGLE-3 draft head, DraftModel) or "draft_model" (a separate small
	// model, DraftModel).
	Method string
	// Tokens is how many tokens the drafter proposes per step; 0 with
	// "none".
	Tokens int
	// DraftModel is the draft model or EAGLE head (Hugging Face id or
	// path); "" for "none" and "mtp".
	DraftModel string
	// AcceptLength, when positive, pins the mean acceptance length
	// (tokens emitted per decode step, 1 to Tokens+1) as InferenceX's
	// synthetic acceptance does, so that results compare systems rather
	// than draft heads; 0 leaves acceptance to the drafter.
	AcceptLength float64
}

// On reports whether s drafts at all.
func (s Spec) On() bool { return s.Method != "" && s.Method != "none" }

// SpecMethods are the values of spec; InferenceX's (none, mtp,
// draft_model) and eagle3.
var SpecMethods = []string{"none", "mtp", "eagle3", "draft_model"}

// SpecFrameworks are the frameworks whose launchers render speculative
// decoding flags (scripts/server/*.sh).
var SpecFrameworks = []string{"vllm", "sglang", "trt", "sim"}

// DefaultSpecTokens is the draft length when spec_tokens is not given:
// InferenceX's MTP recipes draft three tokens.
const DefaultSpecTokens = 3

// maxSpecTokens bounds spec_tokens: real drafters propose a handful.
const maxSpecTokens = 32

// specAttrs are the spec keys of one block as written.
type specAttrs struct {
	methods      []string
	tokens       int
	draft        string
	acceptLength float64
	// The attributes, nil where the block does not set the key.
	methodsAt, tokensAt, draftAt, acceptAt *hcl.Attribute
}

// specKeys decodes the spec keys of one block (a config or a search band)
// with their own checks; how they combine is checked by specs.
func (d *decoder) specKeys(a hcl.Attributes) specAttrs {
	var s specAttrs
	if attr := d.strings(a, "spec", true, &s.methods); attr != nil {
		s.methodsAt = attr
		if len(s.methods) == 0 {
			d.errorf(attr.Expr.Range(), "Invalid value", "spec must name at least one method: one of %s, or a list of them such as [\"none\", \"mtp\"].", strings.Join(SpecMethods, ", "))
		}
		seen := map[string]bool{}
		kept := s.methods[:0]
		for _, m := range s.methods {
			switch {
			case !slices.Contains(SpecMethods, m):
				d.errorf(attr.Expr.Range(), "Invalid value", "%q is not a speculative decoding method; valid values: %s.%s", m, strings.Join(SpecMethods, ", "), didYouMean(m, SpecMethods))
			case seen[m]:
				// Reported once here, not again as duplicate jobs.
				d.errorf(attr.Expr.Range(), "Invalid value", "spec lists %q twice.", m)
			default:
				kept = append(kept, m)
			}
			seen[m] = true
		}
		s.methods = kept
	}
	if attr := d.integer(a, "spec_tokens", &s.tokens); attr != nil {
		s.tokensAt = attr
		if s.tokens < 1 {
			d.errorf(attr.Expr.Range(), "Invalid value", "spec_tokens must be at least 1 (draft tokens per step), not %d.", s.tokens)
		} else {
			d.atMost(attr, s.tokens, maxSpecTokens)
		}
	}
	if attr := d.str(a, "draft_model", &s.draft); attr != nil {
		s.draftAt = attr
		if d.nonEmpty(attr, "draft_model", s.draft) {
			d.notOption(attr, "draft_model", s.draft)
		}
	}
	if attr := d.number(a, "spec_accept_length", &s.acceptLength); attr != nil {
		s.acceptAt = attr
		if !(s.acceptLength >= 1) {
			d.errorf(attr.Expr.Range(), "Invalid value", "spec_accept_length is tokens emitted per decode step, at least 1, not %g.", s.acceptLength)
		}
	}
	return s
}

// over is band's keys over its config's (base): a key the band sets wins.
func (band specAttrs) over(base specAttrs) specAttrs {
	out := base
	if band.methodsAt != nil {
		out.methods, out.methodsAt = band.methods, band.methodsAt
	}
	if band.tokensAt != nil {
		out.tokens, out.tokensAt = band.tokens, band.tokensAt
	}
	if band.draftAt != nil {
		out.draft, out.draftAt = band.draft, band.draftAt
	}
	if band.acceptAt != nil {
		out.acceptLength, out.acceptAt = band.acceptLength, band.acceptAt
	}
	return out
}

// specs turns a band's spec keys (its own over its config's) into its
// settings, or nil when neither names spec: such a band's jobs carry no
// spec at all, as before the dimension existed. framework is the
// config's; multi says the band is multi-node.
func (d *decoder) specs(band, base specAttrs, framework string, multi bool) []Spec {
	s := band.over(base)
	// A mismatch between a config's default and a band's override is the
	// override's business: only keys written in one block are compared.
	sameBlock := func(a, b *hcl.Attribute) bool { return band.has(a) == band.has(b) }
	if s.methodsAt == nil {
		for _, at := range []*hcl.Attribute{s.tokensAt, s.draftAt, s.acceptAt} {
			// A config's key is reported once, not once per band.
			if at != nil && !d.specReported[at] {
				if d.specReported == nil {
					d.specReported = map[*hcl.Attribute]bool{}
				}
				d.specReported[at] = true
				d.errorf(at.NameRange, "Missing spec", "%s sets the size of speculative decoding, but no spec names a method here or in the config: add spec = \"mtp\" (or eagle3, draft_model).", at.Name)
			}
		}
		return nil
	}
	anyOn, needsDraft := false, false
	for _, m := range s.methods {
		anyOn = anyOn || m != "none"
		needsDraft = needsDraft || m == "eagle3" || m == "draft_model"
	}
	if anyOn && multi {
		d.errorf(s.methodsAt.Expr.Range(), "Unsupported spec", "Speculative decoding on a multi-node band is not supported: fleet's multi-node launchers do not render draft settings. Use spec = \"none\" here, or pass the framework's flags in server_args.")
		return nil
	}
	if anyOn && framework != "" && !slices.Contains(SpecFrameworks, framework) {
		d.errorf(s.methodsAt.Expr.Range(), "Unsupported spec", "Framework %q has no speculative decoding in fleet's launchers; spec works with %s.", framework, strings.Join(SpecFrameworks, ", "))
		return nil
	}
	if needsDraft && s.draftAt == nil {
		d.errorf(s.methodsAt.Expr.Range(), "Missing draft_model", "spec %q needs the drafter to load: set draft_model = \"<Hugging Face id or path>\" beside it (or in the config).", firstOf(s.methods, "eagle3", "draft_model"))
	}
	if !anyOn {
		for _, at := range []*hcl.Attribute{s.tokensAt, s.draftAt, s.acceptAt} {
			if at != nil && sameBlock(at, s.methodsAt) {
				d.errorf(at.NameRange, "Unused argument", "%s has no effect with spec = \"none\": remove it, or add a method such as spec = [\"none\", \"mtp\"].", at.Name)
			}
		}
	}
	if s.draftAt != nil && !needsDraft && anyOn && sameBlock(s.draftAt, s.methodsAt) {
		d.errorf(s.draftAt.NameRange, "Unused argument", "draft_model is loaded only by spec \"eagle3\" or \"draft_model\"; spec here is %s (mtp drafts with the model's own heads).", strings.Join(s.methods, ", "))
	}
	tokens := s.tokens
	if s.tokensAt == nil {
		tokens = DefaultSpecTokens
	}
	if s.acceptAt != nil && anyOn {
		switch {
		case s.acceptLength > float64(tokens+1):
			d.errorf(s.acceptAt.Expr.Range(), "Invalid value", "spec_accept_length %g is more than spec_tokens + 1 = %d, the most one step can emit.", s.acceptLength, tokens+1)
		case framework == "vllm":
			d.errorf(s.acceptAt.Expr.Range(), "Unsupported spec", "vLLM has no setting that pins the acceptance length: leave spec_accept_length out of vllm configs (SGLang, TensorRT-LLM and sim have one).")
		case framework == "trt" && s.acceptLength != math.Trunc(s.acceptLength):
			d.errorf(s.acceptAt.Expr.Range(), "Invalid value", "TensorRT-LLM forces a whole number of accepted tokens: spec_accept_length %g must be a whole number for trt.", s.acceptLength)
		}
	}
	if s.draftAt != nil && strings.ContainsAny(s.draft, "\"'\\\n") {
		d.errorf(s.draftAt.Expr.Range(), "Invalid value", "draft_model %q holds a quote, backslash or line break; a model id or path has none (the launchers write it into JSON and YAML).", s.draft)
	}
	out := make([]Spec, 0, len(s.methods))
	for _, m := range s.methods {
		if m == "none" {
			out = append(out, Spec{Method: m})
			continue
		}
		sp := Spec{Method: m, Tokens: tokens, AcceptLength: s.acceptLength}
		if m != "mtp" {
			sp.DraftModel = s.draft
		}
		out = append(out, sp)
	}
	return out
}

// has reports whether at is one of s's attributes.
func (s specAttrs) has(at *hcl.Attribute) bool {
	return at != nil && (at == s.methodsAt || at == s.tokensAt || at == s.draftAt || at == s.acceptAt)
}

func firstOf(list []string, want ...string) string {
	for _, m := range list {
		if slices.Contains(want, m) {
			return m
		}
	}
	return ""
}

// SpecsOf is a band's settings to expand: its Spec, or one zero Spec (no
// spec named) when it has none.
func SpecsOf(s *Search) []Spec {
	if len(s.Spec) == 0 {
		return []Spec{{}}
	}
	return s.Spec
}

// specWords names a setting in a message: "" without a method.
func specWords(s Spec) string {
	if s.Method == "" {
		return ""
	}
	return " spec=" + s.Method
}
