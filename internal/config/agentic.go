package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Agentic is an agentic block's trace source and replay settings: the
// sessions a trace-replay client plays (one concurrency per client run)
// and for how long.
type Agentic struct {
	// Trace is a cc-traces file (JSONL) or directory of one-trace .json
	// files, as written: relative paths are relative to the sweep file
	// (TracePath). Dataset is a Hugging Face dataset id the node reads
	// from its HF cache instead. Exactly one of them is set.
	Trace   string
	Dataset string
	// Duration is how long each client run profiles (3600 s unless set).
	Duration time.Duration
	// BlockSize is the tokens per hash block; 0: the trace's own.
	BlockSize int
	// WarmupPerLane is how many one-token requests advance each lane
	// before profiling (AIPerf's --warmup-requests-per-lane; 10).
	WarmupPerLane int
	Range         hcl.Range

	traceRange hcl.Range
}

// TracePath is the trace resolved against the sweep file at sweepPath:
// ~ is the home directory; a relative path is relative to the sweep
// file's directory. Empty when the block names a dataset.
func (a *Agentic) TracePath(sweepPath string) string {
	if a.Trace == "" {
		return ""
	}
	p := ExpandHome(a.Trace)
	if !filepath.IsAbs(p) && sweepPath != "" {
		p = filepath.Join(filepath.Dir(sweepPath), p)
	}
	return p
}

// Offload is an agentic band's KV offload settings.
type Offload struct {
	Mode    string // none | dram
	Backend string // one of OffloadBackends when Mode is dram
	DramGB  int    // CPU DRAM for the KV tier, in GB, all ranks together

	backendRange hcl.Range
}

// Point is the offload part of a job's point: kvnone, or
// kvdram-<backend>-<GB>gb.
func (o Offload) Point() string {
	if o.Mode != "dram" {
		return "kvnone"
	}
	return fmt.Sprintf("kvdram-%s-%dgb", o.Backend, o.DramGB)
}

// Agentic defaults: InferenceX's AgentX settings.
const (
	DefaultAgenticDuration = 3600 * time.Second
	DefaultWarmupPerLane   = 10
	// MinAgenticDuration is the shortest run fleet accepts: below a
	// minute warmup and the first turns' long prefills are all there is.
	MinAgenticDuration = 60 * time.Second
	// aiperfMinDuration is AIPerf's floor for a valid AgentX run.
	aiperfMinDuration = 900 * time.Second
	maxBlockSize      = 1 << 16
	maxDramGB         = 1 << 20
)

// OffloadModes are the values of kv_offloading.
var OffloadModes = []string{"none", "dram"}

// OffloadBackends maps each KV offload backend to the frameworks whose
// launchers render it (scripts/README.md "Agentic jobs"); the Dynamo
// launchers render none yet. The simulator models a generic CPU tier and
// takes any of them.
var OffloadBackends = map[string][]string{
	"hicache":     {"sglang", "sim"},
	"vllm-simple": {"vllm", "sim"},
	"vllm-native": {"vllm", "sim"},
	"lmcache":     {"vllm", "sim"},
	"mooncake":    {"vllm", "sim"},
	"native":      {"trt", "sim"},
}

// offloadBackendNames lists OffloadBackends' keys in a fixed order.
func offloadBackendNames() []string {
	names := make([]string, 0, len(OffloadBackends))
	for k := range OffloadBackends {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

var agenticSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "trace"}, {Name: "dataset"}, {Name: "duration"}, {Name: "block_size"}, {Name: "warmup_requests_per_lane"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "search"}},
}

// agenticSearchSchema is a search band's schema plus the offload keys.
var agenticSearchSchema = &hcl.BodySchema{
	Attributes: append(slices.Clone(searchSchema.Attributes),
		hcl.AttributeSchema{Name: "kv_offloading"}, hcl.AttributeSchema{Name: "kv_offload_backend"}, hcl.AttributeSchema{Name: "dram_gb"}),
	Blocks: searchSchema.Blocks,
}

// agentic decodes an agentic block: a scenario with no isl or osl, whose
// requests come from a trace, and whose bands carry offload settings.
func (d *decoder) agentic(b *hcl.Block) *Scenario {
	content, diags := b.Body.Content(agenticSchema)
	d.diags = append(d.diags, diags...)
	checkMissing := !diags.HasErrors()
	at := content.Attributes
	s := &Scenario{Name: b.Labels[0], Range: b.DefRange}
	ag := &Agentic{Duration: DefaultAgenticDuration, WarmupPerLane: DefaultWarmupPerLane, Range: b.DefRange}
	s.Agentic = ag
	traceAttr := d.str(at, "trace", &ag.Trace)
	dataAttr := d.str(at, "dataset", &ag.Dataset)
	switch {
	case traceAttr != nil && dataAttr != nil:
		d.errorf(dataAttr.NameRange, "Conflicting arguments", "Give either trace (a file or directory of cc-traces) or dataset (a Hugging Face dataset id), not both.")
	case traceAttr != nil:
		ag.traceRange = traceAttr.Expr.Range()
		if strings.TrimSpace(ag.Trace) == "" {
			d.errorf(traceAttr.Expr.Range(), "Invalid value", "trace must name a cc-traces JSONL file or a directory of trace .json files.")
		}
	case dataAttr != nil:
		if strings.Count(ag.Dataset, "/") != 1 || strings.HasPrefix(ag.Dataset, "/") || strings.HasSuffix(ag.Dataset, "/") || strings.ContainsAny(ag.Dataset, " \t") {
			d.errorf(dataAttr.Expr.Range(), "Invalid value", "dataset must be a Hugging Face dataset id such as \"semianalysisai/cc-traces-weka-062126-256k\", not %q.", ag.Dataset)
		}
	case checkMissing && at["trace"] == nil && at["dataset"] == nil:
		d.errorf(b.DefRange, "Missing required argument", "Agentic scenario %q needs trace (a cc-traces file or directory) or dataset (a Hugging Face dataset id the node reads from its HF cache).", s.Name)
	}
	if attr := d.duration(at, "duration", &ag.Duration); attr != nil {
		switch {
		case ag.Duration < MinAgenticDuration:
			d.errorf(attr.Expr.Range(), "Invalid duration", "duration %s is under %s: a replay that short measures warmup and the first long prefills only.", ag.Duration, MinAgenticDuration)
		case ag.Duration < aiperfMinDuration:
			d.warnf(attr.Expr.Range(), "Short agentic run", "duration %s is under AIPerf's %s floor for AgentX: InferenceX would mark such a run not valid for submission.", ag.Duration, aiperfMinDuration)
		}
	}
	if attr := d.integer(at, "block_size", &ag.BlockSize); attr != nil {
		if ag.BlockSize <= 0 {
			d.errorf(attr.Expr.Range(), "Invalid value", "block_size must be at least 1 token, not %d; leave it out for the trace's own (64 in every cc-traces corpus).", ag.BlockSize)
		} else {
			d.atMost(attr, ag.BlockSize, maxBlockSize)
		}
	}
	if attr := d.integer(at, "warmup_requests_per_lane", &ag.WarmupPerLane); attr != nil {
		if ag.WarmupPerLane < 0 {
			d.errorf(attr.Expr.Range(), "Invalid value", "warmup_requests_per_lane must be 0 or more, not %d.", ag.WarmupPerLane)
		} else {
			d.atMost(attr, ag.WarmupPerLane, maxPromptsPerConc)
		}
	}
	for _, sb := range content.Blocks {
		s.Search = append(s.Search, d.search(sb, true))
	}
	if checkMissing && len(content.Blocks) == 0 {
		d.errorf(b.DefRange, "Missing search", "Agentic scenario %q needs at least one search block, such as search { tp = 8, conc = [4, 8, 16] }.", s.Name)
	}
	return s
}

// offload decodes an agentic band's kv_offloading, kv_offload_backend
// and dram_gb.
func (d *decoder) offload(b *hcl.Block, a hcl.Attributes) *Offload {
	o := &Offload{Mode: "none"}
	modeAttr := d.str(a, "kv_offloading", &o.Mode)
	if modeAttr != nil && !d.oneOf(modeAttr, o.Mode, OffloadModes) {
		return o
	}
	backAttr := d.str(a, "kv_offload_backend", &o.Backend)
	gbAttr := d.integer(a, "dram_gb", &o.DramGB)
	if o.Mode == "none" {
		for _, attr := range []*hcl.Attribute{backAttr, gbAttr} {
			if attr != nil {
				d.errorf(attr.NameRange, "Conflicting arguments", "%s is for kv_offloading = \"dram\"; this band offloads nothing.", attr.Name)
			}
		}
		o.Backend, o.DramGB = "", 0
		return o
	}
	switch {
	case backAttr != nil:
		o.backendRange = backAttr.Expr.Range()
		d.oneOf(backAttr, o.Backend, offloadBackendNames())
	case a["kv_offload_backend"] == nil:
		d.errorf(b.DefRange, "Missing required argument", "kv_offloading = \"dram\" needs kv_offload_backend, one of %s.", strings.Join(offloadBackendNames(), ", "))
	}
	switch {
	case gbAttr != nil && o.DramGB <= 0:
		d.errorf(gbAttr.Expr.Range(), "Invalid value", "dram_gb must be at least 1 GB, not %d.", o.DramGB)
	case gbAttr != nil:
		d.atMost(gbAttr, o.DramGB, maxDramGB)
	case a["dram_gb"] == nil:
		d.errorf(b.DefRange, "Missing required argument", "kv_offloading = \"dram\" needs dram_gb, the CPU DRAM for the KV tier in GB (all ranks together; the launcher divides it).")
	}
	return o
}

// checkOffloadFramework refuses an offload backend the config's
// framework has no launcher flags for.
func (d *decoder) checkOffloadFramework(c *BenchConfig) {
	if c.Framework == "" {
		return
	}
	for _, sc := range c.Scenarios {
		for _, s := range sc.Search {
			o := s.Offload
			if o == nil || o.Backend == "" {
				continue
			}
			fws, ok := OffloadBackends[o.Backend]
			if ok && !slices.Contains(fws, c.Framework) {
				d.errorf(o.backendRange, "Unsupported offload backend",
					"Config %q runs framework %q, which has no %q KV offload: that backend is for %s.", c.Key, c.Framework, o.Backend, strings.Join(fws, ", "))
			}
		}
	}
}

// checkTraces refuses an agentic block whose trace does not exist.
func (l *Loader) checkTraces(sw *Sweep) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, c := range sw.Configs {
		for _, sc := range c.Scenarios {
			ag := sc.Agentic
			if ag == nil || strings.TrimSpace(ag.Trace) == "" {
				continue
			}
			p := ag.TracePath(sw.Path)
			ok, err := l.exists(p)
			if err == nil && !ok {
				err = fmt.Errorf("no such file or directory")
			}
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing trace",
					Detail:  fmt.Sprintf("Agentic scenario %q of config %q: trace %s: %v.", sc.Name, c.Key, p, err),
					Subject: ag.traceRange.Ptr()})
			}
		}
	}
	return diags
}
