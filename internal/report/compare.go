package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/termtext"
)

// CompareMetric is a headline metric compared between runs.
type CompareMetric struct {
	Key          string  `json:"key"`
	Label        string  `json:"label"`
	HigherBetter bool    `json:"higher_is_better"`
	Scale        float64 `json:"-"` // to the unit shown
	Unit         string  `json:"unit"`
	// Informative metrics are shown but never make a configuration
	// regressed or improved (power readings are noisier than timings).
	Informative bool `json:"informative,omitempty"`
}

// CompareMetrics are the metrics `fleet compare` reads: throughput per
// GPU, median TTFT, TPOT, interactivity and end-to-end latency, and
// (informative) joules per output token where both rows have valid power.
var CompareMetrics = []CompareMetric{
	{Key: "tput_per_gpu", Label: "TPUT/GPU", HigherBetter: true, Scale: 1, Unit: "tok/s"},
	{Key: keyTTFT, Label: "TTFT", Scale: 1000, Unit: "ms"},
	{Key: keyTPOT, Label: "TPOT", Scale: 1000, Unit: "ms"},
	{Key: keyIntvty, Label: "INTVTY", HigherBetter: true, Scale: 1, Unit: "tok/s/user"},
	{Key: keyE2EL, Label: "E2EL", Scale: 1, Unit: "s"},
	energyCompareMetric,
}

func (m CompareMetric) value(r *results.Row) float64 {
	if m.Key == "tput_per_gpu" {
		return r.TputPerGPU
	}
	return metric(r, m.Key)
}

// Delta is one metric of one configuration in both runs.
type Delta struct {
	Metric string  `json:"metric"`
	A      float64 `json:"a"`
	B      float64 `json:"b"`
	// Change is B relative to A: +0.05 is 5% more.
	Change    float64 `json:"change"`
	Regressed bool    `json:"regressed,omitempty"`
	Improved  bool    `json:"improved,omitempty"`
}

// ConfigDelta compares one configuration present in both runs.
type ConfigDelta struct {
	Key         string `json:"key"`
	JobA        string `json:"job_a"`
	JobB        string `json:"job_b"`
	HW          string `json:"hw"`
	Framework   string `json:"framework"`
	Precision   string `json:"precision"`
	TP          int    `json:"tp"`
	EP          int    `json:"ep"`
	DPAttention bool   `json:"dp_attention"`
	Shape       string `json:"shape,omitempty"` // a multi-node deployment's (results.Row.Shape)
	Conc        int    `json:"conc"`
	// ReusedB names the run B's row was reused from (fleet sweep
	// --only-changed): B did not measure it again.
	ReusedB   string  `json:"reused_b,omitempty"`
	Deltas    []Delta `json:"deltas"`
	Regressed bool    `json:"regressed"`
	Improved  bool    `json:"improved"`
	// Evals compare the eval tasks both rows have (eval.go).
	Evals []EvalDelta `json:"evals,omitempty"`
}

// Lost is a configuration that produced a result in A and failed in B.
type Lost struct {
	Key    string `json:"key"`
	Job    string `json:"job"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// Comparison is the outcome of comparing run B against run A.
type Comparison struct {
	RunA      string        `json:"run_a"`
	RunB      string        `json:"run_b"`
	Threshold float64       `json:"threshold"` // relative: 0.05 is 5%
	Configs   []ConfigDelta `json:"configs"`
	// Lost configurations count as regressions: nightly runs must notice
	// a config that stopped working.
	Lost         []Lost   `json:"lost,omitempty"`
	OnlyA        []string `json:"only_a,omitempty"`
	OnlyB        []string `json:"only_b,omitempty"`
	Regressions  int      `json:"regressions"`
	Improvements int      `json:"improvements"`
}

// Regressed reports whether B is worse than A beyond the threshold.
func (c *Comparison) Regressed() bool { return c.Regressions > 0 }

// configKey names a configuration independently of run, node and job id.
// A multi-node row's shape is part of it: a disaggregated point never
// compares with an aggregated or single-node one of equal tp.
func configKey(r *results.Row) string {
	shape := ""
	if s := r.Shape(); s != "" {
		shape = " " + s
	}
	return fmt.Sprintf("%s %s %s %s %d/%d tp%d-ep%d-dpa%t%s%s conc%d", r.HW, r.Model, r.Framework, r.Precision, r.ISL, r.OSL,
		r.TP, max(r.EP, 1), r.DPAttention, ixPoint(r), shape, r.Conc)
}

// jobKey matches a row with its counterpart of the same job in another
// run: the job id, and for a multi-node job, whose rows are one per
// concurrency, the shape and the concurrency too.
func jobKey(r *results.Row) string {
	if !r.MultiNode() {
		return r.JobID
	}
	return fmt.Sprintf("%s\x00%s\x00%d", r.JobID, r.Shape(), r.Conc)
}

// ixPoint is what else tells two InferenceX configurations apart: the
// parallel sizes beyond tp and ep, each role of a multi-node deployment,
// and speculative decoding. It is empty for fleet's own rows, whose keys
// stay as they were.
func ixPoint(r *results.Row) string {
	var b strings.Builder
	for _, k := range []string{"pp", "dcp_size", "pcp_size",
		"prefill_num_workers", "prefill_tp", "prefill_ep", "prefill_pp", "decode_num_workers", "decode_tp", "decode_ep", "decode_pp"} {
		if v, ok := r.Metrics[k]; ok && (v > 1 || strings.HasPrefix(k, "prefill_") || strings.HasPrefix(k, "decode_")) {
			fmt.Fprintf(&b, "-%s%g", k, v)
		}
	}
	if spec := r.Spec(); spec != "" && spec != "none" {
		b.WriteString("-spec-" + spec)
	}
	return b.String()
}

func label(r *results.Row) string {
	dpa := ""
	if r.DPAttention {
		dpa = " dpa"
	}
	shape := ""
	if s := r.Shape(); s != "" {
		shape = " " + s
	}
	return fmt.Sprintf("%s %s %s%s tp%d ep%d%s conc%d", r.HW, r.Framework, r.Precision, shape, r.TP, max(r.EP, 1), dpa, r.Conc)
}

// Compare matches the done rows of run A and run B, by job id first and
// then by configuration (GPU, model, framework, precision, lengths,
// parallelism, concurrency) where that is unique on both sides, and
// computes the deltas of the headline metrics. jobsB, B's job outcomes,
// tells a configuration B dropped from one B failed. threshold is
// relative (0.05 = 5%): changes within it are noise.
func Compare(runA, runB string, a, b []*results.Row, jobsB []JobStatus, threshold float64) *Comparison {
	c := &Comparison{RunA: runA, RunB: runB, Threshold: threshold, Configs: []ConfigDelta{}}
	type pair struct{ a, b *results.Row }
	var pairs []pair
	matchedA, matchedB := map[*results.Row]bool{}, map[*results.Row]bool{}
	byJob := map[string]*results.Row{}
	for _, r := range b {
		if r.JobID != "" {
			byJob[jobKey(r)] = r
		}
	}
	for _, r := range a {
		if m := byJob[jobKey(r)]; m != nil && r.JobID != "" && !matchedB[m] {
			pairs = append(pairs, pair{r, m})
			matchedA[r], matchedB[m] = true, true
		}
	}
	unique := func(rows []*results.Row, matched map[*results.Row]bool) map[string]*results.Row {
		m, dup := map[string]*results.Row{}, map[string]bool{}
		for _, r := range rows {
			if matched[r] {
				continue
			}
			k := configKey(r)
			if _, ok := m[k]; ok {
				dup[k] = true
			}
			m[k] = r
		}
		for k := range dup {
			delete(m, k)
		}
		return m
	}
	ua, ub := unique(a, matchedA), unique(b, matchedB)
	for _, r := range a {
		k := configKey(r)
		if matchedA[r] || ua[k] != r || ub[k] == nil {
			continue
		}
		pairs = append(pairs, pair{r, ub[k]})
		matchedA[r], matchedB[ub[k]] = true, true
	}

	failedB := map[string]JobStatus{}
	for _, j := range jobsB {
		if j.State != "done" {
			failedB[j.Job] = j
		}
	}
	for _, r := range a {
		if matchedA[r] {
			continue
		}
		if j, ok := failedB[r.JobID]; ok {
			c.Lost = append(c.Lost, Lost{Key: label(r), Job: r.JobID, State: j.State, Reason: j.Reason})
			c.Regressions++
			continue
		}
		c.OnlyA = append(c.OnlyA, label(r))
	}
	for _, r := range b {
		if !matchedB[r] {
			c.OnlyB = append(c.OnlyB, label(r))
		}
	}

	for _, p := range pairs {
		d := ConfigDelta{Key: label(p.a), JobA: p.a.JobID, JobB: p.b.JobID, HW: p.a.HW, Framework: p.a.Framework,
			Precision: p.a.Precision, TP: p.a.TP, EP: max(p.a.EP, 1), DPAttention: p.a.DPAttention, Shape: p.a.Shape(), Conc: p.a.Conc}
		if r := p.b.ReusedFrom(); r != nil {
			d.ReusedB = r.Run
		}
		for _, m := range CompareMetrics {
			va, vb := m.value(p.a), m.value(p.b)
			if !finiteF(va) || !finiteF(vb) || va == 0 {
				continue
			}
			dl := Delta{Metric: m.Key, A: va, B: vb, Change: vb/va - 1}
			worse := dl.Change
			if m.HigherBetter {
				worse = -worse
			}
			// A tiny epsilon keeps a change of exactly the threshold noise.
			dl.Regressed = worse > threshold+1e-12 && !m.Informative
			dl.Improved = -worse > threshold+1e-12 && !m.Informative
			d.Regressed = d.Regressed || dl.Regressed
			d.Improved = d.Improved || dl.Improved
			d.Deltas = append(d.Deltas, dl)
		}
		d.Evals = evalDeltas(p.a, p.b)
		for _, e := range d.Evals {
			d.Regressed = d.Regressed || e.FailedB
		}
		if d.Regressed {
			c.Regressions++
		} else if d.Improved {
			c.Improvements++
		}
		c.Configs = append(c.Configs, d)
	}
	sort.SliceStable(c.Configs, func(i, j int) bool {
		x, y := c.Configs[i], c.Configs[j]
		if x.HW != y.HW {
			return x.HW < y.HW
		}
		if x.Framework != y.Framework {
			return x.Framework < y.Framework
		}
		if x.Precision != y.Precision {
			return x.Precision < y.Precision
		}
		if x.Shape != y.Shape {
			return x.Shape < y.Shape
		}
		if x.TP != y.TP {
			return x.TP < y.TP
		}
		return x.Conc < y.Conc
	})
	sort.Strings(c.OnlyA)
	sort.Strings(c.OnlyB)
	return c
}

// WriteText prints the comparison: one line per configuration with the
// throughput in both runs and the change of each metric; "!" marks a
// change for the worse beyond the threshold, "+" one for the better.
func (c *Comparison) WriteText(w io.Writer) error {
	pct := strconv.FormatFloat(100*c.Threshold, 'f', -1, 64)
	fmt.Fprintf(w, "Comparing run B %s against run A %s (noise threshold ±%s%%)\n\n", textCell(c.RunB), textCell(c.RunA), pct)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "CONFIG\tTPUT/GPU A → B")
	for _, m := range CompareMetrics {
		fmt.Fprintf(tw, "\t%s", m.Label)
	}
	fmt.Fprintln(tw, "\tVERDICT")
	for _, d := range c.Configs {
		byKey := map[string]Delta{}
		for _, dl := range d.Deltas {
			byKey[dl.Metric] = dl
		}
		tput := "-"
		if dl, ok := byKey["tput_per_gpu"]; ok {
			tput = fmt.Sprintf("%.1f → %.1f", dl.A, dl.B)
		}
		fmt.Fprintf(tw, "%s\t%s", textCell(d.Key), tput)
		for _, m := range CompareMetrics {
			dl, ok := byKey[m.Key]
			if !ok {
				fmt.Fprint(tw, "\t-")
				continue
			}
			mark := ""
			switch {
			case dl.Regressed:
				mark = " !"
			case dl.Improved:
				mark = " +"
			}
			fmt.Fprintf(tw, "\t%+.1f%%%s", 100*dl.Change, mark)
		}
		verdict := "ok"
		switch {
		case d.Regressed:
			verdict = "REGRESSED"
		case d.Improved:
			verdict = "improved"
		}
		if d.ReusedB != "" {
			verdict += " (B reused from " + textCell(d.ReusedB) + ")"
		}
		fmt.Fprintf(tw, "\t%s\n", verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := c.writeEvalDeltas(w); err != nil {
		return err
	}
	if len(c.Lost) > 0 {
		fmt.Fprintf(w, "\nDone in A, failed in B (%d):\n", len(c.Lost))
		for _, l := range c.Lost {
			fmt.Fprintf(w, "  %s: %s %s\n", textCell(l.Key), textCell(l.State), shortReason(l.Reason))
		}
	}
	if len(c.OnlyA) > 0 {
		fmt.Fprintf(w, "\nOnly in A (%d): %s\n", len(c.OnlyA), termtext.Line(strings.Join(c.OnlyA, "; "), 0))
	}
	if len(c.OnlyB) > 0 {
		fmt.Fprintf(w, "\nOnly in B (%d): %s\n", len(c.OnlyB), termtext.Line(strings.Join(c.OnlyB, "; "), 0))
	}
	within := len(c.Configs) - c.Improvements
	for _, d := range c.Configs {
		if d.Regressed {
			within--
		}
	}
	fmt.Fprintf(w, "\n%d configurations compared: %d regressed, %d improved, %d within ±%s%%", len(c.Configs),
		c.Regressions-len(c.Lost), c.Improvements, within, pct)
	if len(c.Lost) > 0 {
		fmt.Fprintf(w, "; %d lost", len(c.Lost))
	}
	fmt.Fprintln(w)
	return nil
}

// WriteJSON writes the comparison as indented JSON.
func (c *Comparison) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode comparison: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ParseThreshold reads a noise threshold given in percent, with or
// without the sign: "5%", "5", "0.5%".
func ParseThreshold(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("threshold %q: want a percentage such as 5%%", s)
	}
	return v / 100, nil
}
