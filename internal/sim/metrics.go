package sim

import (
	"fmt"
	"net/http"
	"strings"
)

// metrics answers GET /metrics in Prometheus' text format, with vLLM's
// names where vLLM has the figure and fleet_sim_ ones for the KV link.
func (s *Server) metrics(w http.ResponseWriter, _ *http.Request) {
	st := s.Stats()
	labels := fmt.Sprintf(`{model_name=%q,role=%q}`, s.cfg.ServedModelName, s.cfg.Role)
	var usage float64
	if c := s.cfg.KVCapacityTokens; c > 0 {
		usage = float64(st.KVUsedTokens) / float64(c)
	}
	var b strings.Builder
	metric := func(name, typ, help string, v any) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s%s %v\n", name, help, name, typ, name, labels, v)
	}
	metric("vllm:num_requests_running", "gauge", "Sequences in the engine's batch.", st.Running)
	metric("vllm:num_requests_waiting", "gauge", "Sequences waiting for a batch slot or KV.", st.Waiting)
	metric("vllm:kv_cache_usage_perc", "gauge", "Fraction of the KV capacity reserved (0 when unlimited).", usage)
	metric("vllm:prompt_tokens_total", "counter", "Prompt tokens of accepted requests.", st.PromptTokens)
	metric("vllm:generation_tokens_total", "counter", "Tokens sent.", st.OutputTokens)
	metric("fleet_sim_requests_completed_total", "counter", "Requests answered in full.", st.Completed)
	metric("fleet_sim_kv_used_tokens", "gauge", "KV reserved, in tokens.", st.KVUsedTokens)
	metric("fleet_sim_kv_held_requests", "gauge", "Prefill: requests whose KV waits for a decode.", st.KVHeld)
	metric("fleet_sim_kv_transfer_bytes_total", "counter", "Decode: KV bytes moved over the link.", st.TransferBytes)
	metric("fleet_sim_kv_transfer_seconds_total", "counter", "Decode: time spent moving KV, queueing for the link included.", st.TransferSeconds)
	metric("fleet_sim_kv_transfers_total", "counter", "Decode: KV transfers completed.", st.Transfers)
	metric("fleet_sim_kv_transfer_errors_total", "counter", "Decode: KV pulls or releases that failed.", st.TransferErrors)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
