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
