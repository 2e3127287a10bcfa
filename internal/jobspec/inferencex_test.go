package jobspec

import (
	"path/filepath"
	"strings"
	"testing"
)

func sampleIX() *Job {
	j := sampleJob()
	j.InferenceX = &InferenceX{
		Bundle: "../../bundles/ix-abc.tar", Workspace: "ix", Script: "benchmarks/single_node/fixed_seq_len/dsr1_fp8_h200.sh",
		Env: map[string]string{"MODEL": "deepseek-ai/DeepSeek-R1-0528", "TP": "8", "EP_SIZE": "1", "DP_ATTENTION": "false",
			"CONC": "4", "RESULT_FILENAME": "dsr1_8k1k", "RANDOM_RANGE_RATIO": "0.8", "SPEC_DECODING": "none"},
		Client: ClientInferenceX, ResultFilename: "dsr1_8k1k",
	}
	j.InferenceX.Bundle = "bundles/ix-abc.tar"
	return j
}

func TestInferenceXValidate(t *testing.T) {
	if err := sampleIX().Validate(); err != nil {
		t.Fatalf("a good section rejected: %v", err)
	}
	tests := []struct {
		name string
		edit func(x *InferenceX)
		want string
	}{
		{"bundle escapes", func(x *InferenceX) { x.Bundle = "../b.tar" }, "inferencex.bundle: \"../b.tar\": '..'"},
		{"absolute workspace", func(x *InferenceX) { x.Workspace = "/tmp/ws" }, "inferencex.workspace: \"/tmp/ws\": want a path relative"},
		{"workspace is the work dir", func(x *InferenceX) { x.Workspace = "./" }, "inferencex.workspace: \"./\": want a path below"},
		{"workspace over fleet's results", func(x *InferenceX) { x.Workspace = "results/ix" }, "the work directory's own results"},
		{"workspace with a colon", func(x *InferenceX) { x.Workspace = "ix:1" }, "',' and ':'"},
		{"bundle inside the workspace", func(x *InferenceX) { x.Bundle = "ix/b.tar" }, "inside the workspace"},
		{"script outside benchmarks", func(x *InferenceX) { x.Script = "utils/x.sh" }, "inferencex.script: \"utils/x.sh\""},
		{"script climbing out", func(x *InferenceX) { x.Script = "benchmarks/../../x.sh" }, "'..'"},
		{"result name with a slash", func(x *InferenceX) { x.ResultFilename, x.Env["RESULT_FILENAME"] = "a/b", "a/b" }, "inferencex.result_filename: \"a/b\""},
		{"no result name", func(x *InferenceX) { x.ResultFilename = ""; delete(x.Env, "RESULT_FILENAME") }, "inferencex.result_filename: missing"},
		{"an unknown client", func(x *InferenceX) { x.Client = "aiperf" }, "inferencex.client: \"aiperf\""},
		{"a bad env name", func(x *InferenceX) { x.Env["1X"] = "y" }, "inferencex.env: variable name \"1X\""},
		{"PORT is fleet's", func(x *InferenceX) { x.Env["PORT"] = "8888" }, "PORT is set by fleet"},
		{"FLEET_ names are fleet's", func(x *InferenceX) { x.Env["FLEET_BIN"] = "x" }, "FLEET_BIN is set by fleet"},
		{"the GPUs are fleet's", func(x *InferenceX) { x.Env["CUDA_VISIBLE_DEVICES"] = "0,1" }, "CUDA_VISIBLE_DEVICES is set by fleet"},
		{"no secrets in a job file", func(x *InferenceX) { x.Env["HF_TOKEN"] = "hf_x" }, "HF_TOKEN is set by fleet"},
		{"RESULT_FILENAME differs", func(x *InferenceX) { x.Env["RESULT_FILENAME"] = "other" }, "differs from result_filename"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := sampleIX()
			tt.edit(j.InferenceX)
			err := j.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestInferenceXEnv(t *testing.T) {
	j := sampleIX()
	env := j.Env()
	want := map[string]string{
		"MODEL": "deepseek-ai/DeepSeek-R1-0528", "EP_SIZE": "1", "DP_ATTENTION": "false", "SPEC_DECODING": "none",
		"RESULT_FILENAME": "dsr1_8k1k", "HF_HUB_CACHE": "/hf/hub", "PORT": "8001",
		"FLEET_WORKSPACE": "ix", "FLEET_INFERENCEX_SCRIPT": "benchmarks/single_node/fixed_seq_len/dsr1_fp8_h200.sh",
		"FLEET_INFERENCEX_ENV": "CONC DP_ATTENTION EP_SIZE HF_HUB_CACHE MODEL RANDOM_RANGE_RATIO RESULT_FILENAME SPEC_DECODING TP",
		// fleet's own contract stays for job.sh.
		"FRAMEWORK": "vllm", "EP": "1",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	// A section that sets the cache keeps it, and a job without one gets none.
	j.InferenceX.Env["HF_HUB_CACHE"] = "/mnt/hf"
	if got := j.Env()["HF_HUB_CACHE"]; got != "/mnt/hf" {
		t.Errorf("HF_HUB_CACHE %q, want the section's", got)
	}
	delete(j.InferenceX.Env, "HF_HUB_CACHE")
	j.HFHome = ""
	if got, ok := j.Env()["HF_HUB_CACHE"]; ok {
		t.Errorf("HF_HUB_CACHE %q without a cache", got)
	}
	if strings.Contains(j.Env()["FLEET_INFERENCEX_ENV"], "HF_HUB_CACHE") {
		t.Errorf("HF_HUB_CACHE passed without a value")
	}
	// Without the section, none of it.
	if _, ok := sampleJob().Env()["FLEET_WORKSPACE"]; ok {
		t.Errorf("FLEET_WORKSPACE set for a job without an inferencex section")
	}
}

func TestInferenceXRoundTrip(t *testing.T) {
	j := sampleIX()
	path := filepath.Join(t.TempDir(), "job.json")
	if err := j.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.InferenceX == nil || got.InferenceX.Script != j.InferenceX.Script || got.InferenceX.Env["EP_SIZE"] != "1" {
		t.Errorf("read back %+v", got.InferenceX)
	}
}
