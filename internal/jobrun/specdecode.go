package jobrun

import (
	"github.com/fleetbench/fleet/internal/bench/benchflags"
	"github.com/fleetbench/fleet/internal/jobspec"
)

// continuousUsage asks the server for usage in every chunk, so that the
// client knows how many tokens each chunk carried.
const continuousUsage = `{"stream_options":{"include_usage":true,"continuous_usage_stats":true}}`

// specClient sets a drafting job's client defaults, which its client_args
// may override: read the server's spec-decode counters (the acceptance
// length), and where the server can say how many tokens each chunk
// carries (vLLM, TensorRT-LLM and the simulator take continuous usage
// stats), ask for it, so that the per-token ITL divides each chunk's gap
// by its real token count rather than an even share.
func specClient(j *jobspec.Job, fl *benchflags.Flags) {
	if !j.SpecOn() {
		return
	}
	fl.Config.SpecMetrics = true
	switch j.Framework {
	case "vllm", "trt", "sim":
		fl.ExtraBody = continuousUsage
	}
}
