package ixresult

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"

	"github.com/fleetbench/fleet/internal/results"
)

// Keys process_result writes as integers; every other number is a float.
var intKeys = map[string]bool{"conc": true, "isl": true, "osl": true, "tp": true, "pp": true, "dcp_size": true, "pcp_size": true,
	"ep": true, "num_prefill_gpu": true, "num_decode_gpu": true, results.KeyPowerSchemaVersion: true, results.KeyPowerValid: true}

// Per-role keys of a multi-node row, in process_result's order (the
// dp_attention ones are strings).
var roleKeys = []string{"tp", "pp", "dcp_size", "pcp_size", "ep", "dp_attention", "num_workers"}

// Power keys after the client metrics, in aggregate_power's order, then
// the per-role ones of multi-node power.
var powerKeys = results.PowerKeys()

func init() {
	for _, role := range []string{"prefill_", "decode_"} {
		for _, k := range roleKeys {
			if k != "dp_attention" {
				intKeys[role+k] = true
			}
		}
	}
}

// ReadRow reads an aggregated InferenceX row of any era into fleet's row:
// 2025's (dp_attention a bool, no pp or spec_decoding), 2026's
// (dp_attention a string, spec_decoding, disagg, pp, dcp_size, pcp_size,
// infmax_model_prefix, power keys) and multi-node rows. A multi-node row
// has no tp, ep or dp_attention of its own; fleet's row shows the decode
// role's (the role that sets interactivity), or the prefill role's when
// decode has no GPUs (an aggregated deployment). The role keys stay in
// the row's metrics and extra keys, so the row goes back out unchanged.
func ReadRow(b []byte) (*results.Row, error) {
	var r results.Row
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode aggregated row: %w", err)
	}
	if !MultiNode(&r) || r.TP > 0 {
		return &r, nil
	}
	role := "decode_"
	if r.Metrics["num_decode_gpu"] <= 0 {
		role = "prefill_"
	}
	r.TP, r.EP = int(r.Metrics[role+"tp"]), int(r.Metrics[role+"ep"])
	r.DPAttention = extraBool(&r, role+"dp_attention")
	return &r, nil
}

// MultiNode says whether r is a multi-node InferenceX row (is_multinode
// true, as a bool or a string).
func MultiNode(r *results.Row) bool { return extraBool(r, "is_multinode") }

// extraBool reads an extra key that is a bool or a "true"/"false" string.
func extraBool(r *results.Row, k string) bool {
	var b bool
	if json.Unmarshal(r.Extra[k], &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(r.Extra[k], &s) == nil {
		b, _ = strconv.ParseBool(s)
	}
	return b
}

// WriteRows writes rows as InferenceX's tools read them: one JSON array,
// as collect_results writes it, of rows with process_result's keys, order
// and types (dp_attention the string "true"/"false", counts integers) and
// none of fleet's columns. A key an imported row had is written as it
// came; one a row lacks is written with process_result's default
// (spec_decoding "none", disagg false, pp 1, ...; power_valid 0 when
// power was never measured).
func WriteRows(w io.Writer, rows []*results.Row) error {
	list := make([]any, 0, len(rows))
	for _, r := range rows {
		list = append(list, exportRow(r))
	}
	b, err := writeList(list)
	if err != nil {
		return fmt.Errorf("encode InferenceX rows: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func writeList(list []any) ([]byte, error) {
	var b bytes.Buffer
	if err := writePy(&b, list, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// exportRow builds one row in process_result's key order.
func exportRow(r *results.Row) *object {
	o := newObject()
	used := map[string]bool{}
	num := func(k string, def float64) any {
		used[k] = true
		v, ok := r.Metrics[k]
		if !ok {
			v = def
		}
		if intKeys[k] && v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int(v)
		}
		return v
	}
	extra := func(k string, def any) any {
		used[k] = true
		if v, ok := r.Extra[k]; ok {
			return v
		}
		return def
	}
	flag := func(k string) any { // a dp_attention: always the string
		used[k] = true
		v, ok := r.Extra[k]
		if !ok {
			return "false"
		}
		var b bool
		if json.Unmarshal(v, &b) == nil {
			return strconv.FormatBool(b)
		}
		return v
	}
	o.set("hw", r.HW)
	o.set("conc", r.Conc)
	o.set("image", r.Image)
	o.set("model", r.Model)
	o.set("infmax_model_prefix", extra("infmax_model_prefix", ""))
	o.set("framework", r.Framework)
	o.set("precision", r.Precision)
	o.set("spec_decoding", extra("spec_decoding", "none"))
	o.set("disagg", extra("disagg", false))
	o.set("recipe_fingerprint", extra("recipe_fingerprint", ""))
	o.set("isl", r.ISL)
	o.set("osl", r.OSL)
	for _, k := range []string{"router", "kv_p2p_transfer"} {
		if v := extra(k, nil); v != nil {
			o.set(k, v)
		}
	}
	multi := MultiNode(r)
	used["is_multinode"] = true
	o.set("is_multinode", multi)
	if !multi {
		used["dp_attention"] = true
		o.set("tp", r.TP)
		o.set("pp", num("pp", 1))
		o.set("dcp_size", num("dcp_size", 1))
		o.set("pcp_size", num("pcp_size", 1))
		o.set("ep", r.EP)
		o.set("dp_attention", strconv.FormatBool(r.DPAttention))
	} else {
		for _, role := range []string{"prefill_", "decode_"} {
			for _, k := range roleKeys {
				switch k {
				case "dp_attention":
					o.set(role+k, flag(role+k))
				case "pp", "dcp_size", "pcp_size":
					o.set(role+k, num(role+k, 1))
				default:
					o.set(role+k, num(role+k, 0))
				}
			}
		}
		o.set("num_prefill_gpu", num("num_prefill_gpu", 0))
		o.set("num_decode_gpu", num("num_decode_gpu", 0))
	}
	o.set("tput_per_gpu", r.TputPerGPU)
	o.set("output_tput_per_gpu", r.OutputTputPerGPU)
	o.set("input_tput_per_gpu", r.InputTputPerGPU)
	if multi {
		for _, k := range []string{"prefill_hw", "decode_hw"} {
			if v := extra(k, nil); v != nil {
				o.set(k, v)
			}
		}
	}
	for _, k := range clientMetricOrder(r.Metrics) {
		o.set(k, num(k, 0))
	}
	for _, k := range powerKeys {
		used[k] = true
	}
	// Keys fleet does not know (a newer InferenceX's) keep their values,
	// sorted, before the power keys.
	for _, k := range slices.Sorted(maps.Keys(r.Metrics)) {
		if !used[k] {
			o.set(k, num(k, 0))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Extra)) {
		if !used[k] && !known[k] {
			o.set(k, r.Extra[k])
		}
	}
	o.set(results.KeyPowerSchemaVersion, num(results.KeyPowerSchemaVersion, PowerMetricSchemaVersion))
	o.set(results.KeyPowerValid, num(results.KeyPowerValid, 0))
	for _, k := range powerKeys[2:] {
		if _, ok := r.Metrics[k]; ok {
			o.set(k, num(k, 0))
		}
	}
	return o
}

// known are a row's own columns; an extra key of that name is ignored.
var known = map[string]bool{"hw": true, "conc": true, "image": true, "model": true, "framework": true, "precision": true,
	"isl": true, "osl": true, "tp": true, "ep": true, "dp_attention": true, "tput_per_gpu": true, "output_tput_per_gpu": true,
	"input_tput_per_gpu": true}

var percentileKey = regexp.MustCompile(`^p(\d+(?:\.\d+)?)_(ttft|tpot|intvty|itl|e2el)$`)

// clientMetricOrder lists the client metrics of m in the order
// bench_serving writes them (ttft, tpot, itl, e2el; mean, median, std,
// then percentiles upwards), each interactivity after its tpot, as
// process_result adds them.
func clientMetricOrder(m map[string]float64) []string {
	pct := map[string][]string{}
	for k := range m {
		if p := percentileKey.FindStringSubmatch(k); p != nil {
			metric := p[2]
			if metric == "intvty" {
				metric = "tpot" // placed beside its tpot
			}
			if !slices.Contains(pct[metric], "p"+p[1]) {
				pct[metric] = append(pct[metric], "p"+p[1])
			}
		}
	}
	var out []string
	for _, metric := range []string{"ttft", "tpot", "itl", "e2el"} {
		stats := []string{"mean", "median", "std"}
		ps := pct[metric]
		sort.Slice(ps, func(a, b int) bool {
			x, _ := strconv.ParseFloat(ps[a][1:], 64)
			y, _ := strconv.ParseFloat(ps[b][1:], 64)
			return x < y
		})
		for _, s := range append(stats, ps...) {
			if _, ok := m[s+"_"+metric]; ok {
				out = append(out, s+"_"+metric)
			}
			if metric == "tpot" {
				if _, ok := m[s+"_intvty"]; ok {
					out = append(out, s+"_intvty")
				}
			}
		}
	}
	return out
}
