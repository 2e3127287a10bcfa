package jobspec

import (
	"path"
	"strings"
)

// Agentic is how an agentic job's client replays recorded agent
// sessions (cc-traces) against the server, instead of random prompts.
type Agentic struct {
	// Trace is the cc-traces JSONL file the controller shipped, relative
	// to the work directory; Dataset is a Hugging Face dataset id whose
	// traces.jsonl the node reads from its HF cache. Exactly one is set.
	Trace   string `json:"trace,omitempty"`
	Dataset string `json:"dataset,omitempty"`
	// Duration is the profiling time of the client's run.
	Duration Duration `json:"duration"`
	// WarmupPerLane one-token requests advance each lane before
	// profiling.
	WarmupPerLane int `json:"warmup_requests_per_lane"`
	// KVOffloading (none or dram), KVOffloadBackend and DramGB say how
	// the server keeps KV off the GPU; the row records them.
	KVOffloading     string `json:"kv_offloading,omitempty"`
	KVOffloadBackend string `json:"kv_offload_backend,omitempty"`
	DramGB           int    `json:"total_cpu_dram_gb,omitempty"`
}

// AgenticTracePath is where the controller puts an agentic job's trace
// file in its work directory.
const AgenticTracePath = "traces/trace.jsonl"

func (a *Agentic) validate(bad func(field, format string, args ...any)) {
	if (a.Trace == "") == (a.Dataset == "") {
		bad("agentic", "want exactly one of trace and dataset")
	}
	if a.Trace != "" {
		c := path.Clean(a.Trace)
		if path.IsAbs(c) || c == "." || strings.HasPrefix(c, "../") || c == ".." {
			bad("agentic.trace", "%q: want a path inside the work directory", a.Trace)
		}
	}
	if a.Dataset != "" && (strings.Count(a.Dataset, "/") != 1 || strings.ContainsAny(a.Dataset, " \\\n") || strings.Contains(a.Dataset, "..")) {
		bad("agentic.dataset", "%q: want a Hugging Face dataset id, owner/name", a.Dataset)
	}
	if a.Duration <= 0 {
		bad("agentic.duration", "%s: want a positive duration", a.Duration.D())
	}
	if a.WarmupPerLane < 0 {
		bad("agentic.warmup_requests_per_lane", "%d: want 0 or more", a.WarmupPerLane)
	}
}
