package config

import (
	"fmt"
	"math"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Limits on what a file may ask for. A sweep file is input like any
// other: a few lines of HCL can describe billions of jobs, and numbers
// that multiply (prompts per concurrency × concurrency) can overflow. Each
// limit is far above any real benchmark, so a file that passes it is a
// mistake or an attack, and is refused with a diagnostic at the value.
const (
	// DefaultMaxJobs is how many jobs one sweep may make unless the
	// command line raises it (--max-jobs): a full InferenceMAX sweep is a
	// few thousand.
	DefaultMaxJobs = 20000
	// MaxListLen bounds every list a file gives (and what setproduct
	// makes), checked before any element is converted. cty's range makes
	// at most 1024 numbers already.
	MaxListLen = 4096

	maxGPUs           = 1024    // tp, ep, pp, gpus, gpus_per_node
	maxConc           = 65536   // concurrent requests of one job
	maxTokens         = 1 << 24 // isl, osl, max_model_len
	maxPromptsPerConc = 10000   // and warmups_per_conc
	maxRetries        = 100
	maxMaxNodes       = 4096
	maxDurationText   = "720h" // 30 days: any timeout longer is a typo
)

// atMost reports an integer above its ceiling and says so at the value.
func (d *decoder) atMost(attr *hcl.Attribute, v, hi int) bool {
	if attr == nil || v <= hi {
		return true
	}
	d.errorf(attr.Expr.Range(), "Value too large", "%s must be at most %d, not %d.", attr.Name, hi, v)
	return false
}

// notOption refuses a value that would be read as an option where it
// becomes an argument of a command on a node (the model of `vllm serve`,
// the image of `docker run`, a path given to mkdir): a leading '-' turns
// data into a flag.
func (d *decoder) notOption(attr *hcl.Attribute, what, v string) bool {
	if attr == nil || !strings.HasPrefix(strings.TrimSpace(v), "-") {
		return true
	}
	d.errorf(attr.Expr.Range(), "Invalid value",
		"The %s %q starts with '-': the command on the node it is given to would read it as an option.", what, v)
	return false
}

// nonEmpty refuses an empty or blank required string.
func (d *decoder) nonEmpty(attr *hcl.Attribute, what, v string) bool {
	if attr == nil || strings.TrimSpace(v) != "" {
		return true
	}
	d.errorf(attr.Expr.Range(), "Invalid value", "The %s must not be empty.", what)
	return false
}

// tooMany is the diagnostic of a list longer than MaxListLen.
func (d *decoder) tooMany(attr *hcl.Attribute, n int) {
	d.errorf(attr.Expr.Range(), "List too long",
		"The value of %q has %d elements; a list holds at most %d.", attr.Name, n, MaxListLen)
}

// limitedSetProduct is cty's setproduct, refusing results longer than
// MaxListLen before making them: the product of a few short lists is
// enormous.
func limitedSetProduct() function.Function {
	inner := stdlib.SetProductFunc
	return function.New(&function.Spec{
		Description: inner.Description(),
		VarParam:    inner.VarParam(),
		Type:        func(args []cty.Value) (cty.Type, error) { return inner.ReturnTypeForValues(args) },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			n := 1.0
			for _, a := range args {
				if !a.IsKnown() || a.IsNull() || !a.CanIterateElements() {
					return inner.Call(args)
				}
				n *= float64(a.LengthInt())
			}
			if n > MaxListLen {
				return cty.NilVal, fmt.Errorf("setproduct would make %.0f combinations; at most %d are allowed", n, MaxListLen)
			}
			return inner.Call(args)
		},
	})
}

// countCeiling bounds the counting of a sweep over its job limit: beyond
// countCeiling × the limit it says "more than".
const countCeiling = 10

// countJobs adds a search band's jobs to the sweep's count and notes
// where the count first passes the limit.
func (d *decoder) countJobs(s *Search) {
	switch {
	case s.Multi != nil && s.Offload == nil && len(s.Conc) > 0:
		d.jobs++ // one deployment runs the whole list (an agentic band: one job per concurrency)
	default:
		d.jobs += len(s.Conc) * max(len(s.Spec), 1)
	}
	if d.maxJobs > 0 && d.jobs > d.maxJobs && d.overAt == nil {
		d.overAt = s.Range.Ptr()
	}
}

// countConc is how many concurrencies a search block lists, read without
// converting or checking them.
func (d *decoder) countConc(a hcl.Attributes) int {
	if attr, ok := a["conc"]; ok {
		v, diags := attr.Expr.Value(d.ctx)
		if diags.HasErrors() || !v.IsKnown() || v.IsNull() || !v.CanIterateElements() {
			return 0
		}
		return v.LengthInt()
	}
	var start, end int
	for name, dst := range map[string]*int{"conc_start": &start, "conc_end": &end} {
		attr, ok := a[name]
		if !ok {
			return 0
		}
		v, diags := attr.Expr.Value(d.ctx)
		if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
			return 0
		}
		f, _ := v.AsBigFloat().Float64()
		*dst = int(math.Min(math.Max(f, 0), maxConc))
	}
	n := 0
	for c := max(start, 1); c <= end; c *= 2 {
		n++
	}
	return n
}

// checkJobCount refuses a sweep over its job limit, at the search block
// where the count passes it.
func (d *decoder) checkJobCount() {
	if d.overAt == nil {
		return
	}
	count, raise := fmt.Sprintf("%d", d.jobs), fmt.Sprintf("--max-jobs %d", d.jobs)
	if d.jobs > countCeiling*d.maxJobs {
		count, raise = fmt.Sprintf("more than %d", countCeiling*d.maxJobs), "--max-jobs N"
	}
	d.errorf(*d.overAt, "Too many jobs",
		"This sweep makes %s jobs, more than the limit of %d; this search block passes the limit. Narrow the search space (fewer concurrencies, bands, scenarios or configs), or, if the sweep is meant to be this large, raise the limit with %s.",
		count, d.maxJobs, raise)
}

// limitedFlatten is cty's flatten, refusing results longer than
// MaxListLen: it counts the elements first, which is cheap, instead of
// building a list of millions to refuse it afterwards.
func limitedFlatten() function.Function {
	inner := stdlib.FlattenFunc
	return function.New(&function.Spec{
		Description: inner.Description(),
		Params:      inner.Params(),
		Type:        func(args []cty.Value) (cty.Type, error) { return inner.ReturnTypeForValues(args) },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if n := leaves(args[0], MaxListLen+1); n > MaxListLen {
				return cty.NilVal, fmt.Errorf("flatten would make more than %d values", MaxListLen)
			}
			return inner.Call(args)
		},
	})
}

// leaves counts the elements flatten would make of v, stopping past limit.
func leaves(v cty.Value, limit int) int {
	ty := v.Type()
	if !v.IsKnown() || v.IsNull() || !(ty.IsListType() || ty.IsSetType() || ty.IsTupleType()) {
		return 1
	}
	n := 0
	for it := v.ElementIterator(); it.Next() && n < limit; {
		_, e := it.Element()
		n += leaves(e, limit-n)
	}
	return n
}
