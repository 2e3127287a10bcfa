package plan

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/fleetbench/fleet/internal/inferencex/matrix"
	"github.com/fleetbench/fleet/internal/topology"
	"github.com/hashicorp/hcl/v2"
)

// FromInferenceX turns rows of InferenceX's matrix generator into jobs,
// in the generator's order. Each job keeps its row (Job.InferenceX); the
// fleet fields are derived from it so that filters, placement, the job
// table and the store see an InferenceX job like any other. Client gives
// the prompt and warmup counts InferenceX's scripts use (10 and 2 per
// unit of concurrency, range ratio 0.8).
func FromInferenceX(rows []*inferencex.Job, client config.Client) []*Job {
	jobs := make([]*Job, 0, len(rows))
	seen := map[string]int{}
	for _, r := range rows {
		conc := r.FirstConc()
		j := &Job{
			Config:      r.Key,
			Model:       r.Model,
			ModelPrefix: r.ModelPrefix,
			Image:       r.Image,
			Precision:   r.Precision,
			Framework:   r.Framework,
			Runner:      []string{r.Runner},
			Seq:         ixSeq(r),
			ISL:         r.ISL,
			OSL:         r.OSL,
			MaxModelLen: r.MaxModelLen,
			TP:          r.TP,
			EP:          r.EP,
			PP:          max(r.PP, 1),
			DPAttn:      r.DPAttn,
			Conc:        conc,
			Spec:        r.SpecDecoding,
			RangeRatio:  client.RangeRatio,
			NumPrompts:  client.PromptsPerConc * conc,
			NumWarmups:  client.WarmupsPerConc * conc,
			Percentiles: slices.Clone(client.Percentiles),
			InferenceX:  r,
		}
		if r.Agentic() && !r.MultiNode {
			// A trace replay: no prompt counts (its duration bounds it).
			j.Agentic = ixAgenticSpec(r)
			j.NumPrompts, j.NumWarmups = 0, 0
		}
		if r.MultiNode {
			// The fleet view of a multi-node job: its decode role's
			// parallelism (the one interactivity depends on).
			if r.Decode != nil {
				j.TP, j.EP, j.DPAttn = r.Decode.TP, r.Decode.EP, r.Decode.DPAttn
			}
			j.PP = 1
			if ixMultiWhy(r) == "" {
				// A row fleet runs: its shape, its whole list, and the
				// launcher that serves its framework.
				j.Multi = ixShape(r)
				j.ConcList = slices.Clone(r.Conc)
				j.Framework = ixMultiFrameworks[r.Framework]
			}
		}
		id := ixJobID(r, j.Seq)
		seen[id]++
		if n := seen[id]; n > 1 {
			// The generator may repeat a row (one per runner name with
			// a node filter): ids stay unique and stable in row order.
			id = fmt.Sprintf("%s_%d", id, n)
		}
		j.ID = id
		jobs = append(jobs, j)
	}
	return jobs
}

// ixSeq names an InferenceX row's scenario the way fleet names its own:
// 8k1k for 8192/1024 (k = 1024), <isl>-<osl> for other lengths, agentic
// for trace replay.
func ixSeq(r *inferencex.Job) string {
	if r.Agentic() {
		return "agentic"
	}
	if r.ISL > 0 && r.OSL > 0 && r.ISL%1024 == 0 && r.OSL%1024 == 0 {
		return fmt.Sprintf("%dk%dk", r.ISL/1024, r.OSL/1024)
	}
	return fmt.Sprintf("%d-%d", r.ISL, r.OSL)
}

var unsafeIDPart = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// ixJobID is `<config>_<seq>_<point>_conc<C>[_eval]`, where the point
// holds every field that tells two rows of one config apart: tp, ep, pp,
// dcp and pcp (the last three only when not 1), dp-attn, speculative
// decoding (when not none), KV offloading for agentic rows, and each
// role's workers for multi-node rows (p<workers>xtp<tp>-...); a multi-node row's concurrency list
// is joined by x, as InferenceX names its results.
func ixJobID(r *inferencex.Job, seq string) string {
	var p strings.Builder
	// point writes one parallel layout: pp, dcp and pcp only when not 1.
	point := func(head string, tp, ep, pp, dcp, pcp int, dpa bool) {
		fmt.Fprintf(&p, "%stp%d-ep%d", head, tp, ep)
		for _, s := range []struct {
			name string
			v    int
		}{{"pp", pp}, {"dcp", dcp}, {"pcp", pcp}} {
			if s.v > 1 {
				fmt.Fprintf(&p, "-%s%d", s.name, s.v)
			}
		}
		fmt.Fprintf(&p, "-dpa%t", dpa)
	}
	if r.MultiNode {
		for i, role := range []struct {
			name string
			w    *inferencex.Worker
		}{{"p", r.Prefill}, {"d", r.Decode}} {
			if i > 0 {
				p.WriteString("-")
			}
			if w := role.w; w != nil {
				point(fmt.Sprintf("%s%dx", role.name, w.NumWorker), w.TP, w.EP, w.PP, w.DCPSize, w.PCPSize, w.DPAttn)
			}
		}
	} else {
		point("", r.TP, r.EP, r.PP, r.DCPSize, r.PCPSize, r.DPAttn)
	}
	if r.SpecDecoding != "" && r.SpecDecoding != "none" {
		p.WriteString("-spec-" + r.SpecDecoding)
	}
	if r.Agentic() {
		kv := "kv" + r.KVOffloading
		if r.KVOffloadBackend != nil {
			kv += "-" + r.KVOffloadBackend.Name
		}
		p.WriteString("-" + kv)
	}
	concs := make([]string, len(r.Conc))
	for i, c := range r.Conc {
		concs[i] = strconv.Itoa(c)
	}
	id := fmt.Sprintf("%s_%s_%s_conc%s", r.Key, seq, unsafeIDPart.ReplaceAllString(p.String(), "-"), strings.Join(concs, "x"))
	if r.EvalOnly != nil && *r.EvalOnly {
		id += "_eval"
	}
	return id
}

// IXRunnable says whether fleet can run an InferenceX job today, and why
// not: multi-node agentic rows wait for a multi-node trace replay (their
// client runs inside InferenceX's srt-slurm recipes), and multi-node
// rows need a framework fleet launches multi-node and no context
// parallelism (ixMultiWhy). Single-node agentic rows run (Job.Agentic).
func IXRunnable(j *Job) (bool, string) {
	r := j.InferenceX
	switch {
	case r == nil:
		return true, ""
	case r.Agentic() && r.MultiNode:
		return false, "multi-node agentic trace-replay row: fleet replays traces against single-node jobs only"
	case r.MultiNode:
		if why := ixMultiWhy(r); why != "" {
			return false, why
		}
	}
	return true, ""
}

// ixMultiFrameworks maps InferenceX's multi-node frameworks to the
// launchers fleet starts their roles with: Dynamo's keep their names,
// the AMD recipes' PD serving is plain SGLang and vLLM.
var ixMultiFrameworks = map[string]string{
	"dynamo-trt":    "dynamo-trt",
	"dynamo-sglang": "dynamo-sglang",
	"dynamo-vllm":   "dynamo-vllm",
	"sglang-disagg": "sglang",
	"vllm-disagg":   "vllm",
}

// ixMultiWhy says why fleet cannot run a multi-node fixed-seq-len row
// ("" when it can).
func ixMultiWhy(r *inferencex.Job) string {
	if _, ok := ixMultiFrameworks[r.Framework]; !ok {
		known := slices.Sorted(maps.Keys(ixMultiFrameworks))
		return fmt.Sprintf("multi-node framework %s: fleet launches multi-node roles of %s only", r.Framework, strings.Join(known, ", "))
	}
	for _, w := range []struct {
		role string
		w    *inferencex.Worker
	}{{"prefill", r.Prefill}, {"decode", r.Decode}} {
		if w.w != nil && w.w.NumWorker > 0 && w.w.PCPSize > 1 {
			return fmt.Sprintf("%s pcp-size %d: context-parallel ranks multiply a worker's GPUs, and fleet's multi-node launchers have no context parallelism yet", w.role, w.w.PCPSize)
		}
	}
	if err := ixShape(r).Validate(); err != nil {
		return "multi-node shape: " + strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return ""
}

// ixShape is a multi-node row's shape: each role's workers and
// parallelism (decode num-worker 0: aggregated), the row's KV transfer
// engine when it is disaggregated, and Dynamo's discovery process for
// Dynamo frameworks. The router's policy is the launcher's default.
func ixShape(r *inferencex.Job) *topology.Shape {
	pool := func(w *inferencex.Worker) topology.Pool {
		if w == nil || w.NumWorker == 0 {
			return topology.Pool{}
		}
		return topology.Pool{Workers: w.NumWorker, TP: w.TP, EP: w.EP, PP: max(w.PP, 1), DPAttn: w.DPAttn}
	}
	s := &topology.Shape{Prefill: pool(r.Prefill), Decode: pool(r.Decode), Infra: NeedsInfra(r.Framework)}
	if s.Disaggregated() {
		s.KVTransfer = r.KVP2PTransfer
	}
	return s
}

// ixRunnerSelects maps an InferenceX runner label to inventory machines:
// machines carrying the label itself (or its name, for a label without
// its cluster: prefix) first; when none does, machines of the label's GPU
// type, the label up to its first '-' (h200-nb -> h200, cluster:b300-nv
// -> b300).
func ixRunnerSelects(label string, machines []config.Machine) func(config.Machine) bool {
	bare := strings.TrimPrefix(label, "cluster:")
	for _, m := range machines {
		if m.Matches(label) || m.Matches(bare) {
			return func(m config.Machine) bool { return m.Matches(label) || m.Matches(bare) }
		}
	}
	gpu, _, _ := strings.Cut(bare, "-")
	return func(m config.Machine) bool { return strings.EqualFold(m.GPU, gpu) }
}

// ExpandSweep makes every job of a sweep: its own configs' (Expand), then
// those of its InferenceX checkout, expanded by InferenceX's generator
// rules with the source's selections. Diagnostics about the checkout's
// files point at file:line.
func ExpandSweep(sw *config.Sweep, maxJobs int) ([]*Job, hcl.Diagnostics) {
	jobs := Expand(sw)
	src := sw.InferenceX
	if src == nil {
		return jobs, nil
	}
	rows, diags := ixRows(sw, src)
	if diags.HasErrors() {
		return nil, diags
	}
	if maxJobs <= 0 {
		maxJobs = config.DefaultMaxJobs
	}
	if n := len(jobs) + len(rows); n > maxJobs {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Too many jobs",
			Detail:  fmt.Sprintf("The InferenceX checkout %s makes %d jobs (with the sweep's own, %d), more than the limit of %d: select fewer (--config-key, --single-node, --only) or raise --max-jobs.", src.Dir, len(rows), n, maxJobs),
			Subject: src.Range.Ptr()})
	}
	return append(jobs, FromInferenceX(rows, sw.Client)...), diags
}

// IXDir resolves the checkout's directory: ~ is the home directory, and a
// relative path is relative to the sweep file that names it.
func IXDir(sw *config.Sweep, src *config.InferenceXSource) string {
	dir := config.ExpandHome(src.Dir)
	if !filepath.IsAbs(dir) && sw.Path != "" {
		dir = filepath.Join(filepath.Dir(sw.Path), dir)
	}
	return dir
}

// ixRows reads the checkout and runs the generator's expansion with the
// source's selections: a full sweep, or with config keys the generator's
// test-config mode (which knows no single/multi-node switch: that filter
// is applied to its rows).
func ixRows(sw *config.Sweep, src *config.InferenceXSource) ([]*inferencex.Job, hcl.Diagnostics) {
	dir := IXDir(sw, src)
	var args []string
	if len(src.ConfigKeys) > 0 {
		args = append(args, "test-config", "--config-keys")
		args = append(args, src.ConfigKeys...)
	} else {
		args = append(args, "full-sweep")
		switch src.Nodes {
		case "single":
			args = append(args, "--single-node")
		case "multi":
			args = append(args, "--multi-node")
		}
	}
	switch src.Evals {
	case "none":
		args = append(args, "--no-evals")
	case "only":
		args = append(args, "--evals-only")
	case "all":
		args = append(args, "--all-evals")
	}
	sel, err := matrix.ParseArgs(args)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid InferenceX selection", Detail: err.Error(), Subject: src.Range.Ptr()}}
	}
	m, diags := matrix.Load(dir, src.ConfigFiles, src.RunnerConfig)
	if diags.HasErrors() {
		return nil, diags
	}
	rows, err := m.Generate(sel)
	if err != nil {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "InferenceX matrix", Detail: fmt.Sprintf("%s: %v", dir, err), Subject: src.Range.Ptr()})
	}
	if len(src.ConfigKeys) > 0 && src.Nodes != "both" {
		kept := rows[:0]
		for _, r := range rows {
			if r.MultiNode == (src.Nodes == "multi") {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	return rows, diags
}
