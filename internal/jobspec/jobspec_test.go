package jobspec

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleJob() *Job {
	return &Job{
		RunID: "run1", JobID: "cfg/1k1k/tp8/conc4", Node: "node1",
		Model: "meta/Test-Model", Image: "vllm/vllm-openai:v0.10.2", Framework: "vllm", Precision: "fp8",
		TP: 8, EP: 0, PP: 1, DPAttn: true, Conc: 4, ISL: 1024, OSL: 1024, MaxModelLen: 2304,
		RangeRatio: 0.8, NumPrompts: 40, NumWarmups: 8, Percentiles: []float64{90, 99.9},
		ResultFilename: "m_1k1k_fp8_vllm_tp8_conc4_node1", Port: 8001, GPUCount: 8, Devices: []int{2, 3},
		ServerArgs: []string{"--enforce-eager", "a b"}, ClientArgs: []string{"--seed", "7"},
		Runtime: "docker", GPUType: "h200", HFHome: "/hf",
		HealthTimeout: Duration(20 * time.Minute), BenchTimeout: Duration(90 * time.Second),
		ExtraEnv: map[string]string{"VLLM_X": "1", "TP": "overridden by the contract"},
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	j := sampleJob()
	path := filepath.Join(t.TempDir(), ".fleet", "job.json")
	if err := j.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := j.Marshal()
	b, _ := got.Marshal()
	if !bytes.Equal(a, b) {
		t.Errorf("read back differs:\n%s\nwant\n%s", b, a)
	}
	if !strings.Contains(string(a), `"health_timeout": "20m0s"`) {
		t.Errorf("durations are not written as Go durations:\n%s", a)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left beside the job file: %v", entries)
	}
}

func TestReadRejects(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Job)
		raw    string // instead of a job, this file content
		fields []string
	}{
		{name: "missing model and framework", edit: func(j *Job) { j.Model, j.Framework = "", "" }, fields: []string{"model: missing", "framework: missing"}},
		{name: "a framework that is a path", edit: func(j *Job) { j.Framework = "../x" }, fields: []string{"framework:"}},
		{name: "result name with a slash", edit: func(j *Job) { j.ResultFilename = "a/b" }, fields: []string{"result_filename:"}},
		{name: "no port", edit: func(j *Job) { j.Port = 0 }, fields: []string{"port: 0"}},
		{name: "zero timeouts", edit: func(j *Job) { j.HealthTimeout, j.BenchTimeout = 0, 0 }, fields: []string{"health_timeout", "bench_timeout"}},
		{name: "a line break in a server arg", edit: func(j *Job) { j.ServerArgs = []string{"a\nb"} }, fields: []string{"server_args"}},
		{name: "a bad env name", edit: func(j *Job) { j.ExtraEnv = map[string]string{"1X": "y"} }, fields: []string{"env: variable name \"1X\""}},
		{name: "an unknown field", raw: `{"job_id":"j","surprise":1}`, fields: []string{`unknown field "surprise"`}},
		{name: "a bad duration", raw: `{"health_timeout":"soon"}`, fields: []string{"want a duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "job.json")
			if tt.raw != "" {
				if err := os.WriteFile(path, []byte(tt.raw), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				j := sampleJob()
				tt.edit(j)
				if err := j.Write(path); err == nil {
					t.Fatal("Write accepted an invalid job")
				}
				b, _ := jsonOf(j)
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Read(path)
			if err == nil {
				t.Fatal("Read accepted it")
			}
			for _, f := range tt.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name %q", err, f)
				}
			}
		})
	}
}

func TestDurationReadsSeconds(t *testing.T) {
	var d Duration
	if err := d.UnmarshalJSON([]byte("1.5")); err != nil || d.D() != 1500*time.Millisecond {
		t.Errorf("1.5 read as %v (%v)", d.D(), err)
	}
}

func TestEnvContract(t *testing.T) {
	got := sampleJob().Env()
	want := map[string]string{
		"VLLM_X": "1", "FLEET_RUN_ID": "run1", "FLEET_JOB_ID": "cfg/1k1k/tp8/conc4", "FLEET_NODE": "node1", "FLEET_BIN": "./bin/fleet",
		"MODEL": "meta/Test-Model", "IMAGE": "vllm/vllm-openai:v0.10.2", "FRAMEWORK": "vllm", "PRECISION": "fp8",
		"TP": "8", "EP": "1", "PP": "1", "DP_ATTN": "true", "CONC": "4", "ISL": "1024", "OSL": "1024", "MAX_MODEL_LEN": "2304",
		"RANDOM_RANGE_RATIO": "0.8", "NUM_PROMPTS": "40", "NUM_WARMUPS": "8", "PERCENTILES": "90,99.9",
		"RESULT_FILENAME": "m_1k1k_fp8_vllm_tp8_conc4_node1", "PORT": "8001", "GPU_COUNT": "8",
		"SERVER_ARGS": "--enforce-eager\na b", "CLIENT_ARGS": "--seed\n7", "RUNTIME": "docker", "GPU_TYPE": "h200",
		"HEALTH_TIMEOUT": "1200", "BENCH_TIMEOUT": "90", "HF_HOME": "/hf",
		"GPUS": "2,3", "CUDA_VISIBLE_DEVICES": "2,3", "HIP_VISIBLE_DEVICES": "2,3",
	}
	if !maps.Equal(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected %s = %q", k, got[k])
			}
		}
	}
	j := sampleJob()
	j.Devices, j.HFHome, j.Percentiles = nil, "", nil
	env := j.Env()
	for _, k := range []string{"GPUS", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "HF_HOME"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s set without devices or a cache", k)
		}
	}
	if env["PERCENTILES"] != "90,99,99.9" {
		t.Errorf("PERCENTILES = %q without percentiles, want InferenceX's 90,99,99.9", env["PERCENTILES"])
	}
}

func TestExitTable(t *testing.T) {
	seen := map[int]bool{}
	names := map[string]bool{}
	for _, e := range Exits() {
		if seen[e.Code] || names[e.Name] {
			t.Errorf("code %d or name %q twice", e.Code, e.Name)
		}
		seen[e.Code], names[e.Name] = true, true
		if e.Machine && !e.Retry {
			t.Errorf("%s: the machine is to blame but fleet does not retry", e.Name)
		}
	}
	for _, tt := range []struct {
		code           int
		retry, machine bool
		says           string
	}{
		{ExitGPUsBusy, true, true, "GPUs were busy"},
		{ExitPortClash, true, false, "address already in use"},
		{ExitServerDied, false, false, "server died during the benchmark"},
		{ExitFailureRatio, false, false, "too many failed requests"},
		{ExitServerExited, false, false, "server exited before it became healthy"},
	} {
		e, ok := Lookup(tt.code)
		if !ok || e.Retry != tt.retry || e.Machine != tt.machine || !strings.Contains(Describe(tt.code), tt.says) {
			t.Errorf("code %d: %+v, want retry %v machine %v and %q", tt.code, e, tt.retry, tt.machine, tt.says)
		}
	}
	if got := Describe(42); got != "job failed: exit 42" {
		t.Errorf("Describe(42) = %q", got)
	}
}

// TestGeneratedFilesCurrent fails when scripts/lib/exitcodes.sh or the
// table in scripts/README.md differs from the Go table: run
// `go generate ./internal/jobspec`.
func TestGeneratedFilesCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	sh, err := os.ReadFile(filepath.Join(root, "scripts", "lib", "exitcodes.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sh, ShellFile()) {
		t.Errorf("scripts/lib/exitcodes.sh is stale (go generate ./internal/jobspec):\n%s\nwant\n%s", sh, ShellFile())
	}
	readme, err := os.ReadFile(filepath.Join(root, "scripts", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReplaceREADMETable(readme)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readme, want) {
		t.Errorf("the exit code table in scripts/README.md is stale (go generate ./internal/jobspec); want:\n%s", READMETable())
	}
}

func TestProgressLines(t *testing.T) {
	p := Progress{Phase: PhaseBenchmark, Port: 8001, Done: 12, Total: 40, Failed: 1, TokensPerSec: 1234.5, Elapsed: 3.25}
	line := FormatProgress(p)
	if got, ok := ParseProgress(line + "\r\n"); !ok || got != p {
		t.Errorf("ParseProgress(%q) = %+v, %v", line, got, ok)
	}
	for _, tt := range []struct {
		name, line string
	}{
		{"a log line", "[fleet-job 10:00:00] starting vllm server"},
		{"prefix without JSON", ProgressPrefix + "hello"},
		{"prefix not at the start", "x " + FormatProgress(p)},
		{"no phase", ProgressPrefix + `{"done":3}`},
		{"too long", ProgressPrefix + `{"phase":"benchmark","x":"` + strings.Repeat("a", MaxProgressLine) + `"}`},
	} {
		if got, ok := ParseProgress(tt.line); ok {
			t.Errorf("%s: parsed as progress: %+v", tt.name, got)
		}
	}
}

func jsonOf(j *Job) ([]byte, error) { return json.Marshal(j) }
