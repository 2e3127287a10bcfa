// Package matrix reads InferenceX master configs (configs/*-master.yaml
// and configs/runners.yaml of an InferenceX checkout) and expands them
// into jobs exactly as InferenceX's matrix generator
// (utils/matrix_logic/generate_sweep_configs.py) does, so fleet can run
// InferenceX's own matrix without GitHub Actions.
//
// Load checks the files against InferenceX's input schema and reports
// every problem as an HCL diagnostic at file:line:col; Generate applies a
// Selection (the generator's command line) and returns the rows.
package matrix

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/hashicorp/hcl/v2"
	"go.yaml.in/yaml/v3"
)

// Limits on input. InferenceX's two master configs are about 0.5 MiB and
// expand to a few thousand jobs; anything far beyond is a mistake.
const (
	// MaxFileBytes is the largest YAML file Load reads.
	MaxFileBytes = 16 << 20
	// MaxJobs is the most rows Generate makes.
	MaxJobs = 100000
)

// Default file names, relative to the checkout (InferenceX's
// utils/constants.py lists the same two master configs).
var (
	DefaultConfigFiles  = []string{"configs/nvidia-master.yaml", "configs/amd-master.yaml"}
	DefaultRunnerConfig = "configs/runners.yaml"
)

// Matrix is the master configs of a checkout, in file order, and its
// runner file.
type Matrix struct {
	Configs []*Config
	Runners Runners
}

// Runners is configs/runners.yaml: scheduling labels to runner names, and
// per-label hardware facts (used to size agentic DRAM offload).
type Runners struct {
	File     string
	Labels   map[string][]string
	Hardware map[string]Hardware
}

// Hardware is one label's entry under hardware:.
type Hardware struct {
	AvailableCPUDramMiB int
	GPUsPerNode         int
}

// Config is one master-config entry.
type Config struct {
	Key string
	// Range is where the key stands (file:line:col).
	Range hcl.Range

	Image, Model, ModelPrefix, Precision, Framework, Runner string
	MultiNode, Disagg                                       bool
	// Router and KVP2PTransfer are the top-level values (nil/"" when the
	// search-space entries carry them or nobody does).
	Router        *inferencex.Component
	KVP2PTransfer string

	Fixed   []*SeqLen
	Agentic []*AgenticScenario
}

// SeqLen is one fixed-seq-len item.
type SeqLen struct {
	ISL, OSL int
	Search   []*Entry
	Range    hcl.Range
}

// AgenticScenario is one agentic-coding item.
type AgenticScenario struct {
	// DramUtilization is 0 when not given.
	DramUtilization float64
	Search          []*Entry
	Range           hcl.Range
}

// Entry is one search-space entry of any kind. Single-node entries set
// TP (and PP, DCPSize, PCPSize, defaulted to 1); multi-node ones Prefill
// and Decode (with pp/dcp-size/pcp-size filled in as the generator does).
type Entry struct {
	Range hcl.Range

	TP, PP, DCPSize, PCPSize int
	// EP and DPAttn are nil when not given (the rows then say 1, false).
	EP           *int
	DPAttn       *bool
	SpecDecoding string

	Prefill, Decode *inferencex.Worker

	Router        *inferencex.Component
	KVP2PTransfer string

	// Concurrency: ConcList when given, else the ConcStart..ConcEnd range.
	ConcStart, ConcEnd int
	ConcList           []int

	// Agentic only; KVOffloading is "" when not given.
	KVOffloading     string
	KVOffloadBackend *inferencex.Component
}

// Load reads the master configs and the runner file of the InferenceX
// checkout dir. configFiles and runnerConfig are relative to dir
// (absolute paths are taken as they are); empty means InferenceX's
// defaults. Diagnostics point at file:line:col; warnings (a runner label
// missing from the runner file, which InferenceX does not check either)
// come with a usable matrix.
func Load(dir string, configFiles []string, runnerConfig string) (*Matrix, hcl.Diagnostics) {
	if len(configFiles) == 0 {
		configFiles = DefaultConfigFiles
	}
	if runnerConfig == "" {
		runnerConfig = DefaultRunnerConfig
	}
	resolve := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	var diags hcl.Diagnostics
	m := &Matrix{}
	seen := map[string]hcl.Range{}
	for _, f := range configFiles {
		path := resolve(f)
		root, d := readYAML(path)
		diags = append(diags, d...)
		if root == nil {
			continue
		}
		r := &reader{file: path}
		m.Configs = append(m.Configs, r.configs(root, seen)...)
		diags = append(diags, r.diags...)
	}
	rpath := resolve(runnerConfig)
	root, d := readYAML(rpath)
	diags = append(diags, d...)
	if root != nil {
		r := &reader{file: rpath}
		m.Runners = r.runners(root)
		diags = append(diags, r.diags...)
	}
	if !diags.HasErrors() {
		diags = append(diags, m.checkLabels()...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return m, diags
}

// Config returns the config named key, or nil.
func (m *Matrix) Config(key string) *Config {
	for _, c := range m.Configs {
		if c.Key == key {
			return c
		}
	}
	return nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// readYAML parses one YAML file (a single document, at most
// MaxFileBytes) and returns its root mapping node.
func readYAML(path string) (*yaml.Node, hcl.Diagnostics) {
	fileRange := &hcl.Range{Filename: path, Start: hcl.Pos{Line: 1, Column: 1}, End: hcl.Pos{Line: 1, Column: 1}}
	fail := func(summary, format string, args ...any) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: fileRange}}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fail("Cannot read file", "Cannot read %s: %v.", path, err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fail("Cannot read file", "Cannot read %s: %v.", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fail("File too large", "%s is larger than %d MiB; InferenceX configs are far smaller.", path, MaxFileBytes>>20)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fail("Empty file", "%s holds no YAML document; it must be a mapping.", path)
		}
		d := fail("Invalid YAML", "%s: %v.", path, err)
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			d[0].Subject = &hcl.Range{Filename: path, Start: hcl.Pos{Line: n, Column: 1}, End: hcl.Pos{Line: n, Column: 1}}
		}
		return nil, d
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := 1
		if err == nil {
			line = extra.Line
		}
		d := fail("Several YAML documents", "%s must hold one YAML document.", path)
		d[0].Subject = &hcl.Range{Filename: path, Start: hcl.Pos{Line: line, Column: 1}, End: hcl.Pos{Line: line, Column: 1}}
		return nil, d
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fail("Not a mapping", "%s must be a YAML mapping at the top level.", path)
	}
	r := &reader{file: path}
	r.checkNoAliases(doc.Content[0])
	if r.diags.HasErrors() {
		return nil, r.diags
	}
	return doc.Content[0], nil
}

var (
	topKeys = []string{"image", "model", "model-prefix", "precision", "framework", "runner", "multinode", "disagg", "router", "scenarios"}
	// Multi-node configs may also set kv-p2p-transfer at the top.
	topKeysMulti     = append(append([]string(nil), topKeys...), "kv-p2p-transfer")
	scenarioKeys     = []string{"fixed-seq-len", "agentic-coding"}
	seqLenKeys       = []string{"isl", "osl", "search-space"}
	agenticKeys      = []string{"search-space", "dram-utilization"}
	singleEntryKeys  = []string{"tp", "pp", "dcp-size", "pcp-size", "ep", "spec-decoding", "dp-attn", "router", "conc-start", "conc-end", "conc-list"}
	multiEntryKeys   = []string{"spec-decoding", "prefill", "decode", "router", "kv-p2p-transfer", "conc-start", "conc-end", "conc-list"}
	agenticEntryKeys = []string{"tp", "pp", "dcp-size", "pcp-size", "ep", "dp-attn", "spec-decoding", "prefill", "decode", "kv-offloading", "kv-offload-backend", "router", "kv-p2p-transfer", "conc-start", "conc-end", "conc-list"}
	workerKeys       = []string{"num-worker", "tp", "pp", "dcp-size", "pcp-size", "ep", "dp-attn", "hardware", "additional-settings"}
	componentKeys    = []string{"name", "version"}
	runnerFileKeys   = []string{"labels", "hardware"}
	hardwareKeys     = []string{"available-cpu-dram-mib", "gpus-per-node"}
	specDecodings    = []string{"mtp", "draft_model", "none"}
	kvOffloadings    = []string{"none", "dram"}
)

// clusterPrefix starts the runner label of every agentic config: each
// agentic point must run on one exact hardware fleet.
const clusterPrefix = "cluster:"

// configs reads one master-config file's entries.
func (r *reader) configs(root *yaml.Node, seen map[string]hcl.Range) []*Config {
	top := r.mapOf(root, "the master config", nil)
	if top == nil {
		return nil
	}
	var out []*Config
	for _, key := range top.order {
		f := top.byKey[key]
		at := r.rng(f.key)
		if strings.Contains(key, "*") {
			r.errorf(f.key, "Invalid config key", "Config key %q contains '*', which InferenceX reserves for wildcards in perf-changelog.yaml.", key)
			continue
		}
		if prev, dup := seen[key]; dup {
			r.errorf(f.key, "Duplicate config key", "Config %q is already defined at %s:%d:%d.", key, prev.Filename, prev.Start.Line, prev.Start.Column)
			continue
		}
		seen[key] = at
		if c := r.config(key, f); c != nil {
			out = append(out, c)
		}
	}
	return out
}

func (r *reader) config(key string, f field) *Config {
	what := fmt.Sprintf("config %q", key)
	if f.value.Kind != yaml.MappingNode {
		r.errorf(f.value, "Not a mapping", "%s must be a mapping, not %s.", capital(what), kindName(f.value))
		return nil
	}
	// The schema depends on multinode, so read it first.
	before := len(r.diags)
	probe := r.mapOf(f.value, what, nil)
	multi, _ := r.boolean(probe, "multinode")
	allowed := topKeys
	if multi {
		allowed = topKeysMulti
	}
	r.diags = r.diags[:before] // mapOf below reports again, with the schema
	m := r.mapOf(f.value, what, allowed)
	if m == nil {
		return nil
	}
	c := &Config{Key: key, Range: r.rng(f.key)}
	r.require(m, what, "image", "model", "model-prefix", "precision", "framework", "runner", "multinode", "scenarios")
	c.Image, _ = r.str(m, "image")
	c.Model, _ = r.str(m, "model")
	c.ModelPrefix, _ = r.str(m, "model-prefix")
	c.Precision, _ = r.str(m, "precision")
	c.Framework, _ = r.str(m, "framework")
	c.Runner, _ = r.str(m, "runner")
	c.MultiNode, _ = r.boolean(m, "multinode")
	if d, ok := r.boolean(m, "disagg"); ok {
		c.Disagg = d
		if d && !c.MultiNode {
			fd, _ := m.get("disagg")
			r.errorf(fd.value, "Invalid value", "%s sets disagg: true, which needs multinode: true.", capital(what))
		}
	}
	if fr, ok := m.get("router"); ok {
		c.Router = r.component(fr.value, "router", true)
	}
	c.KVP2PTransfer, _ = r.nonEmptyStr(m, "kv-p2p-transfer")
	sf, ok := m.get("scenarios")
	if !ok {
		return c
	}
	sm := r.mapOf(sf.value, "scenarios of "+what, scenarioKeys)
	if sm == nil {
		return c
	}
	if items, ok := r.seq(sm, "fixed-seq-len"); ok {
		for _, it := range items {
			if s := r.seqLen(c, it); s != nil {
				c.Fixed = append(c.Fixed, s)
			}
		}
	}
	if items, ok := r.seq(sm, "agentic-coding"); ok {
		for _, it := range items {
			if a := r.agentic(c, it); a != nil {
				c.Agentic = append(c.Agentic, a)
			}
		}
	}
	if !r.hasItems(sm, "fixed-seq-len") && !r.hasItems(sm, "agentic-coding") {
		r.errorf(sf.value, "No scenario", "%s needs at least one scenario: a non-empty fixed-seq-len or agentic-coding list.", capital(what))
	}
	if r.hasItems(sm, "agentic-coding") && c.Runner != "" && !strings.HasPrefix(c.Runner, clusterPrefix) {
		fr, _ := m.get("runner")
		r.errorf(fr.value, "Invalid runner", "%s has agentic-coding scenarios, so its runner must be a %q label (every agentic point runs on one exact hardware fleet), not %q.", capital(what), clusterPrefix+"<name>", c.Runner)
	}
	r.checkScope(c, m)
	return c
}

func (r *reader) hasItems(m *mapping, name string) bool {
	f, ok := m.get(name)
	return ok && f.value.Kind == yaml.SequenceNode && len(f.value.Content) > 0
}

// checkScope applies InferenceX's rules on where router and
// kv-p2p-transfer may be declared.
func (r *reader) checkScope(c *Config, m *mapping) {
	var entries []*Entry
	for _, s := range c.Fixed {
		entries = append(entries, s.Search...)
	}
	for _, a := range c.Agentic {
		entries = append(entries, a.Search...)
	}
	what := fmt.Sprintf("Config %q", c.Key)
	var entryRouter, entryTransfer *Entry
	allTransfer := len(entries) > 0
	for _, e := range entries {
		if e.Router != nil && entryRouter == nil {
			entryRouter = e
		}
		if e.KVP2PTransfer != "" && entryTransfer == nil {
			entryTransfer = e
		}
		if e.KVP2PTransfer == "" {
			allTransfer = false
		}
	}
	if c.Router != nil && entryRouter != nil {
		f, _ := m.get("router")
		r.errorf(f.key, "Router declared twice", "%s declares router at the top level and in a search-space entry (line %d); declare it in one place.", what, entryRouter.Range.Start.Line)
	}
	if c.KVP2PTransfer != "" && entryTransfer != nil {
		f, _ := m.get("kv-p2p-transfer")
		r.errorf(f.key, "kv-p2p-transfer declared twice", "%s declares kv-p2p-transfer at the top level and in a search-space entry (line %d); declare it in one place.", what, entryTransfer.Range.Start.Line)
	}
	if !c.MultiNode && entryTransfer != nil {
		rg := entryTransfer.Range
		r.diags = append(r.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "kv-p2p-transfer on a single-node config",
			Detail: what + " is single-node; kv-p2p-transfer is only valid when multinode: true.", Subject: &rg})
	}
	if c.Disagg && c.KVP2PTransfer == "" && !allTransfer {
		f, _ := m.get("disagg")
		r.errorf(f.value, "Missing kv-p2p-transfer", "%s sets disagg: true, which needs kv-p2p-transfer at the top level or in every search-space entry.", what)
	}
}

func (r *reader) seqLen(c *Config, n *yaml.Node) *SeqLen {
	what := fmt.Sprintf("fixed-seq-len item of config %q", c.Key)
	m := r.mapOf(n, what, seqLenKeys)
	if m == nil {
		return nil
	}
	r.require(m, what, seqLenKeys...)
	s := &SeqLen{Range: r.rng(n)}
	s.ISL, _ = r.integer(m, "isl")
	s.OSL, _ = r.integer(m, "osl")
	items, _ := r.seq(m, "search-space")
	for _, it := range items {
		var e *Entry
		if c.MultiNode {
			e = r.multiEntry(c, it)
		} else {
			e = r.singleEntry(c, it)
		}
		if e != nil {
			s.Search = append(s.Search, e)
		}
	}
	return s
}

func (r *reader) singleEntry(c *Config, n *yaml.Node) *Entry {
	what := fmt.Sprintf("search-space entry of config %q", c.Key)
	m := r.mapOf(n, what, singleEntryKeys)
	if m == nil {
		return nil
	}
	e := &Entry{Range: r.rng(n)}
	r.require(m, what, "tp")
	r.topology(m, e, what)
	r.common(m, e)
	r.conc(m, e, what)
	return e
}

// topology reads a single-node entry's tp, pp, dcp-size, pcp-size, ep
// and dp-attn.
func (r *reader) topology(m *mapping, e *Entry, what string) {
	e.TP, _ = r.integer(m, "tp")
	e.PP = r.positive(m, "pp", 1)
	e.DCPSize = r.positive(m, "dcp-size", 1)
	e.PCPSize = r.positive(m, "pcp-size", 1)
	if ep, ok := r.integer(m, "ep"); ok {
		e.EP = &ep
	}
	if dpa, ok := r.boolean(m, "dp-attn"); ok {
		e.DPAttn = &dpa
	}
	if m.has("tp") && e.TP%e.DCPSize != 0 {
		f, _ := m.get("dcp-size")
		r.errorf(f.value, "Invalid topology", "In a %s, tp (%d) must be divisible by dcp-size (%d).", what, e.TP, e.DCPSize)
	}
}

// common reads spec-decoding, router and kv-p2p-transfer.
func (r *reader) common(m *mapping, e *Entry) {
	e.SpecDecoding = "none"
	if s, ok := r.str(m, "spec-decoding"); ok {
		if !contains(specDecodings, s) {
			f, _ := m.get("spec-decoding")
			r.errorf(f.value, "Invalid value", "spec-decoding must be one of %s, not %q.", strings.Join(specDecodings, ", "), s)
		}
		e.SpecDecoding = s
	}
	if f, ok := m.get("router"); ok {
		e.Router = r.component(f.value, "router", true)
	}
	e.KVP2PTransfer, _ = r.nonEmptyStr(m, "kv-p2p-transfer")
}

// conc reads conc-list or conc-start/conc-end.
func (r *reader) conc(m *mapping, e *Entry, what string) {
	_, hasList := m.get("conc-list")
	start, hasStart := m.get("conc-start")
	_, hasEnd := m.get("conc-end")
	switch {
	case hasList && (hasStart || hasEnd):
		other, _ := m.get("conc-start")
		if !hasStart {
			other, _ = m.get("conc-end")
		}
		r.errorf(other.key, "Conflicting keys", "A %s gives either conc-list or conc-start and conc-end, not both.", what)
	case hasList:
		items, ok := r.nonEmptySeq(m, "conc-list")
		if !ok {
			return
		}
		for _, it := range items {
			v, ok := r.intNode(it, "conc-list")
			if !ok {
				return
			}
			if v <= 0 {
				r.errorf(it, "Invalid value", "conc-list entries must be greater than 0, not %d.", v)
				return
			}
			e.ConcList = append(e.ConcList, v)
		}
	case hasStart || hasEnd:
		if !hasStart || !hasEnd {
			r.errorf(m.node, "Missing key", "A %s gives conc-start and conc-end together.", what)
			return
		}
		s, ok1 := r.integer(m, "conc-start")
		en, ok2 := r.integer(m, "conc-end")
		if !ok1 || !ok2 {
			return
		}
		if s <= 0 || en <= 0 {
			r.errorf(start.value, "Invalid value", "conc-start and conc-end must be greater than 0 (%d, %d).", s, en)
			return
		}
		if s > en {
			r.errorf(start.value, "Invalid value", "conc-start (%d) must be <= conc-end (%d).", s, en)
			return
		}
		e.ConcStart, e.ConcEnd = s, en
	default:
		r.errorf(m.node, "Missing concurrency", "A %s needs conc-list or both conc-start and conc-end.", what)
	}
}

func (r *reader) multiEntry(c *Config, n *yaml.Node) *Entry {
	what := fmt.Sprintf("search-space entry of config %q", c.Key)
	m := r.mapOf(n, what, multiEntryKeys)
	if m == nil {
		return nil
	}
	e := &Entry{Range: r.rng(n)}
	r.require(m, what, "prefill", "decode")
	r.workers(m, e, what)
	r.common(m, e)
	r.conc(m, e, what)
	return e
}

// workers reads prefill and decode and checks they declare hardware
// together.
func (r *reader) workers(m *mapping, e *Entry, what string) {
	if f, ok := m.get("prefill"); ok {
		e.Prefill = r.worker(f.value, "prefill of a "+what)
	}
	if f, ok := m.get("decode"); ok {
		e.Decode = r.worker(f.value, "decode of a "+what)
	}
	if e.Prefill != nil && e.Decode != nil && (e.Prefill.Hardware == "") != (e.Decode.Hardware == "") {
		r.errorf(m.node, "Hardware on one role only", "In a %s, hardware must be given for both prefill and decode, or neither.", what)
	}
}

func (r *reader) worker(n *yaml.Node, what string) *inferencex.Worker {
	m := r.mapOf(n, what, workerKeys)
	if m == nil {
		return nil
	}
	r.require(m, what, "num-worker", "tp", "ep", "dp-attn")
	w := &inferencex.Worker{}
	w.NumWorker, _ = r.integer(m, "num-worker")
	w.TP, _ = r.integer(m, "tp")
	w.EP, _ = r.integer(m, "ep")
	w.DPAttn, _ = r.boolean(m, "dp-attn")
	w.PP = r.positive(m, "pp", 1)
	w.DCPSize = r.positive(m, "dcp-size", 1)
	w.PCPSize = r.positive(m, "pcp-size", 1)
	w.Hardware, _ = r.nonEmptyStr(m, "hardware")
	if m.has("additional-settings") {
		w.AdditionalSettings, _ = r.strList(m, "additional-settings")
	}
	if m.has("tp") && w.TP%w.DCPSize != 0 {
		f, _ := m.get("dcp-size")
		r.errorf(f.value, "Invalid topology", "In %s, tp (%d) must be divisible by dcp-size (%d).", what, w.TP, w.DCPSize)
	}
	return w
}

// component reads a {name, version} object; version is required for a
// router and optional for a KV offload backend.
func (r *reader) component(n *yaml.Node, what string, needVersion bool) *inferencex.Component {
	m := r.mapOf(n, what, componentKeys)
	if m == nil {
		return nil
	}
	if needVersion {
		r.require(m, what, "name", "version")
	} else {
		r.require(m, what, "name")
	}
	c := &inferencex.Component{}
	c.Name, _ = r.nonEmptyStr(m, "name")
	c.Version, _ = r.nonEmptyStr(m, "version")
	if strings.HasPrefix(c.Version, "image:") {
		f, _ := m.get("version")
		r.errorf(f.value, "Invalid version", "The %s version must be a release, package version or source commit, not an image reference (%q).", what, c.Version)
	}
	return c
}

func (r *reader) agentic(c *Config, n *yaml.Node) *AgenticScenario {
	what := fmt.Sprintf("agentic-coding item of config %q", c.Key)
	m := r.mapOf(n, what, agenticKeys)
	if m == nil {
		return nil
	}
	r.require(m, what, "search-space")
	a := &AgenticScenario{Range: r.rng(n)}
	if u, ok := r.float(m, "dram-utilization"); ok {
		if u <= 0 || u > 1 {
			f, _ := m.get("dram-utilization")
			r.errorf(f.value, "Invalid value", "dram-utilization must be in (0, 1], not %g.", u)
		} else {
			a.DramUtilization = u
		}
	}
	items, _ := r.seq(m, "search-space")
	for _, it := range items {
		e := r.agenticEntry(c, it)
		if e == nil {
			continue
		}
		a.Search = append(a.Search, e)
		if e.KVOffloading == "dram" && !m.has("dram-utilization") {
			r.errorf(it, "Missing dram-utilization", "A search-space entry with kv-offloading: dram needs dram-utilization in its %s.", what)
		}
	}
	return a
}

func (r *reader) agenticEntry(c *Config, n *yaml.Node) *Entry {
	what := fmt.Sprintf("agentic search-space entry of config %q", c.Key)
	m := r.mapOf(n, what, agenticEntryKeys)
	if m == nil {
		return nil
	}
	e := &Entry{Range: r.rng(n)}
	hasTP := m.has("tp")
	switch {
	case hasTP && (m.has("prefill") || m.has("decode")), !hasTP && !(m.has("prefill") && m.has("decode")):
		r.errorf(n, "Invalid topology", "An %s specifies either tp or both prefill and decode.", what)
		return nil
	case hasTP && c.MultiNode:
		r.errorf(n, "Invalid topology", "Config %q is multi-node, so its agentic entries give prefill and decode, not tp.", c.Key)
		return nil
	case !hasTP && !c.MultiNode:
		r.errorf(n, "Invalid topology", "Config %q is single-node, so its agentic entries give tp, not prefill and decode.", c.Key)
		return nil
	}
	if hasTP {
		r.topology(m, e, what)
		if !m.has("kv-offloading") {
			r.errorf(n, "Missing key", "A single-node %s needs kv-offloading (none or dram).", what)
		}
	} else {
		for _, k := range []string{"pp", "dcp-size", "pcp-size"} {
			if f, ok := m.get(k); ok {
				r.errorf(f.key, "Invalid key", "A multi-node %s cannot set pp, dcp-size or pcp-size (set them in prefill and decode).", what)
			}
		}
		// ep and dp-attn are accepted (InferenceX's schema has them) but
		// only the worker blocks count.
		r.integer(m, "ep")
		r.boolean(m, "dp-attn")
		r.workers(m, e, what)
	}
	r.common(m, e)
	if s, ok := r.str(m, "kv-offloading"); ok {
		if !contains(kvOffloadings, s) {
			f, _ := m.get("kv-offloading")
			r.errorf(f.value, "Invalid value", "kv-offloading must be one of %s, not %q.", strings.Join(kvOffloadings, ", "), s)
		}
		e.KVOffloading = s
	}
	if f, ok := m.get("kv-offload-backend"); ok {
		e.KVOffloadBackend = r.component(f.value, "kv-offload-backend", false)
		switch e.KVOffloading {
		case "":
			r.errorf(f.key, "Invalid key", "kv-offload-backend needs kv-offloading.")
		case "none":
			r.errorf(f.key, "Invalid key", "kv-offload-backend can only be set when kv-offloading is not none.")
		}
	} else if e.KVOffloading != "" && e.KVOffloading != "none" {
		r.errorf(n, "Missing key", "kv-offload-backend is required when kv-offloading is %q.", e.KVOffloading)
	}
	r.conc(m, e, what)
	return e
}

// runners reads configs/runners.yaml.
func (r *reader) runners(root *yaml.Node) Runners {
	out := Runners{File: r.file, Labels: map[string][]string{}, Hardware: map[string]Hardware{}}
	m := r.mapOf(root, "the runner config", runnerFileKeys)
	if m == nil {
		return out
	}
	r.require(m, "the runner config", "labels")
	if f, ok := m.get("labels"); ok {
		if lm := r.mapOf(f.value, "labels", nil); lm != nil {
			for _, label := range lm.order {
				names, ok := r.strList(lm, label)
				if ok {
					out.Labels[label] = names
				}
			}
		}
	}
	if f, ok := m.get("hardware"); ok {
		if hm := r.mapOf(f.value, "hardware", nil); hm != nil {
			for _, label := range hm.order {
				what := fmt.Sprintf("hardware of %q", label)
				e := r.mapOf(hm.byKey[label].value, what, hardwareKeys)
				if e == nil {
					continue
				}
				r.require(e, what, hardwareKeys...)
				out.Hardware[label] = Hardware{AvailableCPUDramMiB: r.positive(e, "available-cpu-dram-mib", 0), GPUsPerNode: r.positive(e, "gpus-per-node", 0)}
			}
		}
	}
	return out
}

// checkLabels warns about configs whose runner label the runner file
// lacks: InferenceX does not check it (its own configs have three), but
// such a config cannot be filtered by runner node.
func (m *Matrix) checkLabels() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, c := range m.Configs {
		if _, ok := m.Runners.Labels[c.Runner]; !ok {
			rg := c.Range
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Unknown runner label",
				Detail: fmt.Sprintf("Config %q uses runner %q, which %s does not list under labels.", c.Key, c.Runner, m.Runners.File), Subject: &rg})
		}
	}
	return diags
}
