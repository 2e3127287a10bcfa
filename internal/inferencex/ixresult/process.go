package ixresult

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// PowerMetricSchemaVersion is power_metric_schema_version: the unprefixed
// joules_per_* keys describe the whole deployment.
const PowerMetricSchemaVersion = 2

// Process makes the aggregated row process_result writes
// (agg_<RESULT_FILENAME>.json) from the client's result file raw, and the
// power validation sidecar (power_validation_<RESULT_FILENAME>.json) from
// power, nil when the run left no GPU metrics file. Invalid power never
// fails: the row says power_valid 0 and the sidecar why. An error means
// process_result itself would have failed (a missing client key, a
// malformed ROUTER_METADATA, sizes that are not positive).
//
// Multi-node power is checked and integrated from the same kind of CSV
// over the whole deployment (prefill + decode GPUs); the per-role energy
// keys of InferenceX's srt-slurm power artifacts are not made.
func Process(p Params, raw []byte, power *PowerInput) (agg []byte, validation []byte, err error) {
	client, order, err := decodeClient(raw)
	if err != nil {
		return nil, nil, err
	}
	data, err := baseRow(p, client)
	if err != nil {
		return nil, nil, err
	}
	// Every client key ending in ms becomes seconds without _ms; every key
	// naming tpot also gives an interactivity (tokens/s per user).
	for _, k := range order {
		v := client[k]
		if strings.HasSuffix(k, "ms") {
			f, err := clientFloat(k, v)
			if err != nil {
				return nil, nil, err
			}
			data.set(strings.ReplaceAll(k, "_ms", ""), f/1000)
		}
		if strings.Contains(k, "tpot") {
			f, err := clientFloat(k, v)
			if err != nil {
				return nil, nil, err
			}
			if f == 0 {
				return nil, nil, fmt.Errorf("client result: %s is 0: interactivity would divide by it", k)
			}
			data.set(strings.ReplaceAll(strings.ReplaceAll(k, "_ms", ""), "tpot", "intvty"), 1000/f)
		}
	}

	expected := p.GPUs()
	if power != nil && power.ExpectedGPUs != 0 {
		expected = power.ExpectedGPUs
	}
	v := validatePower(raw, power, expected)
	v.benchmarkResult = p.ResultFilename + ".json"
	if err := v.patch(data); err != nil {
		return nil, nil, err
	}
	if agg, err = data.encode(); err != nil {
		return nil, nil, fmt.Errorf("encode aggregated row: %w", err)
	}
	if validation, err = v.sidecar().encode(); err != nil {
		return nil, nil, fmt.Errorf("encode power validation: %w", err)
	}
	return agg, validation, nil
}

// decodeClient reads the client's result object, keeping its key order.
func decodeClient(raw []byte) (map[string]json.RawMessage, []string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, errors.New("client result is not a JSON object")
	}
	m := map[string]json.RawMessage{}
	var order []string
	for d.More() {
		kt, err := d.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("decode client result: %w", err)
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("decode client result: %w", err)
		}
		k := kt.(string)
		if _, dup := m[k]; !dup {
			order = append(order, k)
		}
		m[k] = v
	}
	return m, order, nil
}

// clientFloat reads a client value as Python's float() does from JSON:
// any number; null, text or anything else fails.
func clientFloat(k string, v json.RawMessage) (float64, error) {
	var f *float64
	if err := json.Unmarshal(v, &f); err != nil || f == nil {
		return 0, fmt.Errorf("client result: %s is %s: want a number", k, strings.TrimSpace(string(v)))
	}
	return *f, nil
}

// baseRow builds the keys process_result writes before the client's
// metrics, in its order.
func baseRow(p Params, client map[string]json.RawMessage) (*object, error) {
	need := func(k string) (json.RawMessage, error) {
		v, ok := client[k]
		if !ok {
			return nil, fmt.Errorf("client result has no %s", k)
		}
		return v, nil
	}
	concRaw, err := need("max_concurrency")
	if err != nil {
		return nil, err
	}
	conc, err := clientFloat("max_concurrency", concRaw)
	if err != nil {
		return nil, err
	}
	modelRaw, err := need("model_id")
	if err != nil {
		return nil, err
	}
	model, err := parseOrdered(modelRaw)
	if err != nil {
		return nil, fmt.Errorf("client result model_id: %w", err)
	}
	total, err := needFloat(client, "total_token_throughput")
	if err != nil {
		return nil, err
	}
	output, err := needFloat(client, "output_throughput")
	if err != nil {
		return nil, err
	}

	d := newObject()
	d.set("hw", p.RunnerType)
	d.set("conc", int(conc))
	d.set("image", p.Image)
	d.set("model", model)
	d.set("infmax_model_prefix", p.ModelPrefix)
	d.set("framework", p.Framework)
	d.set("precision", p.Precision)
	d.set("spec_decoding", p.SpecDecoding)
	d.set("disagg", p.Disagg)
	d.set("recipe_fingerprint", p.RecipeFingerprint)
	d.set("isl", p.ISL)
	d.set("osl", p.OSL)
	router, err := routerMetadata(p.RouterMetadata)
	if err != nil {
		return nil, err
	}
	if router != nil {
		d.set("router", router)
	}
	if p.KVP2PTransfer != "" {
		d.set("kv_p2p_transfer", p.KVP2PTransfer)
	}

	if !p.IsMultinode {
		if p.Disagg {
			return nil, errors.New("a disaggregated job must be multi-node")
		}
		pp, dcp, pcp := one(p.PP), one(p.DCP), one(p.PCP)
		if pp <= 0 || dcp <= 0 || pcp <= 0 {
			return nil, fmt.Errorf("pp %d, dcp %d, pcp %d: want positive sizes", p.PP, p.DCP, p.PCP)
		}
		gpus := float64(p.TP * pp * pcp)
		if gpus == 0 {
			return nil, errors.New("tp is 0: no GPUs to divide throughput by")
		}
		d.set("is_multinode", false)
		d.set("tp", p.TP)
		d.set("pp", pp)
		d.set("dcp_size", dcp)
		d.set("pcp_size", pcp)
		d.set("ep", p.EP)
		d.set("dp_attention", p.DPAttention)
		d.set("tput_per_gpu", total/gpus)
		d.set("output_tput_per_gpu", output/gpus)
		d.set("input_tput_per_gpu", (total-output)/gpus)
		return d, nil
	}

	if (p.PrefillHW == "") != (p.DecodeHW == "") {
		return nil, errors.New("prefill and decode hardware must be given together")
	}
	pr, de := p.Prefill, p.Decode
	for _, n := range []int{one(pr.PP), one(pr.DCP), one(pr.PCP), one(de.PP), one(de.DCP), one(de.PCP)} {
		if n <= 0 {
			return nil, errors.New("multi-node pp, dcp and pcp sizes must be positive")
		}
	}
	totalGPUs := p.PrefillGPUs + p.DecodeGPUs
	if totalGPUs <= 0 {
		return nil, errors.New("a multi-node result needs at least one GPU")
	}
	if p.PrefillGPUs <= 0 {
		return nil, errors.New("a multi-node result needs at least one prefill GPU")
	}
	// Without decode GPUs (an aggregated deployment) output throughput is
	// per GPU of the whole deployment and the decode role reads as absent.
	outDen := p.DecodeGPUs
	dTP, dEP, dPP, dDCP, dPCP := de.TP, de.EP, one(de.PP), one(de.DCP), one(de.PCP)
	if p.DecodeGPUs <= 0 {
		outDen = totalGPUs
		dTP, dEP, dPP, dDCP, dPCP = 0, 0, 1, 1, 1
	}
	d.set("is_multinode", true)
	d.set("prefill_tp", pr.TP)
	d.set("prefill_pp", one(pr.PP))
	d.set("prefill_dcp_size", one(pr.DCP))
	d.set("prefill_pcp_size", one(pr.PCP))
	d.set("prefill_ep", pr.EP)
	d.set("prefill_dp_attention", pr.DPAttention)
	d.set("prefill_num_workers", pr.NumWorkers)
	d.set("decode_tp", dTP)
	d.set("decode_pp", dPP)
	d.set("decode_dcp_size", dDCP)
	d.set("decode_pcp_size", dPCP)
	d.set("decode_ep", dEP)
	d.set("decode_dp_attention", de.DPAttention)
	d.set("decode_num_workers", de.NumWorkers)
	d.set("num_prefill_gpu", p.PrefillGPUs)
	d.set("num_decode_gpu", p.DecodeGPUs)
	d.set("tput_per_gpu", total/float64(totalGPUs))
	d.set("output_tput_per_gpu", output/float64(outDen))
	d.set("input_tput_per_gpu", (total-output)/float64(p.PrefillGPUs))
	if p.PrefillHW != "" {
		d.set("prefill_hw", p.PrefillHW)
		d.set("decode_hw", p.DecodeHW)
	}
	return d, nil
}

func needFloat(client map[string]json.RawMessage, k string) (float64, error) {
	v, ok := client[k]
	if !ok {
		return 0, fmt.Errorf("client result has no %s", k)
	}
	return clientFloat(k, v)
}

// routerMetadata checks ROUTER_METADATA: none, or an object of exactly a
// non-empty name and version.
func routerMetadata(s string) (*object, error) {
	if s == "" || s == "null" {
		return nil, nil
	}
	v, err := parseOrdered([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("router metadata must be JSON: %w", err)
	}
	o, ok := v.(*object)
	if !ok || len(o.keys) != 2 || o.vals["name"] == nil || o.vals["version"] == nil {
		return nil, errors.New("router metadata must hold exactly name and version")
	}
	for _, k := range o.keys {
		if s, ok := o.vals[k].(string); !ok || s == "" {
			return nil, errors.New("router metadata name and version must be non-empty strings")
		}
	}
	return o, nil
}
