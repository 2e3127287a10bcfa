package matrix

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"go.yaml.in/yaml/v3"
)

// reader turns YAML nodes into typed values, collecting a diagnostic at
// the node for everything it refuses. InferenceX loads its files with
// PyYAML (YAML 1.1), so plain scalars are typed the way PyYAML types them
// (yes/no/on/off are booleans there): a value PyYAML would read as a
// number or a boolean is never silently taken as a string.
type reader struct {
	file  string
	diags hcl.Diagnostics
}

func (r *reader) rng(n *yaml.Node) hcl.Range {
	if n == nil {
		return hcl.Range{Filename: r.file, Start: hcl.Pos{Line: 1, Column: 1}, End: hcl.Pos{Line: 1, Column: 1}}
	}
	start := hcl.Pos{Line: n.Line, Column: n.Column}
	end := start
	if n.Kind == yaml.ScalarNode {
		end.Column += len(n.Value)
	}
	return hcl.Range{Filename: r.file, Start: start, End: end}
}

func (r *reader) errorf(n *yaml.Node, summary, format string, args ...any) {
	rg := r.rng(n)
	r.diags = append(r.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: &rg})
}

// field is one key of a mapping with its value.
type field struct {
	key, value *yaml.Node
}

// mapping is a decoded YAML mapping: its keys in file order and a lookup.
type mapping struct {
	node  *yaml.Node
	order []string
	byKey map[string]field
}

func (m *mapping) get(k string) (field, bool) {
	if m == nil {
		return field{}, false
	}
	f, ok := m.byKey[k]
	return f, ok
}

func (m *mapping) has(k string) bool {
	_, ok := m.get(k)
	return ok
}

// mapOf reads a mapping whose keys must all be among allowed (nil allows
// any string key). what names the mapping in messages ("config
// \"x\"", "search-space entry"). Unknown keys, duplicate keys, non-string
// keys and null values are refused.
func (r *reader) mapOf(n *yaml.Node, what string, allowed []string) *mapping {
	if n.Kind != yaml.MappingNode {
		r.errorf(n, "Not a mapping", "%s must be a mapping of keys to values, not %s.", capital(what), kindName(n))
		return nil
	}
	m := &mapping{node: n, byKey: map[string]field{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Style == 0 && plainTag(k.Value) != "str" {
			r.errorf(k, "Invalid key", "Keys of %s must be strings, not %s.", what, kindName(k))
			continue
		}
		name := k.Value
		if allowed != nil && !contains(allowed, name) {
			r.errorf(k, "Unknown key", "%s has no key %q; allowed keys: %s.", capital(what), name, strings.Join(allowed, ", "))
			continue
		}
		if prev, dup := m.byKey[name]; dup {
			r.errorf(k, "Duplicate key", "%s sets %q twice (first at line %d).", capital(what), name, prev.key.Line)
			continue
		}
		if isNull(v) {
			r.errorf(v, "Null value", "%q of %s is null; leave the key out instead.", name, what)
			continue
		}
		m.byKey[name] = field{key: k, value: v}
		m.order = append(m.order, name)
	}
	return m
}

func (r *reader) require(m *mapping, what string, names ...string) bool {
	ok := true
	for _, name := range names {
		if !m.has(name) {
			r.errorf(m.node, "Missing key", "%s needs %q.", capital(what), name)
			ok = false
		}
	}
	return ok
}

// str reads a string value; ok is false when the key is absent or the
// value is refused.
func (r *reader) str(m *mapping, name string) (string, bool) {
	f, present := m.get(name)
	if !present {
		return "", false
	}
	v := f.value
	if v.Kind != yaml.ScalarNode || v.Style == 0 && plainTag(v.Value) != "str" {
		r.errorf(v, "Not a string", "%q must be a string, not %s (quote it if it is meant as text).", name, kindName(v))
		return "", false
	}
	return v.Value, true
}

// nonEmptyStr is str refusing "" (InferenceX's min_length=1).
func (r *reader) nonEmptyStr(m *mapping, name string) (string, bool) {
	s, ok := r.str(m, name)
	if ok && s == "" {
		f, _ := m.get(name)
		r.errorf(f.value, "Empty string", "%q must not be empty.", name)
		return "", false
	}
	return s, ok
}

// integer reads a plain decimal integer.
func (r *reader) integer(m *mapping, name string) (int, bool) {
	f, present := m.get(name)
	if !present {
		return 0, false
	}
	return r.intNode(f.value, name)
}

func (r *reader) intNode(v *yaml.Node, name string) (int, bool) {
	if v.Kind != yaml.ScalarNode || v.Style != 0 || plainTag(v.Value) != "int" {
		r.errorf(v, "Not an integer", "%q must be an integer, not %s.", name, kindName(v))
		return 0, false
	}
	n, ok := yamlIntValue(v.Value)
	if !ok || n > math.MaxInt32 || n < math.MinInt32 {
		r.errorf(v, "Integer out of range", "%q is %s; fleet takes integers up to %d.", name, v.Value, math.MaxInt32)
		return 0, false
	}
	return int(n), true
}

// yamlIntValue reads an integer as PyYAML does: underscores ignored,
// 0b binary, 0x hex, a leading 0 octal, and base-60 with ':'.
func yamlIntValue(s string) (int64, bool) {
	s = strings.ReplaceAll(s, "_", "")
	sign := int64(1)
	switch {
	case strings.HasPrefix(s, "-"):
		sign, s = -1, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	var n int64
	var err error
	switch {
	case s == "0":
		return 0, true
	case strings.HasPrefix(s, "0b"):
		n, err = strconv.ParseInt(s[2:], 2, 64)
	case strings.HasPrefix(s, "0x"):
		n, err = strconv.ParseInt(s[2:], 16, 64)
	case strings.HasPrefix(s, "0"):
		n, err = strconv.ParseInt(s[1:], 8, 64)
	case strings.Contains(s, ":"):
		for _, part := range strings.Split(s, ":") {
			d, perr := strconv.ParseInt(part, 10, 64)
			if perr != nil || n > math.MaxInt32 {
				return 0, false
			}
			n = n*60 + d
		}
	default:
		n, err = strconv.ParseInt(s, 10, 64)
	}
	if err != nil {
		return 0, false
	}
	return sign * n, true
}

// positive is integer refusing values below 1 (InferenceX's gt=0).
func (r *reader) positive(m *mapping, name string, def int) int {
	n, ok := r.integer(m, name)
	if !ok {
		return def
	}
	if n <= 0 {
		f, _ := m.get(name)
		r.errorf(f.value, "Invalid value", "%q must be greater than 0, not %d.", name, n)
		return def
	}
	return n
}

func (r *reader) boolean(m *mapping, name string) (bool, bool) {
	f, present := m.get(name)
	if !present {
		return false, false
	}
	v := f.value
	if v.Kind == yaml.ScalarNode && v.Style == 0 && plainTag(v.Value) == "bool" {
		return boolValue(v.Value), true
	}
	r.errorf(v, "Not a boolean", "%q must be true or false, not %s.", name, kindName(v))
	return false, false
}

func (r *reader) float(m *mapping, name string) (float64, bool) {
	f, present := m.get(name)
	if !present {
		return 0, false
	}
	v := f.value
	if v.Kind == yaml.ScalarNode && v.Style == 0 {
		if t := plainTag(v.Value); t == "int" || t == "float" {
			if x, err := strconv.ParseFloat(strings.ReplaceAll(v.Value, "_", ""), 64); err == nil && !math.IsInf(x, 0) && !math.IsNaN(x) {
				return x, true
			}
		}
	}
	r.errorf(v, "Not a number", "%q must be a number, not %s.", name, kindName(v))
	return 0, false
}

func (r *reader) seq(m *mapping, name string) ([]*yaml.Node, bool) {
	f, present := m.get(name)
	if !present {
		return nil, false
	}
	if f.value.Kind != yaml.SequenceNode {
		r.errorf(f.value, "Not a list", "%q must be a list, not %s.", name, kindName(f.value))
		return nil, false
	}
	return f.value.Content, true
}

// nonEmptySeq is seq refusing an empty list.
func (r *reader) nonEmptySeq(m *mapping, name string) ([]*yaml.Node, bool) {
	items, ok := r.seq(m, name)
	if ok && len(items) == 0 {
		f, _ := m.get(name)
		r.errorf(f.value, "Empty list", "%q must not be an empty list; leave the key out instead.", name)
		return nil, false
	}
	return items, ok
}

func (r *reader) strList(m *mapping, name string) ([]string, bool) {
	items, ok := r.nonEmptySeq(m, name)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it.Kind != yaml.ScalarNode || it.Style == 0 && plainTag(it.Value) != "str" {
			r.errorf(it, "Not a string", "Entries of %q must be strings, not %s.", name, kindName(it))
			return nil, false
		}
		out = append(out, it.Value)
	}
	return out, true
}

// PyYAML's plain-scalar resolution (YAML 1.1), enough to tell strings
// from what PyYAML would make a null, a boolean or a number.
var (
	yamlNull  = regexp.MustCompile(`^(~|null|Null|NULL|)$`)
	yamlBool  = regexp.MustCompile(`^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yamlInt   = regexp.MustCompile(`^([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$`)
	yamlFloat = regexp.MustCompile(`^([-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$`)
)

func plainTag(s string) string {
	switch {
	case yamlNull.MatchString(s):
		return "null"
	case yamlBool.MatchString(s):
		return "bool"
	case yamlInt.MatchString(s):
		return "int"
	case yamlFloat.MatchString(s):
		return "float"
	}
	return "str"
}

func boolValue(s string) bool {
	switch strings.ToLower(s) {
	case "yes", "true", "on":
		return true
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Style == 0 && (n.Tag == "!!null" || plainTag(n.Value) == "null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Style != 0 {
			return fmt.Sprintf("the string %q", n.Value)
		}
		switch plainTag(n.Value) {
		case "null":
			return "null"
		case "bool":
			return "the boolean " + n.Value
		case "int", "float":
			return "the number " + n.Value
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "an unknown YAML node"
}

// checkNoAliases refuses anchors' aliases and merge keys: InferenceX's
// configs use none, and an alias can multiply a small file into a huge
// document.
func (r *reader) checkNoAliases(n *yaml.Node) {
	if n.Kind == yaml.AliasNode {
		r.errorf(n, "Alias not supported", "YAML aliases (*name) are not accepted in InferenceX configs; write the value out.")
		return
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Tag == "!!merge" {
				r.errorf(n.Content[i], "Merge key not supported", "YAML merge keys (<<) are not accepted in InferenceX configs; write the keys out.")
			}
		}
	}
	for _, c := range n.Content {
		r.checkNoAliases(c)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
