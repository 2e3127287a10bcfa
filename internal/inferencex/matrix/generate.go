package matrix

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/hashicorp/hcl/v2"
)

// The generator's constants.
const (
	minEvalConc     = 16   // evals ignore lower concurrencies
	agenticDuration = 3600 // seconds of an agentic trace replay
	// maxDramMiB caps a node's CPU DRAM (3 TB decimal, in MiB) before
	// the utilization is applied.
	maxDramMiB = 2861022
)

// Generate expands the matrix as InferenceX's generator does for sel:
// the same rows, in the same order, with the same keys (see
// inferencex.Job's MarshalJSON).
func (m *Matrix) Generate(sel Selection) ([]*inferencex.Job, error) {
	if err := sel.Check(); err != nil {
		return nil, err
	}
	g := &gen{m: m, sel: sel}
	var err error
	if sel.Mode == TestConfig {
		err = g.testConfig()
	} else {
		err = g.fullSweep()
	}
	if err != nil {
		return nil, err
	}
	rows := g.rows
	if !sel.NoEvals {
		markEvals(rows, sel.EvalsOnly || sel.AllEvals)
		if sel.AllEvals {
			rows = markAllEvals(rows)
		}
	}
	if sel.EvalsOnly || sel.AllEvals {
		kept := rows[:0]
		for _, j := range rows {
			if j.RunEval != nil && *j.RunEval {
				j.EvalOnly = ptr(true)
				kept = append(kept, j)
			}
		}
		rows = kept
	}
	return rows, nil
}

type gen struct {
	m    *Matrix
	sel  Selection
	rows []*inferencex.Job
}

func (g *gen) add(j *inferencex.Job) error {
	if len(g.rows) >= MaxJobs {
		return fmt.Errorf("the selection makes more than %d jobs; narrow it (config keys, --max-conc, --seq-lens, ...)", MaxJobs)
	}
	g.rows = append(g.rows, j)
	return nil
}

func (g *gen) wants(scenario string) bool {
	return len(g.sel.ScenarioTypes) == 0 || contains(g.sel.ScenarioTypes, scenario)
}

func (g *gen) wantsSeqLen(isl, osl int) bool {
	if len(g.sel.SeqLens) == 0 {
		return true
	}
	for _, sl := range g.sel.SeqLens {
		if p := seqLens[sl]; p[0] == isl && p[1] == osl {
			return true
		}
	}
	return false
}

func (g *gen) fullSweep() error {
	sel := g.sel
	step := sel.StepSize
	if step == 0 {
		step = 2
	}
	single, multi := sel.SingleNode, sel.MultiNode
	if !single && !multi {
		single, multi = true, true
	}
	var invalid []string
	for _, rt := range sel.RunnerType {
		if _, ok := g.m.Runners.Labels[rt]; !ok {
			invalid = append(invalid, rt)
		}
	}
	if len(invalid) > 0 {
		return fmt.Errorf("invalid runner type(s) %s; valid runner types are: %s", strings.Join(invalid, ", "), strings.Join(sortedKeys(g.m.Runners.Labels), ", "))
	}
	for _, c := range g.m.Configs {
		if len(sel.ModelPrefix) > 0 && !hasAnyPrefix(c.Key, sel.ModelPrefix) {
			continue
		}
		if len(sel.Precision) > 0 && !contains(sel.Precision, c.Precision) ||
			len(sel.Framework) > 0 && !contains(sel.Framework, c.Framework) ||
			len(sel.RunnerType) > 0 && !contains(sel.RunnerType, c.Runner) {
			continue
		}
		runners := []string{c.Runner}
		if sel.RunnerNodeFilter != "" {
			var nodes []string
			for _, n := range g.m.Runners.Labels[c.Runner] {
				if strings.Contains(n, sel.RunnerNodeFilter) {
					nodes = append(nodes, n)
				}
			}
			if len(nodes) == 0 {
				continue
			}
			runners = nodes
		}
		if g.wants(inferencex.FixedSeqLen) {
			for _, s := range c.Fixed {
				if !g.wantsSeqLen(s.ISL, s.OSL) {
					continue
				}
				for _, e := range s.Search {
					if c.MultiNode && !multi || !c.MultiNode && !single {
						continue
					}
					if err := g.fullFixed(c, s, e, step, runners); err != nil {
						return err
					}
				}
			}
		}
		if !g.wants(inferencex.AgenticCoding) || c.MultiNode && !multi || !c.MultiNode && !single {
			continue
		}
		for _, a := range c.Agentic {
			for _, e := range a.Search {
				dram, err := g.m.dramGB(c, a, e)
				if err != nil {
					return err
				}
				conc := concValues(e, step)
				if sel.MinConc != nil {
					conc = filter(conc, func(v int) bool { return v >= *sel.MinConc })
				}
				if sel.MaxConc != nil {
					conc = filter(conc, func(v int) bool { return v <= *sel.MaxConc })
				}
				if len(conc) == 0 {
					continue
				}
				if err := g.agentic(c, e, conc, dram, runners); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// fullFixed expands one fixed-seq-len entry with full-sweep's filters.
func (g *gen) fullFixed(c *Config, s *SeqLen, e *Entry, step int, runners []string) error {
	sel := g.sel
	if c.MultiNode {
		conc, ok := clipList(concValues(e, step), sel)
		if !ok {
			return nil
		}
		for _, r := range runners {
			if err := g.add(multiRow(c, s, e, conc, r)); err != nil {
				return err
			}
		}
		return nil
	}
	if sel.MaxTP != nil && (*sel.MaxTP <= 0 || e.TP > *sel.MaxTP) {
		return nil
	}
	ep := 1
	if e.EP != nil {
		ep = *e.EP
	}
	if sel.MaxEP != nil {
		if *sel.MaxEP <= 0 {
			return nil
		}
		if e.EP != nil && ep > *sel.MaxEP {
			ep = *sel.MaxEP
		}
	}
	var conc []int
	if len(e.ConcList) > 0 {
		var ok bool
		if conc, ok = clipList(append([]int(nil), e.ConcList...), sel); !ok {
			return nil
		}
	} else {
		start, end := e.ConcStart, e.ConcEnd
		if sel.MinConc != nil {
			if *sel.MinConc <= 0 || end < *sel.MinConc {
				return nil
			}
			start = max(start, *sel.MinConc)
		}
		if sel.MaxConc != nil {
			if *sel.MaxConc <= 0 {
				return nil
			}
			if start > *sel.MaxConc {
				start, end = *sel.MaxConc, *sel.MaxConc
			} else {
				end = min(end, *sel.MaxConc)
			}
		}
		conc = expand(start, end, step)
	}
	for _, v := range conc {
		for _, r := range runners {
			if err := g.add(singleRow(c, s, e, ep, v, r)); err != nil {
				return err
			}
		}
	}
	return nil
}

// clipList applies full-sweep's concurrency bounds to a list of values (a
// conc-list, or a multi-node entry's values): values below min-conc go,
// and so do those above max-conc, but when none is left at or below it
// the single value max-conc stands in. ok is false when nothing remains
// (or a bound is not positive), and the entry makes no job.
func clipList(conc []int, sel Selection) (_ []int, ok bool) {
	if sel.MinConc != nil {
		if *sel.MinConc <= 0 {
			return nil, false
		}
		if conc = filter(conc, func(v int) bool { return v >= *sel.MinConc }); len(conc) == 0 {
			return nil, false
		}
	}
	if sel.MaxConc != nil {
		if *sel.MaxConc <= 0 {
			return nil, false
		}
		if conc = filter(conc, func(v int) bool { return v <= *sel.MaxConc }); len(conc) == 0 {
			conc = []int{*sel.MaxConc}
		}
	}
	return conc, true
}

func (g *gen) testConfig() error {
	keys, err := expandKeys(g.sel.ConfigKeys, g.m.Configs)
	if err != nil {
		return err
	}
	keep := func(conc []int) []int {
		if len(g.sel.Conc) == 0 {
			return conc
		}
		return filter(conc, func(v int) bool { return containsInt(g.sel.Conc, v) })
	}
	for _, key := range keys {
		c := g.m.Config(key)
		runners := g.runnersFor(c.Runner)
		if len(runners) == 0 {
			continue
		}
		if g.wants(inferencex.FixedSeqLen) {
			for _, s := range c.Fixed {
				if !g.wantsSeqLen(s.ISL, s.OSL) {
					continue
				}
				for _, e := range s.Search {
					conc := keep(concValues(e, 2))
					if len(conc) == 0 {
						continue
					}
					if c.MultiNode {
						for _, r := range runners {
							if err := g.add(multiRow(c, s, e, conc, r)); err != nil {
								return err
							}
						}
						continue
					}
					ep := 1
					if e.EP != nil {
						ep = *e.EP
					}
					for _, v := range conc {
						for _, r := range runners {
							if err := g.add(singleRow(c, s, e, ep, v, r)); err != nil {
								return err
							}
						}
					}
				}
			}
		}
		if !g.wants(inferencex.AgenticCoding) {
			continue
		}
		for _, a := range c.Agentic {
			for _, e := range a.Search {
				dram, err := g.m.dramGB(c, a, e)
				if err != nil {
					return err
				}
				conc := keep(concValues(e, 2))
				if len(conc) == 0 {
					continue
				}
				if err := g.agentic(c, e, conc, dram, runners); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// runnersFor is test-config's runner choice under --runner-node-filter:
// the label itself (when it contains the filter) and its runner names
// that contain it.
func (g *gen) runnersFor(label string) []string {
	f := g.sel.RunnerNodeFilter
	if f == "" {
		return []string{label}
	}
	candidates := g.m.Runners.Labels[label]
	if strings.Contains(label, f) {
		candidates = append([]string{label}, candidates...)
	}
	var out []string
	for _, n := range candidates {
		if strings.Contains(n, f) && !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// agentic adds one agentic entry's rows: one per concurrency (and
// runner).
func (g *gen) agentic(c *Config, e *Entry, conc []int, dram int, runners []string) error {
	router, transfer := components(c, e)
	if c.MultiNode {
		kv := e.KVOffloading
		if kv == "" {
			kv = "none"
		}
		suffix := ""
		if kv != "none" {
			suffix = "_" + kvSuffix(kv, e.KVOffloadBackend)
		}
		for _, r := range runners {
			for _, v := range conc {
				j := base(c, r)
				j.MultiNode = true
				j.SpecDecoding = e.SpecDecoding
				j.Prefill, j.Decode = copyWorker(e.Prefill), copyWorker(e.Decode)
				j.Conc = []int{v}
				j.KVOffloading = kv
				j.TotalCPUDramGB = dram
				j.Duration = agenticDuration
				j.ExpName = fmt.Sprintf("%s_%s_%s_conc%d%s", c.ModelPrefix, workerTag(e.Prefill, "p"), workerTag(e.Decode, "d"), v, suffix)
				j.Disagg = c.Disagg
				j.ScenarioType = inferencex.AgenticCoding
				j.KVOffloadBackend = copyComponent(e.KVOffloadBackend)
				j.Router, j.KVP2PTransfer = router, transfer
				if err := g.add(j); err != nil {
					return err
				}
			}
		}
		return nil
	}
	ep := 1
	if e.EP != nil {
		ep = *e.EP
	}
	for _, v := range conc {
		for _, r := range runners {
			j := base(c, r)
			j.TP, j.PP, j.DCPSize, j.PCPSize = e.TP, e.PP, e.DCPSize, e.PCPSize
			j.EP = ep
			j.DPAttn = e.DPAttn != nil && *e.DPAttn
			j.SpecDecoding = e.SpecDecoding
			j.Conc = []int{v}
			j.KVOffloading = e.KVOffloading
			j.TotalCPUDramGB = dram
			j.Duration = agenticDuration
			j.ExpName = fmt.Sprintf("%s_tp%d_conc%d_%s", c.ModelPrefix, e.TP, v, kvSuffix(e.KVOffloading, e.KVOffloadBackend))
			if e.SpecDecoding != "none" {
				j.ExpName += "_spec-" + e.SpecDecoding
			}
			j.ScenarioType = inferencex.AgenticCoding
			j.KVOffloadBackend = copyComponent(e.KVOffloadBackend)
			j.Router = router
			if err := g.add(j); err != nil {
				return err
			}
		}
	}
	return nil
}

func base(c *Config, runner string) *inferencex.Job {
	return &inferencex.Job{Key: c.Key, MultiNode: c.MultiNode, Image: c.Image, Model: c.Model, ModelPrefix: c.ModelPrefix,
		Precision: c.Precision, Framework: c.Framework, Runner: runner}
}

func singleRow(c *Config, s *SeqLen, e *Entry, ep, conc int, runner string) *inferencex.Job {
	j := base(c, runner)
	j.ISL, j.OSL = s.ISL, s.OSL
	j.TP, j.PP, j.DCPSize, j.PCPSize = e.TP, e.PP, e.DCPSize, e.PCPSize
	j.Conc = []int{conc}
	j.MaxModelLen = s.ISL + s.OSL + 256
	j.EP = ep
	j.DPAttn = e.DPAttn != nil && *e.DPAttn
	j.SpecDecoding = e.SpecDecoding
	j.ExpName = c.ModelPrefix + "_" + seqLenName(s.ISL, s.OSL)
	j.Disagg = c.Disagg
	j.RunEval = ptr(false)
	j.Router, j.KVP2PTransfer = components(c, e)
	return j
}

func multiRow(c *Config, s *SeqLen, e *Entry, conc []int, runner string) *inferencex.Job {
	j := base(c, runner)
	j.ISL, j.OSL = s.ISL, s.OSL
	j.SpecDecoding = e.SpecDecoding
	j.Prefill, j.Decode = copyWorker(e.Prefill), copyWorker(e.Decode)
	j.Conc = append([]int(nil), conc...)
	j.MaxModelLen = s.ISL + s.OSL + 256
	j.ExpName = c.ModelPrefix + "_" + seqLenName(s.ISL, s.OSL)
	j.Disagg = c.Disagg
	j.RunEval = ptr(false)
	j.Router, j.KVP2PTransfer = components(c, e)
	return j
}

// components resolves router and kv-p2p-transfer: the entry's, else the
// config's.
func components(c *Config, e *Entry) (*inferencex.Component, string) {
	router := e.Router
	if router == nil {
		router = c.Router
	}
	transfer := e.KVP2PTransfer
	if transfer == "" {
		transfer = c.KVP2PTransfer
	}
	return copyComponent(router), transfer
}

// seqLenName is the exp-name part of a sequence-length pair: 1k1k, 8k1k,
// else isl_osl.
func seqLenName(isl, osl int) string {
	for name, p := range seqLens {
		if p[0] == isl && p[1] == osl {
			return name
		}
	}
	return fmt.Sprintf("%d_%d", isl, osl)
}

func kvSuffix(kv string, backend *inferencex.Component) string {
	if kv == "none" || backend == nil {
		return "kvnone"
	}
	return "kv" + kv + "-" + backend.Name
}

func workerTag(w *inferencex.Worker, role string) string {
	tag := fmt.Sprintf("%s%dx%d", role, w.NumWorker, w.TP)
	if w.EP != 1 {
		tag += fmt.Sprintf("ep%d", w.EP)
	}
	if w.DPAttn {
		tag += "dpa"
	}
	return tag
}

// concValues is an entry's concurrency list, or its range multiplied by
// step from start, the last step clamped to the end.
func concValues(e *Entry, step int) []int {
	if len(e.ConcList) > 0 {
		return append([]int(nil), e.ConcList...)
	}
	return expand(e.ConcStart, e.ConcEnd, step)
}

func expand(start, end, step int) []int {
	var out []int
	for c := start; c <= end; {
		out = append(out, c)
		if c == end {
			break
		}
		if c > end/step {
			c = end
		} else {
			c *= step
		}
	}
	return out
}

// dramGB is an agentic entry's total-cpu-dram-gb: 0 without DRAM
// offload, else the node's (capped) CPU DRAM scaled by dram-utilization
// and by the share of the node's GPUs one server uses, in decimal GB,
// rounded down. InferenceX computes it in decimal arithmetic from the
// utilization's shortest text, so this uses exact rationals.
func (m *Matrix) dramGB(c *Config, a *AgenticScenario, e *Entry) (int, error) {
	if e.KVOffloading != "dram" {
		return 0, nil
	}
	hw, ok := m.Runners.Hardware[c.Runner]
	if !ok {
		return 0, fmt.Errorf("%s: config %q: runner %q needs available-cpu-dram-mib and gpus-per-node under hardware: in %s for its DRAM offload (hardware lists: %s)",
			at(e.Range), c.Key, c.Runner, m.Runners.File, strings.Join(sortedKeys(m.Runners.Hardware), ", "))
	}
	gpn := hw.GPUsPerNode
	var gpus int
	if e.Prefill != nil {
		w := e.Prefill
		per := w.TP * w.PP * w.PCPSize
		switch {
		case per > gpn && per%gpn != 0:
			return 0, fmt.Errorf("%s: config %q: prefill tp*pp*pcp-size=%d spans several nodes but is not a multiple of gpus-per-node=%d", at(e.Range), c.Key, per, gpn)
		case per > gpn:
			gpus = gpn
		case per <= 0 || gpn%per != 0:
			return 0, fmt.Errorf("%s: config %q: prefill tp*pp*pcp-size=%d does not divide gpus-per-node=%d evenly", at(e.Range), c.Key, per, gpn)
		default:
			gpus = per
		}
	} else {
		gpus = e.TP * e.PP * e.PCPSize
		if gpus > gpn {
			return 0, fmt.Errorf("%s: config %q: tp=%d with pp=%d and pcp-size=%d needs %d GPUs, more than gpus-per-node=%d of runner %q",
				at(e.Range), c.Key, e.TP, e.PP, e.PCPSize, gpus, gpn, c.Runner)
		}
	}
	util, ok := new(big.Rat).SetString(strconv.FormatFloat(a.DramUtilization, 'g', -1, 64))
	if !ok {
		return 0, fmt.Errorf("%s: config %q: dram-utilization %v is not a number", at(e.Range), c.Key, a.DramUtilization)
	}
	v := new(big.Rat).SetInt64(int64(min(hw.AvailableCPUDramMiB, maxDramMiB)) << 20)
	v.Mul(v, util)
	v.Mul(v, big.NewRat(int64(gpus), int64(gpn)*1_000_000_000))
	q := new(big.Int).Quo(v.Num(), v.Denom())
	return int(q.Int64()), nil
}

func at(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// markEvals is the generator's default eval choice. Single-node 8k1k
// rows: per (model, runner, framework, precision, isl, osl,
// spec-decoding, dp-attn), among concurrencies of at least 16, every row
// at the highest and at the median one. Multi-node 8k1k rows: per
// topology, the row holding the highest eligible concurrency, which
// becomes its eval-conc. With agentic, also agentic rows: single-node the
// highest concurrency per (model, runner, framework, precision),
// multi-node as fixed multi-node. Every row gets run-eval.
func markEvals(rows []*inferencex.Job, agentic bool) {
	marked := map[int]bool{}
	evalConc := map[int]int{}
	type snKey struct {
		model, runner, framework, precision, spec string
		isl, osl                                  int
		dpa                                       bool
	}
	type pick struct{ i, conc int }
	var snOrder []snKey
	sn := map[snKey][]int{}
	var mnOrder, agOrder []string
	mn, agMN := map[string][]pick{}, map[string][]pick{}
	type agKey struct{ model, runner, framework, precision string }
	var agSNOrder []agKey
	agSN := map[agKey][]pick{}
	for i, j := range rows {
		is8k1k := j.ISL == 8192 && j.OSL == 1024
		eligible := eligibleConcs(j.Conc)
		switch {
		case !j.MultiNode && !j.Agentic() && is8k1k && len(eligible) > 0:
			k := snKey{j.Model, j.Runner, j.Framework, j.Precision, j.SpecDecoding, j.ISL, j.OSL, j.DPAttn}
			if _, ok := sn[k]; !ok {
				snOrder = append(snOrder, k)
			}
			sn[k] = append(sn[k], i)
		case j.MultiNode && !j.Agentic() && is8k1k && len(eligible) > 0:
			k := parallelismKey(j)
			if _, ok := mn[k]; !ok {
				mnOrder = append(mnOrder, k)
			}
			mn[k] = append(mn[k], pick{i, eligible[len(eligible)-1]})
		case agentic && j.Agentic() && j.MultiNode && len(eligible) > 0:
			k := parallelismKey(j)
			if _, ok := agMN[k]; !ok {
				agOrder = append(agOrder, k)
			}
			agMN[k] = append(agMN[k], pick{i, eligible[len(eligible)-1]})
		case agentic && j.Agentic() && !j.MultiNode:
			k := agKey{j.Model, j.Runner, j.Framework, j.Precision}
			if _, ok := agSN[k]; !ok {
				agSNOrder = append(agSNOrder, k)
			}
			agSN[k] = append(agSN[k], pick{i, maxInt(j.Conc)})
		}
	}
	for _, k := range snOrder {
		var concs []int
		for _, i := range sn[k] {
			concs = append(concs, rows[i].FirstConc())
		}
		concs = sortedUnique(concs)
		top, median := concs[len(concs)-1], concs[len(concs)/2]
		for _, i := range sn[k] {
			if c := rows[i].FirstConc(); c == top || c == median {
				marked[i] = true
			}
		}
	}
	best := func(ps []pick) pick {
		b := ps[0]
		for _, p := range ps[1:] {
			if p.conc > b.conc {
				b = p
			}
		}
		return b
	}
	for _, k := range mnOrder {
		b := best(mn[k])
		marked[b.i], evalConc[b.i] = true, b.conc
	}
	for _, k := range agSNOrder {
		marked[best(agSN[k]).i] = true
	}
	for _, k := range agOrder {
		b := best(agMN[k])
		marked[b.i], evalConc[b.i] = true, b.conc
	}
	for i, j := range rows {
		j.RunEval = ptr(marked[i])
		if c, ok := evalConc[i]; ok {
			j.EvalConc = ptr(c)
		}
	}
}

// markAllEvals is --all-evals: every 8k1k single-node row and every
// single-node agentic row is an eval; multi-node 8k1k rows of one
// topology merge into one row running all their concurrencies
// (eval-all-concs); multi-node agentic rows of one topology merge too,
// evaluated at the highest (eval-conc). Other rows pass unchanged.
func markAllEvals(rows []*inferencex.Job) []*inferencex.Job {
	var out []*inferencex.Job
	fixedAt, agenticAt := map[string]int{}, map[string]int{}
	for _, j := range rows {
		switch {
		case j.Agentic() && !j.MultiNode:
			j.RunEval = ptr(true)
			out = append(out, j)
		case j.Agentic():
			k := parallelismKey(j)
			if i, ok := agenticAt[k]; ok {
				out[i].Conc = sortedUnique(append(out[i].Conc, j.Conc...))
				out[i].EvalConc = ptr(maxInt(out[i].Conc))
				continue
			}
			cp := *j
			cp.Conc = sortedUnique(append([]int(nil), j.Conc...))
			cp.RunEval = ptr(true)
			cp.EvalConc = ptr(maxInt(j.Conc))
			agenticAt[k] = len(out)
			out = append(out, &cp)
		case j.ISL != 8192 || j.OSL != 1024:
			out = append(out, j)
		case j.MultiNode:
			k := parallelismKey(j)
			if i, ok := fixedAt[k]; ok {
				out[i].Conc = sortedUnique(append(out[i].Conc, j.Conc...))
				continue
			}
			cp := *j
			cp.Conc = sortedUnique(append([]int(nil), j.Conc...))
			cp.RunEval = ptr(true)
			cp.EvalAllConcs = ptr(true)
			cp.EvalConc = nil
			fixedAt[k] = len(out)
			out = append(out, &cp)
		default:
			j.RunEval = ptr(true)
			out = append(out, j)
		}
	}
	return out
}

// parallelismKey identifies a multi-node row apart from its
// concurrency, exp-name and eval fields.
func parallelismKey(j *inferencex.Job) string {
	cp := *j
	cp.Conc, cp.ExpName = nil, ""
	cp.RunEval, cp.EvalOnly, cp.EvalConc, cp.EvalAllConcs = nil, nil, nil, nil
	b, err := json.Marshal(&cp)
	if err != nil {
		// A Job always marshals; keep rows apart if it ever did not.
		return fmt.Sprintf("%p", j)
	}
	return string(b)
}

func eligibleConcs(conc []int) []int {
	out := filter(conc, func(v int) bool { return v >= minEvalConc })
	sort.Ints(out)
	return out
}

// expandKeys resolves test-config's --config-keys: exact keys or * / ?
// globs (fnmatch), in the order given, each key once.
func expandKeys(patterns []string, configs []*Config) ([]string, error) {
	var available []string
	for _, c := range configs {
		available = append(available, c.Key)
	}
	var out []string
	for _, p := range patterns {
		if strings.ContainsAny(p, "*?") {
			re := globRegexp(p)
			n := 0
			for _, k := range available {
				if re.MatchString(k) {
					n++
					if !contains(out, k) {
						out = append(out, k)
					}
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("pattern %q matched no config keys", p)
			}
			continue
		}
		if !contains(available, p) {
			return nil, fmt.Errorf("config key not found: %s", p)
		}
		if !contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// globRegexp translates an fnmatch pattern (*, ?, [seq], [!seq]).
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(p); i++ {
		switch ch := p[i]; ch {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := i + 1
			if j < len(p) && p[j] == '!' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j >= len(p) {
				b.WriteString(`\[`)
				continue
			}
			class := p[i+1 : j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			} else if strings.HasPrefix(class, "^") {
				class = `\` + class
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return regexp.MustCompile(`^` + regexp.QuoteMeta(p) + `$`)
	}
	return re
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func filter(in []int, keep func(int) bool) []int {
	var out []int
	for _, v := range in {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func sortedUnique(in []int) []int {
	out := append([]int(nil), in...)
	sort.Ints(out)
	n := 0
	for i, v := range out {
		if i == 0 || v != out[n-1] {
			out[n] = v
			n++
		}
	}
	return out[:n]
}

func maxInt(in []int) int {
	m := 0
	for i, v := range in {
		if i == 0 || v > m {
			m = v
		}
	}
	return m
}

func copyWorker(w *inferencex.Worker) *inferencex.Worker {
	if w == nil {
		return nil
	}
	cp := *w
	cp.AdditionalSettings = append([]string(nil), w.AdditionalSettings...)
	if len(cp.AdditionalSettings) == 0 {
		cp.AdditionalSettings = nil
	}
	return &cp
}

func copyComponent(c *inferencex.Component) *inferencex.Component {
	if c == nil {
		return nil
	}
	cp := *c
	return &cp
}

func ptr[T any](v T) *T { return &v }
