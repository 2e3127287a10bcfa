package ixresult

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/inferencex"
)

// ResultFilename is RESULT_FILENAME as InferenceX's workflows build it
// (without .json). Single node:
// <exp>_<prec>_<fw>_tp<TP>-pp<PP>-dcp<DCP>-pcp<PCP>-ep<EP>-dpa<bool>_disagg-<bool>_spec-<mode>_conc<C>_<runner>;
// multi-node (the base the launcher's per-concurrency files extend):
// <exp>_<prec>_<fw>_prefill-tp..-pp..-dcp..-pcp..-ep..-dp<bool>-nw.._decode-(same)_disagg-<bool>_spec-<mode>_conc<C1xC2...>_<runner>.
// Both end in _recipe-<first 16 hex of the fingerprint> when the row has one.
func ResultFilename(j *inferencex.Job, runnerName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s_%s_%s_", j.ExpName, j.Precision, j.Framework)
	if j.MultiNode {
		role := func(name string, w *inferencex.Worker) {
			if w == nil {
				w = &inferencex.Worker{}
			}
			fmt.Fprintf(&b, "%s-tp%d-pp%d-dcp%d-pcp%d-ep%d-dp%t-nw%d_", name, w.TP, w.PP, w.DCPSize, w.PCPSize, w.EP, w.DPAttn, w.NumWorker)
		}
		role("prefill", j.Prefill)
		role("decode", j.Decode)
		concs := make([]string, len(j.Conc))
		for i, c := range j.Conc {
			concs[i] = strconv.Itoa(c)
		}
		fmt.Fprintf(&b, "disagg-%t_spec-%s_conc%s_%s", j.Disagg, j.SpecDecoding, strings.Join(concs, "x"), runnerName)
	} else {
		fmt.Fprintf(&b, "tp%d-pp%d-dcp%d-pcp%d-ep%d-dpa%t_disagg-%t_spec-%s_conc%d_%s",
			j.TP, j.PP, j.DCPSize, j.PCPSize, j.EP, j.DPAttn, j.Disagg, j.SpecDecoding, j.FirstConc(), runnerName)
	}
	if fp := j.RecipeFingerprint; fp != "" {
		b.WriteString("_recipe-" + fp[:min(16, len(fp))])
	}
	return b.String()
}

var (
	gpusPart = regexp.MustCompile(`_gpus_(\d+)`)
	ctxPart  = regexp.MustCompile(`_ctx_(\d+)`)
	genPart  = regexp.MustCompile(`_gen_(\d+)`)
)

// lastNumber is the number of re's last match in s, as the workflow's
// greedy `sed 's/.*_gpus_\([0-9]*\).*/\1/'` takes it.
func lastNumber(re *regexp.Regexp, s string) (int, bool) {
	all := re.FindAllStringSubmatch(s, -1)
	if len(all) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(all[len(all)-1][1])
	return n, err == nil
}

// ParseMultiNodeStem reads the GPU counts from a multi-node client result
// file name (stem, with or without .json), which ends
// _gpus_<G>[_ctx_<P>_gen_<D>]: without ctx and gen every GPU counts as
// prefill (an aggregated deployment) and decode has none. ok is false
// when the name has no _gpus_ count; the workflow skips such a file.
func ParseMultiNodeStem(stem string) (gpus, ctx, gen int, ok bool) {
	stem = strings.TrimSuffix(stem, ".json")
	gpus, ok = lastNumber(gpusPart, stem)
	if !ok {
		return 0, 0, 0, false
	}
	ctx, okc := lastNumber(ctxPart, stem)
	gen, okg := lastNumber(genPart, stem)
	if !okc || !okg {
		return gpus, gpus, 0, true
	}
	return gpus, ctx, gen, true
}

// Name is what a client result file named by one of InferenceX's current
// formulas (ResultFilename, and a multi-node launcher's per-concurrency
// files) says about its job.
type Name struct {
	ExpName     string // <model prefix>_<seq>
	ModelPrefix string
	Seq         string // 1k1k, 8k1k, ...
	Precision   string
	Framework   string
	MultiNode   bool
	// Single node.
	TP, PP, DCP, PCP, EP int
	DPAttn               bool
	// Multi-node roles and this file's GPU counts.
	Prefill, Decode         Role
	PrefillGPUs, DecodeGPUs int
	Disagg                  bool
	Spec                    string
	Conc                    int    // this file's concurrency
	Runner                  string // the runner's name, "" when it cannot be told
	Recipe                  string // first 16 hex digits of the recipe fingerprint, "" when none
}

const roleRE = `-tp(\d+)-pp(\d+)-dcp(\d+)-pcp(\d+)-ep(\d+)-dp(true|false)-nw(\d+)`

var (
	singleName = regexp.MustCompile(`^(.+)_([^_]+)_([^_]+)_tp(\d+)-pp(\d+)-dcp(\d+)-pcp(\d+)-ep(\d+)-dpa(true|false)` +
		`_disagg-(true|false)_spec-([^_]+)_conc(\d+)_(.+?)(?:_recipe-([0-9a-f]{16}))?$`)
	multiName = regexp.MustCompile(`^(.+)_([^_]+)_([^_]+)_prefill` + roleRE + `_decode` + roleRE +
		`_disagg-(true|false)_spec-([^_]+)_conc([0-9x]+)_(.+)$`)
	// A runner's name: its label, then _ and its number (b200-cw_00).
	runnerName = regexp.MustCompile(`^([A-Za-z0-9.:-]+_\d+)(?:_|$)`)
	recipePart = regexp.MustCompile(`_recipe-([0-9a-f]{16})(?:_|$)`)
	fileConc   = regexp.MustCompile(`(?:_conc|concurrency_)(\d+)`)
)

// ParseName reads a result file name (with or without .json) written by
// InferenceX's current single-node formula, with or without _recipe-, or
// a multi-node one: <base>_<subdir>_conc<C>_gpus_<G>[_ctx_<P>_gen_<D>]
// (srt-slurm) or <base>_concurrency_<C>_..._gpus_<G>_ctx_<P>_gen_<D>
// (AMD). The older <exp>_<prec>_<fw>_tp<TP>-ep<EP>-dpa<bool>_conc<C>_<node>
// names are results.ParseResultName's.
func ParseName(stem string) (Name, bool) {
	stem = strings.TrimSuffix(stem, ".json")
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	split := func(n *Name, exp string) {
		n.ExpName = exp
		if i := strings.LastIndexByte(exp, '_'); i > 0 {
			n.ModelPrefix, n.Seq = exp[:i], exp[i+1:]
		} else {
			n.ModelPrefix = exp
		}
	}
	if m := singleName.FindStringSubmatch(stem); m != nil {
		n := Name{Precision: m[2], Framework: m[3], TP: atoi(m[4]), PP: atoi(m[5]), DCP: atoi(m[6]), PCP: atoi(m[7]), EP: atoi(m[8]),
			DPAttn: m[9] == "true", Disagg: m[10] == "true", Spec: m[11], Conc: atoi(m[12]), Runner: m[13], Recipe: m[14]}
		split(&n, m[1])
		return n, n.TP > 0 && n.Conc > 0
	}
	m := multiName.FindStringSubmatch(stem)
	if m == nil {
		return Name{}, false
	}
	role := func(g []string) Role {
		return Role{TP: atoi(g[0]), PP: atoi(g[1]), DCP: atoi(g[2]), PCP: atoi(g[3]), EP: atoi(g[4]), DPAttention: g[5], NumWorkers: atoi(g[6])}
	}
	n := Name{MultiNode: true, Precision: m[2], Framework: m[3], Prefill: role(m[4:11]), Decode: role(m[11:18]),
		Disagg: m[18] == "true", Spec: m[19]}
	split(&n, m[1])
	tail := m[21]
	if r := runnerName.FindStringSubmatch(tail); r != nil {
		n.Runner = r[1]
	}
	if r := recipePart.FindStringSubmatch(tail); r != nil {
		n.Recipe = r[1]
	}
	c := fileConc.FindAllStringSubmatch(tail, -1)
	_, p, d, ok := ParseMultiNodeStem(tail)
	if len(c) == 0 || !ok {
		return Name{}, false // the base name alone, not a client file
	}
	n.Conc, n.PrefillGPUs, n.DecodeGPUs = atoi(c[len(c)-1][1]), p, d
	return n, true
}

// Params is the environment process_result would have had for the file
// named n, as far as its name tells: no image, sequence lengths, role
// hardware or router, and of the recipe fingerprint only the 16 hex
// digits the name keeps.
func (n Name) Params(runnerType string) Params {
	p := Params{RunnerType: runnerType, Framework: n.Framework, Precision: n.Precision, SpecDecoding: n.Spec, Disagg: n.Disagg,
		ModelPrefix: n.ModelPrefix, IsMultinode: n.MultiNode, RecipeFingerprint: n.Recipe}
	if n.MultiNode {
		p.Prefill, p.Decode, p.PrefillGPUs, p.DecodeGPUs = n.Prefill, n.Decode, n.PrefillGPUs, n.DecodeGPUs
		return p
	}
	p.TP, p.PP, p.DCP, p.PCP, p.EP, p.DPAttention = n.TP, n.PP, n.DCP, n.PCP, n.EP, strconv.FormatBool(n.DPAttn)
	return p
}
