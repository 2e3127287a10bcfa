package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/topology"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
)

// Frameworks are the inference servers fleet can launch; "sim" is fleet's
// own simulator.
var Frameworks = []string{"vllm", "sglang", "trt", "sim", "torch-smoke", "dynamo-vllm", "dynamo-sglang", "dynamo-trt"}

// DefaultClient is InferenceMAX's client setup, with InferenceX's
// percentiles (90, 99 and 99.9 of every metric).
func DefaultClient() Client {
	return Client{RangeRatio: 0.8, PromptsPerConc: 10, WarmupsPerConc: 2, Percentiles: []float64{90, 99, 99.9}}
}

// DefaultTimeouts bound a job when the sweep's settings do not.
func DefaultTimeouts() Timeouts {
	return Timeouts{ServerStart: 20 * time.Minute, Benchmark: 60 * time.Minute, Job: 90 * time.Minute}
}

// DefaultRetries is how often a job is retried after a transient failure.
const DefaultRetries = 2

var sweepSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "client"},
		{Type: "settings"},
		{Type: "config", LabelNames: []string{"name"}},
		{Type: "inferencex"},
		{Type: "eval"},
	},
}

var inferencexSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "dir", Required: true}, {Name: "config_files"}, {Name: "runner_config"}, {Name: "client"},
	{Name: "config_keys"}, {Name: "nodes"}, {Name: "evals"},
}}

// IXClients are the clients an InferenceX job may run: the checkout's own
// or fleet bench given the same flags.
var IXClients = []string{"inferencex", "fleet"}

// IXNodes select InferenceX's single-node rows, multi-node rows or both.
var IXNodes = []string{"both", "single", "multi"}

// IXEvals are InferenceX's eval selections: the generator's default
// marking, --no-evals, --evals-only and --all-evals.
var IXEvals = []string{"default", "none", "only", "all"}

var clientSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "range_ratio"}, {Name: "prompts_per_conc"}, {Name: "warmups_per_conc"}, {Name: "percentiles"}, {Name: "extra_args"},
}}

var settingsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "retries"}, {Name: "fail_fast"}, {Name: "on_finish"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "timeouts"}, {Type: "canary"}},
}

var timeoutsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "server_start"}, {Name: "benchmark"}, {Name: "job"},
}}

var configSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "image"}, {Name: "model"}, {Name: "model_prefix"}, {Name: "precision"}, {Name: "framework"},
		{Name: "runner"}, {Name: "server_args"}, {Name: "env"},
		{Name: "spec"}, {Name: "spec_tokens"}, {Name: "draft_model"}, {Name: "spec_accept_length"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "scenario", LabelNames: []string{"name"}},
		{Type: "agentic", LabelNames: []string{"name"}},
		{Type: "client"},
		{Type: "eval"},
	},
}

var scenarioSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "isl"}, {Name: "osl"}, {Name: "max_model_len"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "search"}},
}

var searchSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "tp"}, {Name: "ep"}, {Name: "pp"}, {Name: "dp_attn"}, {Name: "conc"}, {Name: "conc_start"}, {Name: "conc_end"},
		{Name: "kv_transfer"}, {Name: "spec"}, {Name: "spec_tokens"}, {Name: "draft_model"}, {Name: "spec_accept_length"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "prefill"}, {Type: "decode"}, {Type: "router"}},
}

// Sweep reads a sweep file. With a non-nil inventory it also checks that
// every runner names something in it and that every search band fits at
// least one machine the runner selects.
func (l *Loader) Sweep(path string, inv *Inventory) (*Sweep, hcl.Diagnostics) {
	if ok, err := l.exists(path); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("no such file")
		}
		return nil, missingFile("sweep", path, err)
	}
	f, diags := l.parse(path)
	if diags.HasErrors() {
		return nil, diags
	}
	ctx, d := l.evalContext(f.Body)
	diags = append(diags, d...)
	if d.HasErrors() {
		sortDiags(diags)
		return nil, diags
	}
	dec := &decoder{ctx: ctx, maxJobs: l.jobLimit()}
	sw := dec.sweep(dynblock.Expand(f.Body, ctx))
	sw.Path = path
	if !dec.diags.HasErrors() {
		dec.diags = append(dec.diags, l.checkTraces(sw)...)
		dec.diags = append(dec.diags, l.checkEvals(sw)...)
	}
	if inv != nil && !dec.diags.HasErrors() {
		dec.checkFit(sw, inv)
	}
	diags = append(diags, dec.diags...)
	sortDiags(diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return sw, diags
}

func (d *decoder) sweep(body hcl.Body) *Sweep {
	content, diags := body.Content(sweepSchema)
	d.diags = append(d.diags, diags...)
	sw := &Sweep{Client: DefaultClient(), Timeouts: DefaultTimeouts(), Retries: DefaultRetries, Canary: DefaultCanary()}
	var clientSeen, settingsSeen *hcl.Range
	for _, b := range content.Blocks {
		switch b.Type {
		case "client":
			if clientSeen != nil {
				d.diags = append(d.diags, duplicate("client block", "client", b.DefRange, *clientSeen))
				continue
			}
			clientSeen = b.DefRange.Ptr()
			sw.Client = d.client(b, sw.Client)
		case "inferencex":
			if sw.InferenceX != nil {
				d.diags = append(d.diags, duplicate("inferencex block", "inferencex", b.DefRange, sw.InferenceX.Range))
				continue
			}
			sw.InferenceX = d.inferencex(b)
		case "eval":
			if sw.Eval != nil {
				d.diags = append(d.diags, duplicate("eval block", "eval", b.DefRange, sw.Eval.Range))
				continue
			}
			sw.Eval = d.eval(b)
		case "settings":
			if settingsSeen != nil {
				d.diags = append(d.diags, duplicate("settings block", "settings", b.DefRange, *settingsSeen))
				continue
			}
			settingsSeen = b.DefRange.Ptr()
			d.settings(b, sw)
		}
	}
	// Configs come after the top-level client block is known, wherever
	// it stands in the file, since each config merges over it.
	keys := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		if b.Type != "config" {
			continue
		}
		key := b.Labels[0]
		if !d.checkName("config", key, b.LabelRanges[0]) {
			continue
		}
		if prev, dup := keys[key]; dup {
			d.diags = append(d.diags, duplicate("config", key, b.LabelRanges[0], prev))
			continue
		}
		keys[key] = b.DefRange
		sw.Configs = append(sw.Configs, d.config(b, sw.Client))
		if d.jobs > countCeiling*d.maxJobs {
			break
		}
	}
	for _, c := range sw.Configs {
		if c.Eval == nil {
			c.Eval = sw.Eval // nil when the sweep has none
		}
	}
	d.checkJobCount()
	if len(sw.Configs) == 0 && sw.InferenceX == nil && !d.diags.HasErrors() {
		d.errorf(body.MissingItemRange(), "No configs", "A sweep file needs at least one config block or an inferencex block.")
	}
	return sw
}

// inferencex decodes an inferencex block. The directory stays as written
// (~ and relative paths are resolved against the sweep file by the caller
// that reads the checkout).
func (d *decoder) inferencex(b *hcl.Block) *InferenceXSource {
	content, diags := b.Body.Content(inferencexSchema)
	d.diags = append(d.diags, diags...)
	src := &InferenceXSource{Client: "inferencex", Nodes: "both", Evals: "default", Range: b.DefRange}
	if attr := d.str(content.Attributes, "dir", &src.Dir); attr != nil && strings.TrimSpace(src.Dir) == "" {
		d.errorf(attr.Expr.Range(), "Invalid value", "dir must name an InferenceX checkout.")
	}
	d.strings(content.Attributes, "config_files", false, &src.ConfigFiles)
	d.str(content.Attributes, "runner_config", &src.RunnerConfig)
	d.strings(content.Attributes, "config_keys", false, &src.ConfigKeys)
	if attr := d.str(content.Attributes, "client", &src.Client); attr != nil {
		d.oneOf(attr, src.Client, IXClients)
	}
	if attr := d.str(content.Attributes, "nodes", &src.Nodes); attr != nil {
		d.oneOf(attr, src.Nodes, IXNodes)
	}
	if attr := d.str(content.Attributes, "evals", &src.Evals); attr != nil {
		d.oneOf(attr, src.Evals, IXEvals)
	}
	return src
}

// client decodes a client block over base, so a config's client block
// changes only what it sets.
func (d *decoder) client(b *hcl.Block, base Client) Client {
	content, diags := b.Body.Content(clientSchema)
	d.diags = append(d.diags, diags...)
	a := content.Attributes
	c := base
	c.Percentiles = append([]float64(nil), base.Percentiles...)
	c.ExtraArgs = append([]string(nil), base.ExtraArgs...)
	if attr := d.number(a, "range_ratio", &c.RangeRatio); attr != nil && (c.RangeRatio <= 0 || c.RangeRatio > 1) {
		d.errorf(attr.Expr.Range(), "Invalid value", "range_ratio must be in (0, 1], not %g: it is the smallest request length as a fraction of isl/osl.", c.RangeRatio)
	}
	if attr := d.integer(a, "prompts_per_conc", &c.PromptsPerConc); attr != nil && c.PromptsPerConc <= 0 {
		d.errorf(attr.Expr.Range(), "Invalid value", "prompts_per_conc must be at least 1, not %d.", c.PromptsPerConc)
	} else {
		d.atMost(attr, c.PromptsPerConc, maxPromptsPerConc)
	}
	if attr := d.integer(a, "warmups_per_conc", &c.WarmupsPerConc); attr != nil && c.WarmupsPerConc < 0 {
		d.errorf(attr.Expr.Range(), "Invalid value", "warmups_per_conc must be 0 or more, not %d.", c.WarmupsPerConc)
	} else {
		d.atMost(attr, c.WarmupsPerConc, maxPromptsPerConc)
	}
	if attr := d.numbers(a, "percentiles", &c.Percentiles); attr != nil {
		for _, p := range c.Percentiles {
			if p <= 0 || p > 100 {
				d.errorf(attr.Expr.Range(), "Invalid value", "Percentile %g is outside (0, 100].", p)
			}
		}
	}
	d.strings(a, "extra_args", false, &c.ExtraArgs)
	return c
}

func (d *decoder) settings(b *hcl.Block, sw *Sweep) {
	content, diags := b.Body.Content(settingsSchema)
	d.diags = append(d.diags, diags...)
	if attr := d.integer(content.Attributes, "retries", &sw.Retries); attr != nil && sw.Retries < 0 {
		d.errorf(attr.Expr.Range(), "Invalid value", "retries must be 0 or more, not %d.", sw.Retries)
	} else {
		d.atMost(attr, sw.Retries, maxRetries)
	}
	d.boolean(content.Attributes, "fail_fast", &sw.FailFast)
	if attr := d.strings(content.Attributes, "on_finish", false, &sw.OnFinish); attr != nil && len(sw.OnFinish) == 0 {
		d.errorf(attr.Expr.Range(), "Invalid value", "on_finish is a command line, program first, such as [\"notify\", \"--to\", \"me\"]; it is empty.")
	}
	var seen, canarySeen *hcl.Range
	for _, tb := range content.Blocks {
		if tb.Type == "canary" {
			if canarySeen != nil {
				d.diags = append(d.diags, duplicate("canary block", "canary", tb.DefRange, *canarySeen))
				continue
			}
			canarySeen = tb.DefRange.Ptr()
			d.canary(tb, &sw.Canary)
			continue
		}
		if seen != nil {
			d.diags = append(d.diags, duplicate("timeouts block", "timeouts", tb.DefRange, *seen))
			continue
		}
		seen = tb.DefRange.Ptr()
		tc, diags := tb.Body.Content(timeoutsSchema)
		d.diags = append(d.diags, diags...)
		t := &sw.Timeouts
		d.duration(tc.Attributes, "server_start", &t.ServerStart)
		d.duration(tc.Attributes, "benchmark", &t.Benchmark)
		if attr := d.duration(tc.Attributes, "job", &t.Job); attr != nil && t.Job < t.ServerStart+t.Benchmark {
			d.warnf(attr.Expr.Range(), "Job timeout shorter than its phases",
				"The job timeout %s is shorter than server_start + benchmark (%s): a slow but healthy job will be cut off.", t.Job, t.ServerStart+t.Benchmark)
		}
	}
}

func (d *decoder) config(b *hcl.Block, base Client) *BenchConfig {
	content, diags := b.Body.Content(configSchema)
	d.diags = append(d.diags, diags...)
	// A misspelt name already has its diagnostic ("did you mean");
	// reporting what is missing as well would only repeat it.
	checkMissing := !diags.HasErrors()
	a := content.Attributes
	c := &BenchConfig{Key: b.Labels[0], Client: base, Range: b.DefRange}
	require := func(name, why string) {
		if _, ok := a[name]; !ok && checkMissing {
			d.errorf(b.DefRange, "Missing required argument", "Config %q needs %s: %s.", c.Key, name, why)
		}
	}
	require("model", "the model to serve (a Hugging Face id or a path)")
	require("model_prefix", "the short model name used in result names, such as \"dsr1\"")
	require("precision", "such as \"fp8\" or \"fp4\"")
	require("framework", "one of "+strings.Join(Frameworks, ", "))
	require("runner", "a GPU type, node label, node or cluster name, or a list of them")
	if attr := d.str(a, "model", &c.Model); d.nonEmpty(attr, "model", c.Model) {
		d.notOption(attr, "model", c.Model)
	}
	if attr := d.str(a, "model_prefix", &c.ModelPrefix); attr != nil {
		d.checkName("model_prefix", c.ModelPrefix, attr.Expr.Range())
	}
	if attr := d.str(a, "precision", &c.Precision); attr != nil {
		d.checkName("precision", c.Precision, attr.Expr.Range())
	}
	fwAttr := d.str(a, "framework", &c.Framework)
	if fwAttr != nil {
		d.oneOf(fwAttr, c.Framework, Frameworks)
	}
	imgAttr := d.str(a, "image", &c.Image)
	d.notOption(imgAttr, "image", c.Image)
	if fwAttr != nil && c.Framework != "sim" && c.Framework != "torch-smoke" && c.Framework != "" && (imgAttr != nil || checkMissing) && (imgAttr == nil || strings.TrimSpace(c.Image) == "") {
		subject := b.DefRange
		if imgAttr != nil {
			subject = imgAttr.Expr.Range()
		}
		d.errorf(subject, "Missing image", "Config %q runs framework %q, which needs a container image; only framework \"sim\" runs without one.", c.Key, c.Framework)
	}
	if attr := d.strings(a, "runner", true, &c.Runner); attr != nil {
		c.runnerRange = attr.Expr.Range()
		if len(c.Runner) == 0 {
			d.errorf(attr.Expr.Range(), "Invalid value", "runner must name at least one GPU type, node label, node or cluster.")
		}
		for _, r := range c.Runner {
			if strings.TrimSpace(r) == "" {
				d.errorf(attr.Expr.Range(), "Invalid value", "runner entries must not be empty.")
			}
		}
	}
	d.strings(a, "server_args", false, &c.ServerArgs)
	envAttr := d.stringMap(a, "env", &c.Env)
	d.checkEnv(envAttr, c.Env, nil, nil)
	d.specBase, d.specFramework = d.specKeys(a), c.Framework
	defer func() { d.specBase, d.specFramework = specAttrs{}, "" }()

	var clientSeen *hcl.Range
	scenarios := map[string]hcl.Range{}
	for _, sb := range content.Blocks {
		switch sb.Type {
		case "client":
			if clientSeen != nil {
				d.diags = append(d.diags, duplicate("client block", "client", sb.DefRange, *clientSeen))
				continue
			}
			clientSeen = sb.DefRange.Ptr()
			c.Client = d.client(sb, base)
		case "eval":
			if c.Eval != nil {
				d.diags = append(d.diags, duplicate("eval block", "eval", sb.DefRange, c.Eval.Range))
				continue
			}
			c.Eval = d.eval(sb)
		case "scenario", "agentic":
			// One name space: the name is the jobs' seq either way.
			name := sb.Labels[0]
			if !d.checkName("scenario", name, sb.LabelRanges[0]) {
				continue
			}
			if prev, dup := scenarios[name]; dup {
				d.diags = append(d.diags, duplicate("scenario", name, sb.LabelRanges[0], prev))
				continue
			}
			scenarios[name] = sb.DefRange
			if sb.Type == "agentic" {
				c.Scenarios = append(c.Scenarios, d.agentic(sb))
			} else {
				c.Scenarios = append(c.Scenarios, d.scenario(sb))
			}
		}
	}
	if checkMissing && !hasScenarioBlock(content.Blocks) {
		d.errorf(b.DefRange, "Missing scenario", "Config %q needs at least one scenario block, such as scenario \"1k1k\" { isl = 1024, osl = 1024, search { ... } }, or an agentic block.", c.Key)
	}
	d.checkOffloadFramework(c)
	d.checkDuplicateJobs(c)
	return c
}

func hasScenarioBlock(blocks hcl.Blocks) bool {
	for _, b := range blocks {
		if b.Type == "scenario" || b.Type == "agentic" {
			return true
		}
	}
	return false
}

func (d *decoder) scenario(b *hcl.Block) *Scenario {
	content, diags := b.Body.Content(scenarioSchema)
	d.diags = append(d.diags, diags...)
	checkMissing := !diags.HasErrors()
	a := content.Attributes
	s := &Scenario{Name: b.Labels[0], Range: b.DefRange}
	for _, name := range []string{"isl", "osl"} {
		dst := &s.ISL
		if name == "osl" {
			dst = &s.OSL
		}
		attr := d.integer(a, name, dst)
		switch {
		case checkMissing && attr == nil && a[name] == nil:
			d.errorf(b.DefRange, "Missing required argument", "Scenario %q needs %s (%s tokens per request).", s.Name, name, map[string]string{"isl": "input", "osl": "output"}[name])
		case attr != nil && *dst <= 0:
			d.errorf(attr.Expr.Range(), "Invalid value", "%s must be at least 1 token, not %d.", name, *dst)
		default:
			d.atMost(attr, *dst, maxTokens)
		}
	}
	if attr := d.integer(a, "max_model_len", &s.MaxModelLen); attr != nil {
		switch {
		case s.MaxModelLen <= 0:
			d.errorf(attr.Expr.Range(), "Invalid value", "max_model_len must be positive, not %d; leave it out for isl + osl + 256.", s.MaxModelLen)
		case !d.atMost(attr, s.MaxModelLen, maxTokens):
		case s.ISL > 0 && s.OSL > 0 && s.MaxModelLen < s.ISL+s.OSL:
			d.errorf(attr.Expr.Range(), "Invalid value", "max_model_len %d is smaller than isl + osl = %d: the longest requests would be refused.", s.MaxModelLen, s.ISL+s.OSL)
		}
	}
	for _, sb := range content.Blocks {
		s.Search = append(s.Search, d.search(sb, false))
	}
	if checkMissing && len(content.Blocks) == 0 {
		d.errorf(b.DefRange, "Missing search", "Scenario %q needs at least one search block, such as search { tp = 8, conc = [4, 8, 16, 32, 64] }.", s.Name)
	}
	return s
}

// search decodes a search band; one of an agentic block also has the
// offload keys.
func (d *decoder) search(b *hcl.Block, agentic bool) *Search {
	schema := searchSchema
	if agentic {
		schema = agenticSearchSchema
	}
	content, diags := b.Body.Content(schema)
	d.diags = append(d.diags, diags...)
	checkMissing := !diags.HasErrors()
	a := content.Attributes
	s := &Search{EP: 1, PP: 1, Range: b.DefRange}
	if d.overAt != nil {
		// The sweep is refused already; only how many jobs it would make
		// is still of interest: one for a multi-node band, which runs
		// its whole list in one deployment, unless it is agentic.
		if len(content.Blocks) > 0 && !agentic {
			d.jobs++
		} else {
			d.jobs += d.countConc(a)
		}
		return s
	}
	defer d.countJobs(s)
	if agentic {
		s.Offload = d.offload(b, a)
	}
	positive := func(name string, dst *int) {
		if attr := d.integer(a, name, dst); attr != nil {
			if name == "tp" {
				s.tpRange = attr.Expr.Range()
			}
			if *dst <= 0 {
				d.errorf(attr.Expr.Range(), "Invalid value", "%s must be at least 1, not %d.", name, *dst)
			} else {
				d.atMost(attr, *dst, maxGPUs)
			}
		}
	}
	s.tpRange = b.DefRange
	// A multi-node band's roles hold its parallelism (and tp, ep, pp and
	// dp_attn of the band itself are refused there).
	if !d.multiNode(s, b, content) {
		if _, ok := a["tp"]; !ok && checkMissing {
			d.errorf(b.DefRange, "Missing required argument", "A search block needs tp, the tensor-parallel size (GPUs per server with pp = 1), or prefill and decode blocks for a multi-node job.")
		}
		positive("tp", &s.TP)
		positive("ep", &s.EP)
		positive("pp", &s.PP)
		d.boolean(a, "dp_attn", &s.DPAttn)
	}
	s.Spec = d.specs(d.specKeys(a), d.specBase, d.specFramework, s.Multi != nil)

	listAttr := a["conc"]
	startAttr, endAttr := a["conc_start"], a["conc_end"]
	switch {
	case listAttr != nil && (startAttr != nil || endAttr != nil):
		other := startAttr
		if other == nil {
			other = endAttr
		}
		d.errorf(other.NameRange, "Conflicting arguments", "Give either conc (a list) or conc_start and conc_end (doubling), not both.")
	case listAttr != nil:
		if attr := d.integers(a, "conc", &s.Conc); attr != nil {
			if len(s.Conc) == 0 {
				d.errorf(attr.Expr.Range(), "Invalid value", "conc must list at least one concurrency.")
			}
			seen := map[int]bool{}
			for _, c := range s.Conc {
				switch {
				case c <= 0:
					d.errorf(attr.Expr.Range(), "Invalid value", "Concurrency %d must be at least 1.", c)
				case c > maxConc:
					d.errorf(attr.Expr.Range(), "Value too large", "Concurrency %d is more than %d concurrent requests.", c, maxConc)
				case seen[c]:
					d.errorf(attr.Expr.Range(), "Invalid value", "Concurrency %d is listed twice.", c)
				}
				seen[c] = true
			}
		}
	case startAttr != nil || endAttr != nil:
		if startAttr == nil || endAttr == nil {
			if !checkMissing {
				break
			}
			d.errorf(b.DefRange, "Missing required argument", "conc_start and conc_end go together: concurrency doubles from conc_start up to conc_end.")
			break
		}
		var start, end int
		sa := d.integer(a, "conc_start", &start)
		ea := d.integer(a, "conc_end", &end)
		if sa == nil || ea == nil {
			break
		}
		if start <= 0 {
			d.errorf(sa.Expr.Range(), "Invalid value", "conc_start must be at least 1, not %d.", start)
			break
		}
		if end < start {
			d.errorf(ea.Expr.Range(), "Invalid value", "conc_end %d is smaller than conc_start %d.", end, start)
			break
		}
		if !d.atMost(ea, end, maxConc) {
			break
		}
		// Doubling, inclusive; an end that doubling does not reach exactly
		// still bounds the list (4..48 gives 4, 8, 16, 32).
		for c := start; c <= end; c *= 2 {
			s.Conc = append(s.Conc, c)
		}
	case checkMissing:
		d.errorf(b.DefRange, "Missing required argument", "A search block needs its concurrencies: conc = [4, 8, 16] or conc_start = 4 with conc_end = 64.")
	}
	return s
}

// checkDuplicateJobs refuses two search bands that produce the same job:
// its id would not be unique, and the second run would overwrite the
// first one's results.
func (d *decoder) checkDuplicateJobs(c *BenchConfig) {
	type point struct {
		seq              string
		tp, ep, pp, conc int
		dpa              bool
		// A multi-node band is one job: its shape and its whole list.
		shape topology.Shape
		list  string
		kv    string // an agentic band's offload
		spec  string // the speculative decoding method
	}
	seen := map[point]hcl.Range{}
	for _, sc := range c.Scenarios {
		for _, s := range sc.Search {
			kv := ""
			if s.Offload != nil {
				kv = s.Offload.Point()
			}
			if s.Multi != nil && s.Offload == nil {
				// nodes only checks the layout: it makes no other job.
				p := point{seq: sc.Name, shape: *s.Multi, list: fmt.Sprint(s.Conc)}
				p.shape.Prefill.Nodes, p.shape.Decode.Nodes = 0, 0
				if prev, dup := seen[p]; dup {
					d.errorf(s.Range, "Duplicate job", "Scenario %q already has this multi-node shape with conc %v from the search at %s.", sc.Name, s.Conc, shortRange(prev))
					continue
				}
				seen[p] = s.Range
				continue
			}
			for _, sp := range SpecsOf(s) {
				for _, conc := range s.Conc {
					p := point{seq: sc.Name, tp: s.TP, ep: s.EP, pp: s.PP, conc: conc, dpa: s.DPAttn, kv: kv, spec: sp.Method}
					if s.Multi != nil {
						p.shape = *s.Multi
						p.shape.Prefill.Nodes, p.shape.Decode.Nodes = 0, 0
					}
					if prev, dup := seen[p]; dup {
						d.errorf(s.Range, "Duplicate job",
							"Scenario %q already has tp=%d ep=%d pp=%d dp_attn=%t conc=%d%s from the search at %s.", sc.Name, s.TP, s.EP, s.PP, s.DPAttn, conc, specWords(sp), shortRange(prev))
						continue
					}
					seen[p] = s.Range
				}
			}
		}
	}
}

// checkFit resolves runners against the inventory: each entry must select
// something, and each search band must fit (tp x pp GPUs) on at least one
// selected machine.
func (d *decoder) checkFit(sw *Sweep, inv *Inventory) {
	machines := inv.Machines()
	names := inv.runnerNames()
	for _, c := range sw.Configs {
		var matched []Machine
		unknown := false
		for _, r := range c.Runner {
			found := false
			for _, m := range machines {
				if m.Matches(r) {
					found = true
					if !containsMachine(matched, m.Name) {
						matched = append(matched, m)
					}
				}
			}
			if !found {
				unknown = true
				d.errorf(c.runnerRange, "Unknown runner",
					"Runner %q of config %q matches no node, cluster, GPU type or node label with GPUs in %s.%s", r, c.Key, invName(inv), didYouMean(r, names))
			}
		}
		if unknown && len(matched) == 0 {
			continue
		}
		most, where := 0, []string{}
		for _, m := range matched {
			if m.GPUs > most {
				most = m.GPUs
			}
			where = append(where, fmt.Sprintf("%s (%d)", m.Name, m.GPUs))
		}
		for _, sc := range c.Scenarios {
			for _, s := range sc.Search {
				if s.Multi != nil {
					if f := FitMultiNode(*s.Multi, matched); !f.Fits() {
						d.errorf(s.tpRange, "Config fits no machine",
							"Config %q, scenario %q: the multi-node shape (%d GPUs) fits no cluster and no group of nodes its runner selects: %s.", c.Key, sc.Name, s.Multi.GPUs(), f.Why)
					}
					continue
				}
				need := s.TP * s.PP
				if need > most {
					d.errorf(s.tpRange, "Config fits no machine",
						"Config %q, scenario %q needs tp × pp = %d GPUs, but the machines its runner selects have at most %d: %s.",
						c.Key, sc.Name, need, most, strings.Join(where, ", "))
				}
			}
		}
	}
}

func containsMachine(ms []Machine, name string) bool {
	for _, m := range ms {
		if m.Name == name {
			return true
		}
	}
	return false
}

func invName(inv *Inventory) string {
	if inv.Path == "" {
		return "the built-in inventory (only node \"local\")"
	}
	return "the inventory " + inv.Path
}
