package sim

import (
	"fmt"
	"net/http"
	"strings"
)

// metrics answers GET /metrics in Prometheus' text format, with vLLM's
// names where vLLM has the figure (counters carry vLLM's _total samples,
// labelled by model_name as vLLM does) and fleet_sim_ ones for the KV link
// and the CPU tier's traffic. Every role serves the same families; the
// prefix-cache ones stay 0 without prefix caching.
func (s *Server) metrics(w http.ResponseWriter, _ *http.Request) {
	st := s.Stats()
	labels := fmt.Sprintf(`{model_name=%q,role=%q}`, s.cfg.ServedModelName, s.cfg.Role)
	var usage, cpuUsage float64
	if c := s.cfg.KVCapacityTokens; c > 0 {
		usage = float64(st.KVUsedTokens) / float64(c)
	}
	if s.eng != nil && s.eng.cache != nil {
		// vLLM's usage: blocks running sequences hold; cached blocks
		// nobody uses count as free.
		if c := s.eng.cache.gpuCap; c > 0 {
			usage = float64(st.KVCacheBlocksUsed) / float64(c)
		}
		if c := s.eng.cache.cpuCap; c > 0 {
			cpuUsage = float64(st.KVCPUBlocksUsed) / float64(c)
		}
	}
	var b strings.Builder
	metric := func(name, typ, help string, v any) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s%s %v\n", name, help, name, typ, name, labels, v)
	}
	metric("vllm:num_requests_running", "gauge", "Sequences in the engine's batch.", st.Running)
	metric("vllm:num_requests_waiting", "gauge", "Sequences waiting for a batch slot or KV.", st.Waiting)
	metric("vllm:kv_cache_usage_perc", "gauge", "Fraction of the KV capacity reserved (0 when unlimited).", usage)
	metric("vllm:cpu_kv_cache_usage_perc", "gauge", "Fraction of the CPU KV tier filled (0 without one).", cpuUsage)
	metric("vllm:prompt_tokens_total", "counter", "Prompt tokens of accepted requests.", st.PromptTokens)
	metric("vllm:generation_tokens_total", "counter", "Tokens sent.", st.OutputTokens)
	metric("vllm:prefix_cache_queries_total", "counter", "Prompt tokens looked up in the prefix cache.", st.PrefixQueries)
	metric("vllm:prefix_cache_hits_total", "counter", "Prompt tokens found in the GPU prefix cache.", st.PrefixHits)
	metric("vllm:external_prefix_cache_queries_total", "counter", "Prompt tokens looked up in the CPU tier.", st.ExternalQueries)
	metric("vllm:external_prefix_cache_hits_total", "counter", "Prompt tokens found in the CPU tier.", st.ExternalHits)
	name := "vllm:prompt_tokens_by_source_total"
	fmt.Fprintf(&b, "# HELP %s Prompt tokens by where their KV came from.\n# TYPE %s counter\n", name, name)
	for _, src := range []struct {
		label string
		v     int64
	}{{"local_cache_hit", st.PromptLocalHit}, {"external_kv_transfer", st.PromptExternal}, {"local_compute", st.PromptComputed}} {
		fmt.Fprintf(&b, "%s{model_name=%q,role=%q,source=%q} %d\n", name, s.cfg.ServedModelName, s.cfg.Role, src.label, src.v)
	}
	var offloadBytes, offloadSeconds, loadBytes float64
	if s.eng != nil && s.eng.cache != nil {
		blockBytes := float64(s.cfg.KVBlockSize) * float64(s.cfg.KVBytesPerToken)
		offloadBytes = float64(st.KVOffloadedBlocks) * blockBytes
		offloadSeconds = offloadBytes / s.cfg.KVD2HBandwidth * s.cfg.TimeScale
		loadBytes = float64(st.KVLoadedBlocks) * blockBytes
	}
	metric("fleet_sim_kv_offload_bytes_gpu_to_cpu_total", "counter", "KV bytes copied to the CPU tier on eviction.", offloadBytes)
	metric("fleet_sim_kv_offload_seconds_gpu_to_cpu_total", "counter", "Modelled time of those copies (overlapped with compute, not charged).", offloadSeconds)
	metric("fleet_sim_kv_offload_bytes_cpu_to_gpu_total", "counter", "KV bytes loaded back from the CPU tier.", loadBytes)
	metric("fleet_sim_kv_offload_seconds_cpu_to_gpu_total", "counter", "Time requests waited for those loads, queueing included.", st.KVLoadSeconds)
	metric("fleet_sim_requests_completed_total", "counter", "Requests answered in full.", st.Completed)
	metric("fleet_sim_kv_used_tokens", "gauge", "KV reserved, in tokens.", st.KVUsedTokens)
	metric("fleet_sim_kv_held_requests", "gauge", "Prefill: requests whose KV waits for a decode.", st.KVHeld)
	metric("fleet_sim_kv_transfer_bytes_total", "counter", "Decode: KV bytes moved over the link.", st.TransferBytes)
	metric("fleet_sim_kv_transfer_seconds_total", "counter", "Decode: time spent moving KV, queueing for the link included.", st.TransferSeconds)
	metric("fleet_sim_kv_transfers_total", "counter", "Decode: KV transfers completed.", st.Transfers)
	metric("fleet_sim_kv_transfer_errors_total", "counter", "Decode: KV pulls or releases that failed.", st.TransferErrors)
	s.spec.specMetrics(&b, labels)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
