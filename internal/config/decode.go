package config

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// decoder turns evaluated attributes into Go values, collecting every
// problem as a diagnostic instead of stopping at the first one, so a user
// fixes a file in one round.
type decoder struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics

	// The job count of a sweep, kept while its search blocks are read so
	// that a sweep over maxJobs is refused before its jobs are made.
	maxJobs int
	jobs    int
	overAt  *hcl.Range // the search block where the count passed maxJobs

	// The spec keys of the config being read, which its bands inherit
	// (spec.go), its framework, and the config keys already reported.
	specBase      specAttrs
	specFramework string
	specReported  map[*hcl.Attribute]bool
}

func (d *decoder) errorf(subject hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

func (d *decoder) warnf(subject hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

// value evaluates an attribute and converts it to ty. A failed conversion
// is reported the way gohcl does, pointing at the value.
func (d *decoder) value(attr *hcl.Attribute, ty cty.Type) (cty.Value, bool) {
	v, diags := attr.Expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		d.errorf(attr.Expr.Range(), "Invalid value", "The value of %q must not be null.", attr.Name)
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		d.errorf(attr.Expr.Range(), "Invalid value", "The value of %q must be known when the file is read.", attr.Name)
		return cty.NilVal, false
	}
	cv, err := d.convert(attr, v, ty)
	if err != nil {
		if err == errTooLong {
			return cty.NilVal, false
		}
		d.errorf(attr.Expr.Range(), "Incorrect attribute value type", "Inappropriate value for attribute %q: %s.", attr.Name, err.Error())
		return cty.NilVal, false
	}
	if !cv.IsWhollyKnown() || (cv.CanIterateElements() && hasNull(cv)) {
		d.errorf(attr.Expr.Range(), "Invalid value", "The value of %q must not contain null elements.", attr.Name)
		return cty.NilVal, false
	}
	return cv, true
}

// errTooLong says convert already reported a list over MaxListLen.
var errTooLong = errors.New("list too long")

// convert is convert.Convert with the length of lists and maps checked
// first and their elements converted one by one. cty's own conversion of a
// tuple to a list unifies the element types pairwise, which takes time
// quadratic in the length: a 200,000-element list took minutes.
func (d *decoder) convert(attr *hcl.Attribute, v cty.Value, ty cty.Type) (cty.Value, error) {
	t := v.Type()
	seq := t.IsTupleType() || t.IsListType() || t.IsSetType()
	mapping := t.IsObjectType() || t.IsMapType()
	switch {
	case ty.IsListType() && seq:
		n := v.LengthInt()
		if n > MaxListLen {
			d.tooMany(attr, n)
			return cty.NilVal, errTooLong
		}
		if n == 0 {
			return cty.ListValEmpty(ty.ElementType()), nil
		}
		elems := make([]cty.Value, 0, n)
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			ce, err := convert.Convert(e, ty.ElementType())
			if err != nil {
				return cty.NilVal, fmt.Errorf("element %d: %w", len(elems), err)
			}
			elems = append(elems, ce)
		}
		return cty.ListVal(elems), nil
	case ty.IsMapType() && mapping:
		n := v.LengthInt()
		if n > MaxListLen {
			d.tooMany(attr, n)
			return cty.NilVal, errTooLong
		}
	}
	return convert.Convert(v, ty)
}

func hasNull(v cty.Value) bool {
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			return true
		}
	}
	return false
}

func (d *decoder) str(attrs hcl.Attributes, name string, dst *string) *hcl.Attribute {
	attr, ok := attrs[name]
	if !ok {
		return nil
	}
	v, ok := d.value(attr, cty.String)
	if !ok {
		return nil
	}
	*dst = v.AsString()
	return attr
}

func (d *decoder) boolean(attrs hcl.Attributes, name string, dst *bool) *hcl.Attribute {
	attr, ok := attrs[name]
	if !ok {
		return nil
	}
	v, ok := d.value(attr, cty.Bool)
	if !ok {
		return nil
	}
	*dst = v.True()
	return attr
}

func (d *decoder) number(attrs hcl.Attributes, name string, dst *float64) *hcl.Attribute {
	attr, ok := attrs[name]
	if !ok {
		return nil
	}
	v, ok := d.value(attr, cty.Number)
	if !ok {
		return nil
	}
	*dst, _ = v.AsBigFloat().Float64()
	return attr
}

// toInt accepts only whole numbers that fit an int: 8.5 GPUs is a typo,
// not something to round.
func (d *decoder) toInt(attr *hcl.Attribute, v cty.Value) (int, bool) {
	f := v.AsBigFloat()
	if !f.IsInt() {
		d.errorf(attr.Expr.Range(), "Invalid value", "The value of %q must be a whole number, not %s.", attr.Name, f.Text('g', -1))
		return 0, false
	}
	i, acc := f.Int64()
	if acc != big.Exact || i > 1<<31 || i < -(1<<31) {
		d.errorf(attr.Expr.Range(), "Invalid value", "The value of %q is out of range.", attr.Name)
		return 0, false
	}
	return int(i), true
}

func (d *decoder) integer(attrs hcl.Attributes, name string, dst *int) *hcl.Attribute {
	attr, ok := attrs[name]
	if !ok {
		return nil
	}
	v, ok := d.value(attr, cty.Number)
	if !ok {
		return nil
	}
	i, ok := d.toInt(attr, v)
	if !ok {
		return nil
	}
	*dst = i
	return attr
}

// strings decodes a list of strings; with single set a lone string is
// taken as a list of one (jump = "bastion", runner = "h200").
func (d *decoder) strings(attrs hcl.Attributes, name string, single bool, dst *[]string) *hcl.Attribute {
	attr, ok := attrs[name]
	if !ok {
		return nil
	}
	if single {
		v, diags := attr.Expr.Value(d.ctx)
		if !diags.HasErrors() && v.IsKnown() && !v.IsNull() && v.Type() == cty.String {
			*dst = []string{v.AsString()}
			return attr
		}
	}
	v, ok := d.value(attr, cty.List(cty.String))
	if !ok {
		return nil
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, e.AsString())
	}
	*dst = out
	return attr
}

func (d *decoder) integers(attrs hcl.Attributes, name string, dst *[]int) *hcl.Attribute {
	attr, ok := attrs[name]
	if !ok {
		return nil
	}
	v, ok := d.value(attr, cty.List(cty.Number))
	if !ok {
		return nil
	}
	out := make([]int, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		i, ok := d.toInt(attr, e)
		if !ok {
			return nil
		}
		out = append(out, i)
	}
	*dst = out
	return attr
}

func (d *decoder) numbers(attrs hcl.Attributes, name string, dst *[]float64) *hcl.Attribute {
	attr, ok := attrs[name]
	if !ok {
		return nil
	}
	v, ok := d.value(attr, cty.List(cty.Number))
	if !ok {
		return nil
	}
	out := make([]float64, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		f, _ := e.AsBigFloat().Float64()
		out = append(out, f)
	}
	*dst = out
	return attr
}

func (d *decoder) stringMap(attrs hcl.Attributes, name string, dst *map[string]string) *hcl.Attribute {
	attr, ok := attrs[name]
	if !ok {
		return nil
	}
	v, ok := d.value(attr, cty.Map(cty.String))
	if !ok {
		return nil
	}
	out := make(map[string]string, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		out[k.AsString()] = e.AsString()
	}
	*dst = out
	return attr
}

// duration reads a Go duration ("20m", "1h30m"); zero and negative
// timeouts are refused because they would fail every job at once, and
// ones over 30 days because they are typos that would hold a machine.
func (d *decoder) duration(attrs hcl.Attributes, name string, dst *time.Duration) *hcl.Attribute {
	var s string
	attr := d.str(attrs, name, &s)
	if attr == nil {
		return nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.errorf(attr.Expr.Range(), "Invalid duration", "The value of %q must be a duration such as \"90s\", \"20m\" or \"1h30m\", not %q.", name, s)
		return nil
	}
	if dur <= 0 {
		d.errorf(attr.Expr.Range(), "Invalid duration", "The value of %q must be positive, not %q.", name, s)
		return nil
	}
	if limit, _ := time.ParseDuration(maxDurationText); dur > limit {
		d.errorf(attr.Expr.Range(), "Invalid duration", "The value of %q must be at most %q, not %q.", name, maxDurationText, s)
		return nil
	}
	*dst = dur
	return attr
}

// oneOf checks an enumerated value and suggests the closest valid one.
func (d *decoder) oneOf(attr *hcl.Attribute, got string, valid []string) bool {
	for _, v := range valid {
		if got == v {
			return true
		}
	}
	d.errorf(attr.Expr.Range(), "Invalid value",
		"%q is not a valid %s; valid values: %s.%s", got, attr.Name, strings.Join(valid, ", "), didYouMean(got, valid))
	return false
}

// didYouMean returns ` Did you mean "x"?` for the closest candidate within
// a distance that still reads as a typo, or "".
func didYouMean(got string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		dist := levenshtein.Distance(got, c, nil)
		if bestDist < 0 || dist < bestDist || (dist == bestDist && c < best) {
			best, bestDist = c, dist
		}
	}
	limit := 2
	if len(got) >= 8 {
		limit = 3
	}
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

// namePattern is what node, cluster, config and scenario names may hold:
// they become parts of result file names and directory names on every
// machine, so no separators, spaces or leading dots.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

const maxNameLen = 64

// seqPattern is stricter for scenario names: without '_' and '.', a job id
// "<config>_<seq>_..." splits back unambiguously.
var seqPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

func (d *decoder) checkName(kind, name string, rng hcl.Range) bool {
	if kind == "scenario" {
		if !seqPattern.MatchString(name) || len(name) > maxNameLen {
			d.errorf(rng, "Invalid name",
				"The scenario name %q must start with a letter or digit, hold only letters, digits and '-', and be at most %d characters, because it becomes part of job ids and result names.", name, maxNameLen)
			return false
		}
		return true
	}
	if !namePattern.MatchString(name) || len(name) > maxNameLen {
		d.errorf(rng, "Invalid name",
			"The %s name %q must start with a letter or digit, hold only letters, digits, '.', '_' and '-', and be at most %d characters, because it becomes part of file and directory names.", kind, name, maxNameLen)
		return false
	}
	return true
}

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// looksSecret says whether an environment variable name usually holds a
// credential. Such values must come from the controller's environment
// (env_from) so they are never written in a file that gets shared.
func looksSecret(name string) bool {
	u := strings.ToUpper(name)
	return u == "HF_TOKEN" || u == "TOKEN" || strings.HasSuffix(u, "_TOKEN") || strings.HasSuffix(u, "_KEY") ||
		strings.Contains(u, "PASSWORD") || strings.Contains(u, "SECRET")
}

// checkEnv validates an env map and an env_from list of one block.
func (d *decoder) checkEnv(envAttr *hcl.Attribute, env map[string]string, fromAttr *hcl.Attribute, from []string) {
	if envAttr != nil {
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch {
			case !envNamePattern.MatchString(k):
				d.errorf(envAttr.Expr.Range(), "Invalid environment variable name", "%q is not a valid environment variable name.", k)
			case looksSecret(k):
				d.errorf(envAttr.Expr.Range(), "Secret in env",
					"%q looks like a secret; secrets are never written in config files. Remove it from env and list it in env_from = [%q] instead, so its value comes from fleet's own environment.", k, k)
			}
		}
	}
	if fromAttr != nil {
		seen := map[string]bool{}
		for _, k := range from {
			switch {
			case !envNamePattern.MatchString(k):
				d.errorf(fromAttr.Expr.Range(), "Invalid environment variable name", "%q is not a valid environment variable name.", k)
			case seen[k]:
				d.errorf(fromAttr.Expr.Range(), "Duplicate environment variable", "%q is listed twice in env_from.", k)
			case hasKey(env, k):
				d.errorf(fromAttr.Expr.Range(), "Duplicate environment variable", "%q is set both in env and in env_from.", k)
			}
			seen[k] = true
		}
	}
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
