// Package results turns benchmark client result files into InferenceMAX's
// aggregated rows and the tables people compare GPUs with.
package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Meta is what the client's result file does not know about a job.
type Meta struct {
	RunID     string
	JobID     string
	Node      string
	HW        string // GPU type label: h200, mi300x, ...
	Model     string
	Framework string
	Precision string
	Image     string
	TP, EP    int
	PP        int
	DPAttn    bool
	Conc      int
	ISL, OSL  int
	GPUs      int // GPUs the throughput is divided by (tp x pp on one node)
	// Router is a multi-node deployment's router component, written as
	// its row's router key (AggregateMulti); nil writes none.
	Router *RouterInfo
	// Fingerprint is the job's recipe fingerprint (plan.Fingerprint),
	// written as the row's recipe_fingerprint; "" writes none.
	Fingerprint string
}

// Row is one job's aggregated result, with InferenceMAX's keys first.
type Row struct {
	HW               string  `json:"hw"`
	TP               int     `json:"tp"`
	EP               int     `json:"ep"`
	DPAttention      bool    `json:"dp_attention"`
	Conc             int     `json:"conc"`
	Model            string  `json:"model"`
	Framework        string  `json:"framework"`
	Precision        string  `json:"precision"`
	ISL              int     `json:"isl"`
	OSL              int     `json:"osl"`
	Image            string  `json:"image"`
	TputPerGPU       float64 `json:"tput_per_gpu"`
	OutputTputPerGPU float64 `json:"output_tput_per_gpu"`
	InputTputPerGPU  float64 `json:"input_tput_per_gpu"`
	// Metrics holds every *_ms metric of the client converted to seconds
	// without the suffix (median_ttft, p99_e2el, ...) and the
	// interactivities *_intvty = 1000 / *_tpot_ms (tokens/s per user).
	Metrics map[string]float64 `json:"-"`
	// Extra holds the keys of an imported row that are neither the
	// columns above nor numbers (InferenceX's infmax_model_prefix,
	// spec_decoding, disagg, is_multinode, router, ...), as they were
	// written, so that the row goes back out as it came in.
	Extra map[string]json.RawMessage `json:"-"`

	// fleet's own columns, after InferenceMAX's.
	RunID     string `json:"run_id,omitempty"`
	JobID     string `json:"job_id,omitempty"`
	Node      string `json:"node,omitempty"`
	Completed int    `json:"completed"`
	Failed    int    `json:"failed"`
	// Evals are the job's accuracy evals (eval.go), when it ran any.
	Evals []EvalScore `json:"evals,omitempty"`
}

// Aggregate computes the row for one job from its client result file's
// contents, as InferenceMAX's post-processing does.
func Aggregate(m Meta, raw []byte) (*Row, error) {
	r, _, err := aggregate(m, raw)
	return r, err
}

// tokenRates are a client result's throughputs in tokens per second.
type tokenRates struct{ total, output float64 }

// aggregate is Aggregate, also returning the client's throughputs so that
// a multi-node row can divide them by its own GPU counts.
func aggregate(m Meta, raw []byte) (*Row, tokenRates, error) {
	r, rates, err := aggregateUnchecked(m, raw)
	if err != nil {
		return nil, rates, err
	}
	if err := r.Check(); err != nil {
		return nil, rates, fmt.Errorf("client result: %w", err)
	}
	return r, rates, nil
}

func aggregateUnchecked(m Meta, raw []byte) (*Row, tokenRates, error) {
	var res map[string]json.RawMessage
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, tokenRates{}, fmt.Errorf("decode client result: %w", err)
	}
	num := func(k string) (float64, bool) {
		v, ok := res[k]
		if !ok {
			return 0, false
		}
		var f *float64
		if err := json.Unmarshal(v, &f); err != nil || f == nil {
			return 0, false
		}
		return *f, true
	}
	total, ok := num("total_token_throughput")
	if !ok {
		return nil, tokenRates{}, fmt.Errorf("client result has no total_token_throughput: not a bench_serving result file")
	}
	output, _ := num("output_throughput")
	gpus := m.GPUs
	if gpus <= 0 {
		gpus = max(m.TP, 1) * max(m.PP, 1)
	}
	r := &Row{
		HW: m.HW, TP: m.TP, EP: max(m.EP, 1), DPAttention: m.DPAttn, Conc: m.Conc,
		Model: m.Model, Framework: m.Framework, Precision: m.Precision,
		ISL: m.ISL, OSL: m.OSL, Image: m.Image,
		TputPerGPU:       total / float64(gpus),
		OutputTputPerGPU: output / float64(gpus),
		InputTputPerGPU:  (total - output) / float64(gpus),
		Metrics:          map[string]float64{},
		RunID:            m.RunID, JobID: m.JobID, Node: m.Node,
	}
	r.SetFingerprint(m.Fingerprint)
	for _, c := range []struct {
		key string
		to  *int
	}{{"completed", &r.Completed}, {"failed", &r.Failed}, {"max_concurrency", &r.Conc}} {
		v, ok := num(c.key)
		if !ok || (c.key == "max_concurrency" && r.Conc != 0) {
			continue
		}
		n, err := countField(c.key, v)
		if err != nil {
			return nil, tokenRates{}, err
		}
		*c.to = n
	}
	for k := range res {
		if !strings.HasSuffix(k, "_ms") {
			continue
		}
		v, ok := num(k)
		if !ok {
			continue // null when a metric had no samples
		}
		name := strings.TrimSuffix(k, "_ms")
		r.Metrics[name] = v / 1000
		if strings.HasSuffix(name, "_tpot") && v > 0 {
			r.Metrics[strings.TrimSuffix(name, "_tpot")+"_intvty"] = 1000 / v
		}
	}
	return r, tokenRates{total, output}, nil
}

// MarshalJSON writes InferenceMAX's keys, then the metrics in sorted
// order, then fleet's own.
func (r *Row) MarshalJSON() ([]byte, error) {
	type fixed Row
	// A row stored before rows were checked may hold a value JSON cannot
	// (NaN, ±Inf): it is written as null rather than failing every
	// encoder the row is part of (summaries, exports of the whole store).
	c := *r
	var nulls []string
	for _, f := range []struct {
		key string
		v   *float64
	}{{"tput_per_gpu", &c.TputPerGPU}, {"output_tput_per_gpu", &c.OutputTputPerGPU}, {"input_tput_per_gpu", &c.InputTputPerGPU}} {
		if !finite(*f.v) {
			*f.v = 0
			nulls = append(nulls, f.key)
		}
	}
	var all map[string]json.RawMessage
	head, err := json.Marshal((*fixed)(&c))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(head, &all); err != nil {
		return nil, err
	}
	for _, k := range nulls {
		all[k] = json.RawMessage("null")
	}
	keys := make([]string, 0, len(r.Metrics))
	for k, v := range r.Metrics {
		if finite(v) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	put := func(k string, v []byte) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(v)
	}
	for _, k := range imaxKeys {
		put(k, all[k])
	}
	for _, k := range keys {
		vb, _ := json.Marshal(r.Metrics[k])
		put(k, vb)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Extra)) {
		if _, ok := all[k]; ok || !json.Valid(r.Extra[k]) {
			continue // a column of its own, or not JSON
		}
		if _, ok := r.Metrics[k]; ok {
			continue
		}
		put(k, r.Extra[k])
	}
	for _, k := range fleetKeys {
		if v, ok := all[k]; ok {
			put(k, v)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

var (
	imaxKeys = []string{"hw", "tp", "ep", "dp_attention", "conc", "model", "framework", "precision", "isl", "osl", "image",
		"tput_per_gpu", "output_tput_per_gpu", "input_tput_per_gpu"}
	fleetKeys = []string{"run_id", "job_id", "node", "completed", "failed", "evals"}
)

// UnmarshalJSON reads a row back, metrics and extra keys included.
// dp_attention may be a bool or, as InferenceX writes it since 2026, the
// string "true" or "false".
func (r *Row) UnmarshalJSON(data []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	if v, ok := all["dp_attention"]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("dp_attention is %q: want true or false", s)
			}
			all["dp_attention"] = json.RawMessage(strconv.FormatBool(b))
		}
	}
	type fixed Row
	fixedJSON, err := json.Marshal(all)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(fixedJSON, (*fixed)(r)); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, k := range append(imaxKeys[:len(imaxKeys):len(imaxKeys)], fleetKeys...) {
		known[k] = true
	}
	r.Metrics = map[string]float64{}
	r.Extra = nil
	for k, v := range all {
		if known[k] {
			continue
		}
		var f *float64 // null is no number: it stays as written
		if json.Unmarshal(v, &f) == nil && f != nil {
			r.Metrics[k] = *f
			continue
		}
		if r.Extra == nil {
			r.Extra = map[string]json.RawMessage{}
		}
		r.Extra[k] = v
	}
	return nil
}
