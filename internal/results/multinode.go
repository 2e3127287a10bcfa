package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/fleetbench/fleet/internal/topology"
)

// RouterInfo is the router component of a multi-node deployment as
// InferenceX's rows name it (its router key): both set, or none.
type RouterInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// AggregateMulti computes the row of one concurrency of a multi-node job
// (conc; 0 takes the client's max_concurrency) from that concurrency's
// client result file, as InferenceX's multi-node processing does: the
// row says is_multinode, disagg, each role's sizes and GPU counts, and
// divides throughput by all of the deployment's GPUs (P+D), output
// throughput by the decode GPUs (all GPUs when aggregated: D = 0) and
// input throughput by the prefill GPUs. Its tp, ep and dp_attention are
// the decode pool's, the pool that sets interactivity, or the aggregated
// pool's; m's parallelism and GPU count are not read, m.Router is.
//
// The multi-node keys live where an imported InferenceX row has them, so
// that both kinds of row are one kind to the store, the exports and the
// reports: the numbers (prefill_tp, ..., num_decode_gpu) among Metrics,
// the rest (is_multinode, disagg, the dp_attention strings, router,
// kv_p2p_transfer) among Extra.
func AggregateMulti(m Meta, s topology.Shape, conc int, raw []byte) (*Row, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("multi-node row: %w", err)
	}
	if m.Router != nil && (m.Router.Name == "" || m.Router.Version == "") {
		return nil, errors.New("multi-node row: router needs both a name and a version")
	}
	shown := s.Decode
	if !s.Disaggregated() {
		shown = s.Prefill
	}
	m.TP, m.EP, m.PP, m.DPAttn = shown.TP, shown.EP, shown.PP, shown.DPAttn
	m.Conc, m.GPUs = conc, s.GPUs()
	r, rates, err := aggregateUnchecked(m, raw)
	if err != nil {
		return nil, err
	}
	p, d := s.PrefillGPUs(), s.DecodeGPUs()
	outGPUs := d
	if d == 0 {
		outGPUs = p + d
	}
	r.TputPerGPU = rates.total / float64(p+d)
	r.OutputTputPerGPU = rates.output / float64(outGPUs)
	r.InputTputPerGPU = (rates.total - rates.output) / float64(p)

	if r.Extra == nil {
		r.Extra = map[string]json.RawMessage{}
	}
	setExtra := func(k string, v any) {
		b, _ := json.Marshal(v)
		r.Extra[k] = b
	}
	setExtra("is_multinode", true)
	setExtra("disagg", s.Disaggregated())
	if s.KVTransfer != "" {
		setExtra("kv_p2p_transfer", s.KVTransfer)
	}
	if m.Router != nil {
		setExtra("router", m.Router)
	}
	role := func(name string, pool topology.Pool, present bool) {
		tp, ep, pp := pool.TP, max(pool.EP, 1), max(pool.PP, 1)
		if !present { // an aggregated deployment's decode role reads as absent
			tp, ep, pp = 0, 0, 1
		}
		r.Metrics[name+"_tp"] = float64(tp)
		r.Metrics[name+"_pp"] = float64(pp)
		r.Metrics[name+"_dcp_size"] = 1
		r.Metrics[name+"_pcp_size"] = 1
		r.Metrics[name+"_ep"] = float64(ep)
		r.Metrics[name+"_num_workers"] = float64(pool.Workers)
		setExtra(name+"_dp_attention", strconv.FormatBool(present && pool.DPAttn))
	}
	role("prefill", s.Prefill, true)
	role("decode", s.Decode, s.Disaggregated())
	r.Metrics["num_prefill_gpu"] = float64(p)
	r.Metrics["num_decode_gpu"] = float64(d)
	if err := r.Check(); err != nil {
		return nil, fmt.Errorf("client result: %w", err)
	}
	return r, nil
}

// MultiNode says whether the row is of a multi-node deployment: its
// is_multinode key is true (a bool, or the string InferenceX's older
// rows wrote).
func (r *Row) MultiNode() bool { return extraFlag(r, "is_multinode") }

// Shape names a multi-node row's deployment: p<workers>x<tp>/d<workers>x<tp>
// when disaggregated ("p1x8/d1x8"), "agg <workers>x<tp>" when its decode
// role has no GPUs; each role's pp, ep and dp attention are added when
// they are not the defaults ("p2x4pp2/d1x16ep16dpa"). It is "" for a
// single-node row.
func (r *Row) Shape() string {
	if !r.MultiNode() {
		return ""
	}
	role := func(name string) string {
		n := func(k string) int { return int(r.Metrics[name+"_"+k]) }
		s := fmt.Sprintf("%dx%d", n("num_workers"), n("tp"))
		if n("pp") > 1 {
			s += "pp" + strconv.Itoa(n("pp"))
		}
		if n("ep") > 1 {
			s += "ep" + strconv.Itoa(n("ep"))
		}
		if extraFlag(r, name+"_dp_attention") {
			s += "dpa"
		}
		return s
	}
	if r.Metrics["num_decode_gpu"] <= 0 || r.Metrics["decode_num_workers"] <= 0 {
		return "agg " + role("prefill")
	}
	return "p" + role("prefill") + "/d" + role("decode")
}

// extraFlag reads an extra key that is a bool or a "true"/"false" string.
func extraFlag(r *Row, k string) bool {
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
