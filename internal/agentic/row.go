package agentic

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/pyjson"
)

// NameVersion names a component with an optional version (an offload
// backend, a router).
type NameVersion struct {
	Name    string
	Version string // omitted when empty
}

// Role is one side of a disaggregated (multi-node) deployment.
type Role struct {
	NumWorkers  int
	TP, PP, EP  int
	DCPSize     int
	PCPSize     int
	DPAttention bool
	HW          string // optional: written as prefill_hw / decode_hw
}

func (r Role) gpus() int {
	return max(r.NumWorkers, 1) * max(r.TP, 1) * max(r.PP, 1) * max(r.PCPSize, 1)
}

// RowMeta is what the aggregated row says about the deployment; the
// replay knows none of it.
type RowMeta struct {
	HW                string // runner label
	Conc              int    // 0: the replay's lanes
	Image             string
	RecipeFingerprint string
	Model             string
	ModelPrefix       string // infmax_model_prefix
	Framework         string
	Precision         string
	SpecDecoding      string // "none" when empty
	Disagg            bool

	// Single node: TP, EP, PP, DCPSize, PCPSize, DPAttention. Multi-node
	// (Prefill and Decode set): tp and ep are derived from the roles.
	TP, EP, PP, DCPSize, PCPSize int
	DPAttention                  bool
	Prefill, Decode              *Role

	KVOffloading       string       // "none" (when empty) or "dram"
	KVOffloadBackend   *NameVersion // nil: null
	AllocatedCPUDRAMGB float64

	// Optional keys, written only when set.
	Router            *NameVersion
	KVP2PTransfer     string
	Dataset           string // the trace source; the row also says how prompts were synthesized
	Warnings          []string
	KVCachePoolTokens int

	// GPUs divides the per-GPU throughputs; 0: tp*pp*pcp on one node, the
	// sum over roles of workers*tp*pp*pcp on several.
	GPUs int
}

// obj is a JSON object with its keys in order.
type obj []kv

type kv struct {
	k string
	v any
}

func (o *obj) add(k string, v any) { *o = append(*o, kv{k, v}) }

// AggregatedRow writes InferenceX's agentic aggregation row for the
// replay (shared/reference/agentic.md 4.3 and 4.4): floats rounded to 5
// decimals, and a rounded float that is integral and at least 1 written
// as an integer. The server_metrics block is filled from r.Server when the
// caller scraped /metrics.
func (r *Result) AggregatedRow(meta RowMeta) ([]byte, error) {
	gpus := meta.GPUs
	multi := meta.Prefill != nil && meta.Decode != nil
	if gpus == 0 {
		if multi {
			gpus = meta.Prefill.gpus() + meta.Decode.gpus()
		} else {
			gpus = max(meta.TP, 1) * max(meta.PP, 1) * max(meta.PCPSize, 1)
		}
	}
	if gpus <= 0 {
		return nil, errors.New("aggregated row: no GPU count")
	}
	if (meta.Prefill != nil) != (meta.Decode != nil) {
		return nil, errors.New("aggregated row: a multi-node row needs both the prefill and the decode role")
	}
	st := &r.Stats
	o := obj{}
	o.add("hw", meta.HW)
	o.add("conc", cmp(meta.Conc, r.Concurrency))
	o.add("image", meta.Image)
	o.add("recipe_fingerprint", meta.RecipeFingerprint)
	o.add("model", cmpS(meta.Model, r.Model))
	o.add("infmax_model_prefix", meta.ModelPrefix)
	o.add("framework", meta.Framework)
	o.add("precision", meta.Precision)
	o.add("spec_decoding", cmpS(meta.SpecDecoding, "none"))
	o.add("disagg", meta.Disagg)
	o.add("scenario_type", "agentic-coding")
	o.add("is_multinode", multi)
	tp, ep := meta.TP, meta.EP
	if multi {
		tp, ep = meta.Prefill.TP+meta.Decode.TP, max(meta.Prefill.EP, meta.Decode.EP)
	}
	o.add("tp", tp)
	o.add("ep", ep)
	o.add("dp_attention", meta.DPAttention)
	o.add("kv_offloading", cmpS(meta.KVOffloading, "none"))
	o.add("kv_offload_backend", nameVersion(meta.KVOffloadBackend))
	o.add("allocated_cpu_dram_gb", meta.AllocatedCPUDRAMGB)
	o.add("num_requests_total", st.Profiled)
	o.add("num_requests_successful", st.Successful)
	cats := obj{}
	keys := make([]string, 0, len(st.ErrorCategories))
	for k := range st.ErrorCategories {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		cats.add(k, st.ErrorCategories[k])
	}
	o.add("request_accounting", obj{
		{"records_total", st.RecordsTotal},
		{"records_profiled", st.Successful},
		{"records_dropped_total", st.Warmup + st.Errors},
		{"records_warmup_dropped", st.Warmup},
		{"records_error_dropped", st.Errors},
		{"error_categories", cats},
	})
	if multi {
		for _, side := range []struct {
			name string
			r    *Role
		}{{"prefill", meta.Prefill}, {"decode", meta.Decode}} {
			p := side.name + "_"
			o.add(p+"num_workers", side.r.NumWorkers)
			o.add(p+"tp", side.r.TP)
			o.add(p+"pp", side.r.PP)
			o.add(p+"dcp_size", side.r.DCPSize)
			o.add(p+"pcp_size", side.r.PCPSize)
			o.add(p+"ep", side.r.EP)
			o.add(p+"dp_attention", side.r.DPAttention)
			o.add("num_"+side.name+"_gpu", side.r.gpus())
			if side.r.HW != "" {
				o.add(p+"hw", side.r.HW)
			}
		}
	} else {
		o.add("pp", meta.PP)
		o.add("dcp_size", meta.DCPSize)
		o.add("pcp_size", meta.PCPSize)
	}
	if meta.Router != nil {
		o.add("router", nameVersion(meta.Router))
	}
	if meta.KVP2PTransfer != "" {
		o.add("kv_p2p_transfer", meta.KVP2PTransfer)
	}
	o.add("dataset", obj{{"source", meta.Dataset}, {"prompt_format", r.Prompts}})
	if len(meta.Warnings) > 0 {
		o.add("warnings", meta.Warnings)
	}
	if meta.KVCachePoolTokens > 0 {
		o.add("kv_cache_pool_tokens", meta.KVCachePoolTokens)
	}
	o.add("request_metrics", r.requestMetrics(gpus))
	o.add("server_metrics", r.serverMetrics())
	return appendValue(nil, o, 0), nil
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func cmpS(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func nameVersion(n *NameVersion) any {
	if n == nil {
		return nil
	}
	o := obj{{"name", n.Name}}
	if n.Version != "" {
		o.add("version", n.Version)
	}
	return o
}

// stats is {mean, p50, p75, p90, p95, std} of d.
func stats(d Dist) obj {
	return obj{{"mean", d.Mean}, {"p50", d.P50}, {"p75", d.P75}, {"p90", d.P90}, {"p95", d.P95}, {"std", d.Std}}
}

// inverse is 1/stat of a latency distribution, with the standard
// deviation of the per-request inverses (so p90 is the slow tail).
func inverse(d, perRequest Dist) obj {
	inv := func(x float64) float64 {
		if x == 0 {
			return 0
		}
		return 1 / x
	}
	return obj{{"mean", inv(d.Mean)}, {"p50", inv(d.P50)}, {"p75", inv(d.P75)}, {"p90", inv(d.P90)}, {"p95", inv(d.P95)}, {"std", perRequest.Std}}
}

func (r *Result) requestMetrics(gpus int) obj {
	st := &r.Stats
	q := obj{{"window_seconds", 1.0}, {"samples", st.QPSWindows}}
	q = append(q, stats(st.QPS)...)
	in, out := float64(st.InputTokens), float64(st.OutputTokens)
	tps := func(x float64) float64 {
		if st.Duration <= 0 {
			return 0
		}
		return x / st.Duration
	}
	g := float64(gpus)
	return obj{
		{"qps", q},
		{"latency", obj{
			{"ttft", stats(st.TTFT)},
			{"e2el", stats(st.E2EL)},
			{"itl", stats(st.ITL)},
			{"tpot", stats(st.ITL)},
			{"intvty", inverse(st.ITL, st.Intvty)},
			{"e2e_norm_intvty", inverse(st.E2ENorm, st.E2ENormIntvty)},
			{"full_response_itl", stats(st.FullITL)},
			{"full_response_intvty", inverse(st.FullITL, st.FullIntvty)},
		}},
		{"tokens", obj{{"input", st.InputTokens}, {"output_actual", st.OutputTokens}, {"output_expected", st.OutputExpected}}},
		{"throughput", obj{
			{"input", obj{{"tokens_per_second", tps(in)}}},
			{"output", obj{{"tokens_per_second", tps(out)}}},
			{"total", obj{{"tokens_per_second", tps(in + out)}}},
			{"duration_seconds", st.Duration},
			{"per_gpu", obj{{"total_tput_tps", tps(in+out) / g}, {"output_tput_tps", tps(out) / g}, {"input_tput_tps", tps(in) / g}}},
		}},
		{"cache", obj{{"theoretical_cache_hit_rate", st.TheoreticalHitRate()}}},
	}
}

func (r *Result) serverMetrics() obj {
	m := r.Server
	if m == nil {
		return obj{{"present", false}}
	}
	c := func(name string) any {
		if v, ok := m.counter(name); ok {
			return v
		}
		return nil
	}
	gauge := func(name string) any {
		if v, ok := m.Gauges[name]; ok {
			return v
		}
		return nil
	}
	// vLLM has no CPU-tier rate of its own: offload hits are external.
	cache := obj{{"gpu_cache_hit_rate", nil}, {"cpu_cache_hit_rate", nil}, {"external_cache_hit_rate", nil}, {"overall_cache_hit_rate", nil}}
	if gpu, ext, overall, ok := m.CacheHitRates(); ok {
		cache[0].v, cache[2].v, cache[3].v = gpu, ext, overall
	}
	bySource := obj{}
	for _, s := range []string{sourceLocalHit, sourceExternal, sourceLocalCompu} {
		if v, ok := m.counter(mBySource + "{" + s + "}"); ok {
			bySource.add(s, v)
		}
	}
	var bySourceV any
	if len(bySource) > 0 {
		bySourceV = bySource
	}
	cache = append(cache, obj{
		{"prefix_cache_hits", c(mPrefixHits)},
		{"prefix_cache_queries", c(mPrefixQueries)},
		{"external_prefix_cache_hits", c(mExtHits)},
		{"external_prefix_cache_queries", c(mExtQueries)},
		{"cached_tokens_by_source", bySourceV},
		{"frontend_cache_hit_rate", nil},
		{"router_kv_hit_rate", nil},
		{"router_shared_cache_hit_rate", nil},
		{"frontend_cached_tokens", nil},
		{"frontend_input_tokens", nil},
	}...)
	usage := gauge(mKVUsage)
	if usage == nil {
		usage = gauge(mKVUsageOld)
	}
	var promptBySource any
	if len(bySource) > 0 {
		promptBySource = obj{{"gpu_cache_hit", c(mBySource + "{" + sourceLocalHit + "}")},
			{"cpu_or_external_cache_hit", c(mBySource + "{" + sourceExternal + "}")},
			{"computed", c(mBySource + "{" + sourceLocalCompu + "}")},
			{"raw", bySource}}
	}
	return obj{
		{"present", true},
		{"adapter", "vllm"},
		{"metric_count", m.MetricCount},
		{"cache", cache},
		{"kv_cache", obj{{"gpu_usage_pct", usage}, {"gpu_total_tokens", nil}, {"cpu_usage_pct", gauge(mCPUKVUsage)}, {"cpu_used_tokens", nil}, {"cpu_total_tokens", nil}}},
		{"tokens", obj{{"prompt_total", c(mPromptTokens)}, {"generation_total", c(mGenTokens)}, {"requests_completed", c(mRequestSuccess)}, {"prompt_by_source", promptBySource}}},
	}
}

// roundRow rounds f as Python's round(f, 5) does (the exact binary value
// rounded half to even), and reports whether the result is an integer of
// at least 1, which the row writes without a fraction.
func roundRow(f float64) (float64, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return f, false
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 5, 64), 64)
	return r, r >= 1 && r == math.Trunc(r) && r < 1<<53
}

// appendValue writes v as Python's json.dumps(indent=2) does.
func appendValue(dst []byte, v any, depth int) []byte {
	nl := func(d int) {
		dst = append(dst, '\n')
		dst = append(dst, strings.Repeat("  ", d)...)
	}
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, v)
	case int:
		return strconv.AppendInt(dst, int64(v), 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case float64:
		r, integral := roundRow(v)
		if integral {
			return strconv.AppendInt(dst, int64(r), 10)
		}
		return pyjson.AppendFloat(dst, r)
	case string:
		return pyjson.AppendString(dst, v)
	case []string:
		if len(v) == 0 {
			return append(dst, "[]"...)
		}
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			nl(depth + 1)
			dst = pyjson.AppendString(dst, s)
		}
		nl(depth)
		return append(dst, ']')
	case obj:
		if len(v) == 0 {
			return append(dst, "{}"...)
		}
		dst = append(dst, '{')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			nl(depth + 1)
			dst = pyjson.AppendString(dst, e.k)
			dst = append(dst, ": "...)
			dst = appendValue(dst, e.v, depth+1)
		}
		nl(depth)
		return append(dst, '}')
	}
	panic(fmt.Sprintf("row: no JSON for %T", v))
}
