package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// DefaultInventory is the inventory read when none is named; when it does
// not exist the inventory holds only the built-in local node.
const DefaultInventory = "inventory.hcl"

// Loader reads inventory and sweep files. It keeps every file it parsed so
// diagnostics can show source lines, and the --var values given on the
// command line, which apply to whichever file declares the variable.
//
// Files are decoded in stages, as Nomad's jobspec2 and Packer do:
// variable blocks first (defaults, overridden by --var), then locals in
// dependency order, then the body, with `dynamic` blocks expanded.
type Loader struct {
	parser   *hclparse.Parser
	vars     map[string]string
	declared map[string]bool
	sources  map[string][]byte // files given in memory (the embedded demo)
	maxJobs  int               // 0: DefaultMaxJobs
}

// SetMaxJobs sets how many jobs a sweep may make (--max-jobs); 0 or less
// restores DefaultMaxJobs.
func (l *Loader) SetMaxJobs(n int) { l.maxJobs = n }

func (l *Loader) jobLimit() int {
	if l.maxJobs <= 0 {
		return DefaultMaxJobs
	}
	return l.maxJobs
}

// NewLoader returns a loader that sets variables from vars (--var k=v).
func NewLoader(vars map[string]string) *Loader {
	v := make(map[string]string, len(vars))
	for k, val := range vars {
		v[k] = val
	}
	return &Loader{parser: hclparse.NewParser(), vars: v, declared: map[string]bool{}, sources: map[string][]byte{}}
}

// AddSource makes the loader read src wherever it is asked for path, so a
// file embedded in the binary loads, and is diagnosed, like one on disk.
func (l *Loader) AddSource(path string, src []byte) { l.sources[path] = src }

// ParseVars turns --var arguments ("k=v") into a map for NewLoader.
func ParseVars(args []string) (map[string]string, error) {
	out := make(map[string]string, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		k = strings.TrimSpace(k)
		if !ok || !hclsyntax.ValidIdentifier(k) {
			return nil, fmt.Errorf("--var %q: want NAME=VALUE with NAME a valid identifier", a)
		}
		out[k] = v
	}
	return out, nil
}

// WriteDiagnostics renders diags as HCL does (severity, summary, the
// source lines, detail), with "file:line:col: " put before the summary so
// editors and grep find the spot.
func (l *Loader) WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, color bool) error {
	var buf bytes.Buffer
	files := l.parser.Files()
	for _, d := range diags {
		// A diagnostic about a file that is not HCL (an InferenceX master
		// config in YAML) shows its source lines too.
		if d.Subject == nil || files[d.Subject.Filename] != nil {
			continue
		}
		if src, err := readSnippetSource(d.Subject.Filename); err == nil {
			files = maps.Clone(files)
			files[d.Subject.Filename] = &hcl.File{Bytes: src}
		}
	}
	diags = slices.Clone(diags)
	for i, d := range diags {
		if d.Subject != nil && d.Subject.Start.Byte == 0 && d.Subject.Start.Line > 1 {
			if f := files[d.Subject.Filename]; f != nil {
				// A YAML reader knows lines and columns only: the
				// snippet needs byte offsets.
				c := *d
				rng := withOffsets(*d.Subject, f.Bytes)
				c.Subject = &rng
				diags[i] = &c
			}
		}
	}
	wr := hcl.NewDiagnosticTextWriter(&buf, files, 0, color)
	for _, d := range diags {
		buf.Reset()
		if err := wr.WriteDiagnostic(d); err != nil {
			return fmt.Errorf("write diagnostics: %w", err)
		}
		text := buf.String()
		if d.Subject != nil {
			first, rest, _ := strings.Cut(text, "\n")
			first = strings.Replace(first, d.Summary, shortRange(*d.Subject)+": "+d.Summary, 1)
			text = first + "\n" + rest
		}
		if _, err := io.WriteString(w, text); err != nil {
			return fmt.Errorf("write diagnostics: %w", err)
		}
	}
	return nil
}

// withOffsets fills a range's byte offsets from its lines and columns
// (columns counted in bytes, 1-based) in src.
func withOffsets(r hcl.Range, src []byte) hcl.Range {
	offset := func(p hcl.Pos) hcl.Pos {
		line, b := 1, 0
		for b < len(src) && line < p.Line {
			if src[b] == '\n' {
				line++
			}
			b++
		}
		p.Byte = min(b+max(p.Column-1, 0), len(src))
		return p
	}
	r.Start = offset(r.Start)
	if r.End.Line == 0 {
		r.End = r.Start
	} else {
		r.End = offset(r.End)
	}
	if r.End.Byte < r.Start.Byte {
		r.End = r.Start
	}
	return r
}

// maxSnippetSource bounds what is read of a file to show a diagnostic's
// lines.
const maxSnippetSource = 16 << 20

func readSnippetSource(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSnippetSource+1))
	if err != nil || len(b) > maxSnippetSource {
		return nil, fmt.Errorf("%s: cannot show its lines", path)
	}
	return b, nil
}

// CheckVars reports --var names that no loaded file declares; call it
// after loading every file of a command, since each file declares its own.
func (l *Loader) CheckVars() hcl.Diagnostics {
	var declared []string
	for k := range l.declared {
		declared = append(declared, k)
	}
	sort.Strings(declared)
	var names []string
	for k := range l.vars {
		if !l.declared[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var diags hcl.Diagnostics
	for _, k := range names {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Undeclared variable",
			Detail:   fmt.Sprintf("--var %s is set, but no loaded file declares variable %q.%s", k, k, didYouMean(k, declared)),
		})
	}
	return diags
}

// parse reads a file as JSON when its name ends in .json, as HCL otherwise.
func (l *Loader) parse(path string) (*hcl.File, hcl.Diagnostics) {
	if src, ok := l.sources[path]; ok {
		if strings.EqualFold(filepath.Ext(path), ".json") {
			return l.parser.ParseJSON(src, path)
		}
		return l.parser.ParseHCL(src, path)
	}
	if strings.EqualFold(filepath.Ext(path), ".json") {
		return l.parser.ParseJSONFile(path)
	}
	return l.parser.ParseHCLFile(path)
}

func missingFile(kind, path string, err error) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Cannot read %s", kind),
		Detail:   fmt.Sprintf("Reading %s file %s: %v.", kind, path, err),
	}}
}

// exists says whether path can be read: a source given in memory or a
// file; it distinguishes a missing file from one we cannot read.
func (l *Loader) exists(path string) (bool, error) {
	if _, ok := l.sources[path]; ok {
		return true, nil
	}
	return fileExists(path)
}

func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

var stageSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
	},
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "default"}, {Name: "description"}},
}

// evalContext runs the first two stages over a file's body: variables,
// then locals, and returns the context the rest of the file evaluates in.
func (l *Loader) evalContext(body hcl.Body) (*hcl.EvalContext, hcl.Diagnostics) {
	funcs := functions()
	base := &hcl.EvalContext{Functions: funcs}
	content, _, diags := body.PartialContent(stageSchema)

	vars := map[string]cty.Value{}
	seen := map[string]hcl.Range{}
	var localBlocks []*hcl.Block
	for _, b := range content.Blocks {
		if b.Type == "locals" {
			localBlocks = append(localBlocks, b)
			continue
		}
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Invalid variable name",
				Detail:  fmt.Sprintf("%q is not a valid variable name: use letters, digits, '_' and '-', starting with a letter.", name),
				Subject: b.LabelRanges[0].Ptr(),
			})
			continue
		}
		if prev, dup := seen[name]; dup {
			diags = append(diags, duplicate("variable", name, b.LabelRanges[0], prev))
			continue
		}
		seen[name] = b.DefRange
		l.declared[name] = true
		v, d := l.variable(b, base)
		diags = append(diags, d...)
		vars[name] = v
	}

	locals, d := evalLocals(localBlocks, base, vars)
	diags = append(diags, d...)
	return &hcl.EvalContext{
		Functions: funcs,
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars), "local": cty.ObjectVal(locals)},
	}, diags
}

// variable gives a variable its value: --var wins over the default. A
// command-line value is a string; it is converted to the default's type so
// `--var gpus=4` is a number where the default is one, and parsed as an
// HCL expression where the default is a list or map.
func (l *Loader) variable(b *hcl.Block, base *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	name := b.Labels[0]
	content, diags := b.Body.Content(variableSchema)
	def := cty.NullVal(cty.DynamicPseudoType)
	if attr, ok := content.Attributes["default"]; ok {
		v, d := attr.Expr.Value(base)
		diags = append(diags, d...)
		if !d.HasErrors() {
			def = v
		}
	}
	if attr, ok := content.Attributes["description"]; ok {
		v, d := attr.Expr.Value(base)
		diags = append(diags, d...)
		if !d.HasErrors() && (v.IsNull() || !v.IsKnown() || v.Type() != cty.String) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
				Detail: "The description of a variable must be a string.", Subject: attr.Expr.Range().Ptr()})
		}
	}
	raw, set := l.vars[name]
	if !set {
		if def.IsNull() && !diags.HasErrors() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Variable has no value",
				Detail:  fmt.Sprintf("Variable %q has no default; set it with --var %s=VALUE.", name, name),
				Subject: b.DefRange.Ptr(),
			})
		}
		return def, diags
	}
	ty := def.Type()
	if def.IsNull() || ty == cty.String || ty == cty.DynamicPseudoType {
		return cty.StringVal(raw), diags
	}
	if ty.IsPrimitiveType() {
		cv, err := convert.Convert(cty.StringVal(strings.TrimSpace(raw)), ty)
		if err != nil {
			return def, append(diags, varError(b, name, raw, fmt.Sprintf("the default is a %s, and this value is not: %v", ty.FriendlyName(), err)))
		}
		return cv, diags
	}
	expr, d := hclsyntax.ParseExpression([]byte(raw), "--var "+name, hcl.InitialPos)
	if d.HasErrors() {
		return def, append(diags, varError(b, name, raw, "not a valid HCL expression"))
	}
	v, d := expr.Value(base)
	if d.HasErrors() {
		return def, append(diags, varError(b, name, raw, d.Error()))
	}
	// A default of ["a"] is a one-element tuple; any list replaces it, so
	// only the kind (sequence or mapping) must agree, not the length.
	seq := func(t cty.Type) bool { return t.IsTupleType() || t.IsListType() || t.IsSetType() }
	mapping := func(t cty.Type) bool { return t.IsObjectType() || t.IsMapType() }
	if (seq(ty) && !seq(v.Type())) || (mapping(ty) && !mapping(v.Type())) {
		return def, append(diags, varError(b, name, raw, fmt.Sprintf("the default is a %s, and this value is a %s", ty.FriendlyName(), v.Type().FriendlyName())))
	}
	return v, diags
}

func varError(b *hcl.Block, name, raw, why string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError, Summary: "Invalid value for variable",
		Detail:  fmt.Sprintf("--var %s=%s: %s.", name, raw, why),
		Subject: b.DefRange.Ptr(),
	}
}

// evalLocals evaluates locals in dependency order: each pass evaluates the
// locals whose local.* references are all known; a pass without progress
// means a cycle.
func evalLocals(blocks []*hcl.Block, base *hcl.EvalContext, vars map[string]cty.Value) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	pending := map[string]*hcl.Attribute{}
	var order []string
	for _, b := range blocks {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		names := make([]string, 0, len(attrs))
		for n := range attrs {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool { return attrs[names[i]].Range.Start.Byte < attrs[names[j]].Range.Start.Byte })
		for _, n := range names {
			if prev, dup := pending[n]; dup {
				diags = append(diags, duplicate("local", n, attrs[n].NameRange, prev.NameRange))
				continue
			}
			pending[n] = attrs[n]
			order = append(order, n)
		}
	}
	locals := map[string]cty.Value{}
	for len(pending) > 0 {
		progress := false
		for _, n := range order {
			attr, ok := pending[n]
			if !ok || !depsReady(attr.Expr, pending) {
				continue
			}
			ctx := &hcl.EvalContext{
				Functions: base.Functions,
				Variables: map[string]cty.Value{"var": cty.ObjectVal(vars), "local": cty.ObjectVal(locals)},
			}
			v, d := attr.Expr.Value(ctx)
			diags = append(diags, d...)
			if d.HasErrors() {
				v = cty.DynamicVal
			}
			locals[n] = v
			delete(pending, n)
			progress = true
		}
		if progress {
			continue
		}
		var cycle []string
		for _, n := range order {
			if _, ok := pending[n]; ok {
				cycle = append(cycle, n)
			}
		}
		for _, n := range cycle {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Cycle in locals",
				Detail:  fmt.Sprintf("local.%s depends on itself through the locals %s.", n, strings.Join(cycle, ", ")),
				Subject: pending[n].Expr.Range().Ptr(),
			})
			locals[n] = cty.DynamicVal
		}
		break
	}
	return locals, diags
}

func depsReady(expr hcl.Expression, pending map[string]*hcl.Attribute) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		if step, ok := tr[1].(hcl.TraverseAttr); ok {
			if _, waiting := pending[step.Name]; waiting {
				return false
			}
		}
	}
	return true
}

func duplicate(kind, name string, at, prev hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s", kind),
		Detail:   fmt.Sprintf("A %s named %q was already declared at %s.", kind, name, shortRange(prev)),
		Subject:  at.Ptr(),
	}
}

// shortRange is "file:line:col" of a range's start.
func shortRange(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// sortDiags orders diagnostics by file and position; HCL reports some in
// map order, and users (and golden tests) want them in reading order.
func sortDiags(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
}
