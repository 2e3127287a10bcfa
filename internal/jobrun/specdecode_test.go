package jobrun

import (
	"testing"
)

func TestDraftingJobsClientDefaults(t *testing.T) {
	tests := []struct {
		name, framework, spec string
		args                  []string
		metrics               bool
		extraBody             string
	}{
		{"no spec: as before", "sim", "", nil, false, ""},
		{"spec none: as before", "vllm", "none", nil, false, ""},
		{"drafting on sim: counters and per-chunk token counts", "sim", "mtp", nil, true, continuousUsage},
		{"drafting on SGLang: counters only (continuous usage is not its wire)", "sglang", "mtp", nil, true, ""},
		{"client_args override the extra body", "vllm", "eagle3", []string{"--extra-body", `{"top_k":1}`}, true, `{"top_k":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := testJob(8000, "")
			j.Framework, j.Spec, j.ClientArgs = tt.framework, tt.spec, tt.args
			if j.SpecOn() {
				j.SpecTokens, j.DraftModel = 3, "d"
			}
			fl, err := (&runner{j: j, port: 8000}).benchFlags()
			must(t, err)
			if fl.Config.SpecMetrics != tt.metrics || string(fl.Config.ExtraBody) != tt.extraBody {
				t.Errorf("spec metrics %t, extra body %s; want %t, %s", fl.Config.SpecMetrics, fl.Config.ExtraBody, tt.metrics, tt.extraBody)
			}
		})
	}
}
