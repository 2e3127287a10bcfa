package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/termtext"
)

// JobStatus is how one job of a run ended, for success rates.
type JobStatus struct {
	Run      string
	Job      string
	HW       string
	Node     string
	State    string // done, failed, cancelled, queued
	Reason   string
	Attempts int
}

// Input is what a report is built from.
type Input struct {
	Title string
	Runs  []string
	// Rows are the aggregated results of the jobs that ended done.
	Rows []*results.Row
	Jobs []JobStatus
}

// Report is everything the text, JSON, charts and HTML show.
type Report struct {
	Title     string         `json:"title"`
	Runs      []string       `json:"runs"`
	Rows      []*results.Row `json:"rows"`
	Frontiers []Frontier     `json:"frontiers"`
	Success   []Success      `json:"success"`
	// Agentic are the agentic trace-replay runs, apart from Rows and
	// their frontiers: their numbers compare with each other only.
	Agentic []AgenticPoint `json:"agentic,omitempty"`
	// Evals are the accuracy evals, a table per configuration (eval.go).
	Evals []EvalTable `json:"evals,omitempty"`

	groups  []*group
	agentic []*results.Row
}

// Frontier is the Pareto frontier of throughput per GPU against median
// interactivity of one (GPU, framework, precision, multi-node shape) or
// of a GPU over all its configurations.
type Frontier struct {
	Scope     string          `json:"scope"` // "config" or "gpu"
	Key       string          `json:"key"`
	Run       string          `json:"run,omitempty"` // when the report spans runs
	HW        string          `json:"hw"`
	Framework string          `json:"framework,omitempty"`
	Precision string          `json:"precision,omitempty"`
	Shape     string          `json:"shape,omitempty"` // a multi-node deployment's (results.Row.Shape)
	Points    []FrontierPoint `json:"points"`
}

// FrontierPoint is one configuration on a frontier.
type FrontierPoint struct {
	JobID         string  `json:"job_id"`
	Framework     string  `json:"framework"`
	Precision     string  `json:"precision"`
	TP            int     `json:"tp"`
	EP            int     `json:"ep"`
	DPAttention   bool    `json:"dp_attention"`
	Conc          int     `json:"conc"`
	Shape         string  `json:"shape,omitempty"` // a multi-node deployment's (results.Row.Shape)
	Interactivity float64 `json:"median_intvty"`
	TputPerGPU    float64 `json:"tput_per_gpu"`
}

// Success counts how the jobs of one GPU type ended.
type Success struct {
	Run       string   `json:"run,omitempty"`
	HW        string   `json:"hw"`
	Jobs      int      `json:"jobs"`
	Done      int      `json:"done"`
	Failed    int      `json:"failed"`
	Cancelled int      `json:"cancelled"`
	Attempts  int      `json:"attempts"`
	Rate      float64  `json:"rate"` // done / jobs
	Reasons   []Reason `json:"reasons,omitempty"`
}

// Reason is a failure reason and how many jobs ended with it.
type Reason struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// group is one (run, GPU, framework, precision, multi-node shape): a
// series of the charts. A multi-node deployment is a series of its own,
// labelled by its shape, beside the single-node points of its GPU.
type group struct {
	key, label               string
	run, hw, fw, prec, shape string
	rows                     []*results.Row
	color                    int
	frontier, latFront       []*results.Row
	hwIndex, groupIndex      int
}

// Metric keys of the aggregated row the report reads.
const (
	keyIntvty = "median_intvty"
	keyTTFT   = "median_ttft"
	keyTPOT   = "median_tpot"
	keyE2EL   = "median_e2el"
)

func metric(r *results.Row, k string) float64 {
	if v, ok := r.Metrics[k]; ok {
		return v
	}
	return math.NaN()
}

// Build computes frontiers, series and success rates.
func Build(in Input) *Report {
	rep := &Report{Title: in.Title, Runs: in.Runs, Rows: append([]*results.Row(nil), in.Rows...)}
	if rep.Title == "" {
		rep.Title = "fleet report: " + strings.Join(in.Runs, ", ")
	}
	if rep.Rows == nil {
		rep.Rows = []*results.Row{}
	}
	multi := len(in.Runs) > 1
	runOrder := map[string]int{}
	for i, r := range in.Runs {
		runOrder[r] = i
	}
	results.SortRows(rep.Rows)
	sort.SliceStable(rep.Rows, func(i, j int) bool { return runOrder[rep.Rows[i].RunID] < runOrder[rep.Rows[j].RunID] })
	rep.Evals = evalTables(rep.Rows, multi)
	rep.Rows, _ = splitEvalOnly(rep.Rows)
	rep.Rows, rep.agentic = splitAgentic(rep.Rows)
	if rep.Rows == nil {
		rep.Rows = []*results.Row{}
	}
	for _, r := range rep.agentic {
		rep.Agentic = append(rep.Agentic, agenticPoint(r, multi))
	}

	byKey := map[string]*group{}
	for _, r := range rep.Rows {
		g := &group{run: r.RunID, hw: r.HW, fw: r.Framework, prec: r.Precision, shape: r.Shape()}
		if !multi {
			g.run = ""
		}
		g.label = strings.Join(nonEmpty(g.hw, g.fw, g.prec, g.shape), " ")
		if multi {
			g.label = g.run + ": " + g.label
		}
		g.key = g.label
		if have, ok := byKey[g.key]; ok {
			g = have
		} else {
			byKey[g.key] = g
			rep.groups = append(rep.groups, g)
		}
		g.rows = append(g.rows, r)
	}
	hwSeen := map[string]int{}
	for i, g := range rep.groups {
		g.color, g.groupIndex = i, i
		hk := g.run + "\x00" + g.hw
		if _, ok := hwSeen[hk]; !ok {
			hwSeen[hk] = len(hwSeen)
		}
		g.hwIndex = hwSeen[hk]
		g.frontier = frontierRows(g.rows, intvtyPoint)
		g.latFront = frontierRows(g.rows, latencyPoint)
		rep.Frontiers = append(rep.Frontiers, Frontier{Scope: "config", Key: g.label, Run: g.run, HW: g.hw, Framework: g.fw,
			Precision: g.prec, Shape: g.shape, Points: frontierPoints(g.frontier)})
	}
	for _, hw := range rep.gpus() {
		rep.Frontiers = append(rep.Frontiers, Frontier{Scope: "gpu", Key: hw.label, Run: hw.run, HW: hw.hw,
			Points: frontierPoints(frontierRows(hw.rows, intvtyPoint))})
	}
	rep.Success = successRates(in.Jobs, multi)
	return rep
}

// gpuSet is a GPU type's rows (within one run when the report spans runs).
type gpuSet struct {
	run, hw, label string
	rows           []*results.Row
	index          int
}

// gpus groups the rows by GPU type, in the order the groups come.
func (rep *Report) gpus() []*gpuSet {
	var out []*gpuSet
	idx := map[string]*gpuSet{}
	for _, g := range rep.groups {
		k := g.run + "\x00" + g.hw
		s, ok := idx[k]
		if !ok {
			s = &gpuSet{run: g.run, hw: g.hw, label: g.hw + " (all configs)", index: len(out)}
			if g.run != "" {
				s.label = g.run + ": " + s.label
			}
			idx[k] = s
			out = append(out, s)
		}
		s.rows = append(s.rows, g.rows...)
	}
	return out
}

func intvtyPoint(r *results.Row) (float64, float64) { return metric(r, keyIntvty), r.TputPerGPU }

// latencyPoint: less latency is better, so it is negated to fit ParetoFrontier.
func latencyPoint(r *results.Row) (float64, float64) { return -metric(r, keyE2EL), r.TputPerGPU }

func frontierRows(rows []*results.Row, xy func(*results.Row) (float64, float64)) []*results.Row {
	pts := make([]Point, len(rows))
	for i, r := range rows {
		x, y := xy(r)
		pts[i] = Point{X: x, Y: y, Index: i}
	}
	front := ParetoFrontier(pts)
	out := make([]*results.Row, len(front))
	for i, p := range front {
		out[i] = rows[p.Index]
	}
	return out
}

func frontierPoints(rows []*results.Row) []FrontierPoint {
	out := make([]FrontierPoint, len(rows))
	for i, r := range rows {
		out[i] = FrontierPoint{JobID: r.JobID, Framework: r.Framework, Precision: r.Precision, TP: r.TP, EP: r.EP,
			DPAttention: r.DPAttention, Conc: r.Conc, Shape: r.Shape(), Interactivity: metric(r, keyIntvty), TputPerGPU: r.TputPerGPU}
	}
	return out
}

func successRates(jobs []JobStatus, multi bool) []Success {
	type key struct{ run, hw string }
	idx := map[key]*Success{}
	reasons := map[key]map[string]int{}
	var keys []key
	for _, j := range jobs {
		k := key{hw: j.HW}
		if multi {
			k.run = j.Run
		}
		if k.hw == "" {
			k.hw = "unknown"
		}
		s, ok := idx[k]
		if !ok {
			s = &Success{Run: k.run, HW: k.hw}
			idx[k] = s
			reasons[k] = map[string]int{}
			keys = append(keys, k)
		}
		s.Jobs++
		s.Attempts += j.Attempts
		switch j.State {
		case "done":
			s.Done++
		case "failed":
			s.Failed++
			reasons[k][shortReason(j.Reason)]++
		case "cancelled":
			s.Cancelled++
			reasons[k][shortReason(j.Reason)]++
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].run != keys[j].run {
			return keys[i].run < keys[j].run
		}
		return keys[i].hw < keys[j].hw
	})
	out := make([]Success, 0, len(keys))
	for _, k := range keys {
		s := idx[k]
		if s.Jobs > 0 {
			s.Rate = float64(s.Done) / float64(s.Jobs)
		}
		for r, n := range reasons[k] {
			s.Reasons = append(s.Reasons, Reason{Reason: r, Count: n})
		}
		sort.Slice(s.Reasons, func(i, j int) bool {
			if s.Reasons[i].Count != s.Reasons[j].Count {
				return s.Reasons[i].Count > s.Reasons[j].Count
			}
			return s.Reasons[i].Reason < s.Reasons[j].Reason
		})
		out = append(out, *s)
	}
	return out
}

// shortReason keeps a reason to one readable line.
func shortReason(r string) string {
	r = strings.TrimSpace(strings.ReplaceAll(r, "\n", " "))
	if r == "" {
		return "(no reason recorded)"
	}
	return termtext.Line(r, 160)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
