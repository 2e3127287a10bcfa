package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/fleetbench/fleet/internal/topology"
)

// fingerprintJob is a fleet job whose fingerprint is pinned below: a
// change to it changes which stored results every sweep reuses.
func fingerprintJob() *Job {
	return &Job{
		ID: "dsr1-fp8-h200-sglang_1k1k_tp8-ep1-dpafalse_conc4", Config: "dsr1-fp8-h200-sglang", ModelPrefix: "dsr1", Seq: "1k1k",
		Model: "deepseek-ai/DeepSeek-R1-0528", Image: "lmsysorg/sglang:v0.5.6", Framework: "sglang", Precision: "fp8", GPU: "h200",
		Runner: []string{"h200"}, TP: 8, EP: 1, PP: 1, ISL: 1024, OSL: 1024, MaxModelLen: 2304, Conc: 4,
		ServerArgs: []string{"--mem-fraction-static", "0.8"}, Env: map[string]string{"SGLANG_X": "1"},
		RangeRatio: 0.8, NumPrompts: 40, NumWarmups: 8, Percentiles: []float64{50, 99}, Node: "gpu1", Candidates: []string{"gpu1", "gpu2"},
	}
}

// wantJobFingerprint is fingerprintJob's: the SHA-256 of
// {"agentic":null,"client_args":[],"dp_attn":false,"env":{"SGLANG_X":"1"},"ep":1,"framework":"sglang","gpu":"h200",
// "image":"lmsysorg/sglang:v0.5.6","isl":1024,"max_model_len":2304,"model":"deepseek-ai/DeepSeek-R1-0528","multi":null,
// "osl":1024,"percentiles":[50,99],"pp":1,"precision":"fp8","prompts_per_conc":10,"range_ratio":0.8,
// "server_args":["--mem-fraction-static","0.8"],"spec":"","tp":8,"warmups_per_conc":2} (no spaces or line breaks).
const wantJobFingerprint = "7aed8c79a4f6fb81f30d5ab68203f590d68377116167bc5a3ebd2c49ef827045"

func TestFingerprintVector(t *testing.T) {
	got, err := Fingerprint(fingerprintJob())
	if err != nil || got != wantJobFingerprint {
		t.Fatalf("Fingerprint = %s, %v; want %s", got, err, wantJobFingerprint)
	}
	canonical := `{"agentic":null,"client_args":[],"dp_attn":false,"env":{"SGLANG_X":"1"},"ep":1,"framework":"sglang","gpu":"h200",` +
		`"image":"lmsysorg/sglang:v0.5.6","isl":1024,"max_model_len":2304,"model":"deepseek-ai/DeepSeek-R1-0528","multi":null,` +
		`"osl":1024,"percentiles":[50,99],"pp":1,"precision":"fp8","prompts_per_conc":10,"range_ratio":0.8,` +
		`"server_args":["--mem-fraction-static","0.8"],"spec":"","tp":8,"warmups_per_conc":2}`
	sum := sha256.Sum256([]byte(canonical))
	if hex.EncodeToString(sum[:]) != wantJobFingerprint {
		t.Errorf("the documented canonical form does not hash to the pinned fingerprint")
	}
}

// The reference's worked example: an InferenceX job has its row's
// fingerprint, computed when the row carries none and taken as given
// when it does.
func TestFingerprintInferenceX(t *testing.T) {
	const row = `{"image":"lmsysorg/sglang:v0.5.16-cu130","model":"nvidia/DeepSeek-R1-0528-FP4-V2","model-prefix":"dsr1","precision":"fp4","framework":"sglang","runner":"b200","isl":8192,"osl":1024,"tp":4,"pp":1,"dcp-size":1,"pcp-size":1,"conc":1,"max-model-len":9472,"ep":1,"dp-attn":false,"spec-decoding":"none","exp-name":"dsr1_8k1k","disagg":false,"run-eval":false}`
	var ix inferencex.Job
	if err := json.Unmarshal([]byte(row), &ix); err != nil {
		t.Fatal(err)
	}
	j := &Job{ID: "x", InferenceX: &ix, GPU: "b200", Conc: 1}
	const want = "a0b83a5b8efc84ac94f3f1681b70aa1b31298d01b41105148fb190e120468aa6"
	if got, err := Fingerprint(j); err != nil || got != want {
		t.Fatalf("Fingerprint = %s, %v; want %s", got, err, want)
	}
	given := *j
	ixGiven := ix
	ixGiven.RecipeFingerprint = "ffff"
	given.InferenceX = &ixGiven
	if got, _ := Fingerprint(&given); got != "ffff" {
		t.Errorf("Fingerprint of a row carrying one = %s, want the row's", got)
	}
}

func TestFingerprintFields(t *testing.T) {
	base, err := Fingerprint(fingerprintJob())
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := Fingerprint(fingerprintJob()); again != base {
		t.Fatalf("same job, two fingerprints: %s, %s", base, again)
	}
	tests := []struct {
		name    string
		edit    func(*Job)
		changes bool
	}{
		{"model", func(j *Job) { j.Model = "other" }, true},
		{"image", func(j *Job) { j.Image = "lmsysorg/sglang:v0.5.7" }, true},
		{"framework", func(j *Job) { j.Framework = "vllm" }, true},
		{"precision", func(j *Job) { j.Precision = "fp4" }, true},
		{"gpu", func(j *Job) { j.GPU = "b200" }, true},
		{"tp", func(j *Job) { j.TP = 4 }, true},
		{"ep", func(j *Job) { j.EP = 8 }, true},
		{"pp", func(j *Job) { j.PP = 2 }, true},
		{"dp_attn", func(j *Job) { j.DPAttn = true }, true},
		{"isl", func(j *Job) { j.ISL = 8192 }, true},
		{"osl", func(j *Job) { j.OSL = 8192 }, true},
		{"max_model_len", func(j *Job) { j.MaxModelLen = 4096 }, true},
		{"server_args", func(j *Job) { j.ServerArgs = append(j.ServerArgs, "--x") }, true},
		{"env", func(j *Job) { j.Env["SGLANG_X"] = "2" }, true},
		{"spec", func(j *Job) { j.Spec = "mtp" }, true},
		{"range_ratio", func(j *Job) { j.RangeRatio = 1 }, true},
		{"prompts per conc", func(j *Job) { j.NumPrompts = 80 }, true},
		{"warmups per conc", func(j *Job) { j.NumWarmups = 4 }, true},
		{"percentiles", func(j *Job) { j.Percentiles = []float64{99} }, true},
		{"client_args", func(j *Job) { j.ClientArgs = []string{"--x"} }, true},
		{"multi-node shape", func(j *Job) {
			j.Multi = &topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 8}, Decode: topology.Pool{Workers: 1, TP: 8}}
		}, true},
		{"agentic spec", func(j *Job) { j.Agentic = &AgenticSpec{Trace: "/t", DurationS: 60, KVOffloading: "none"} }, true},
		// The concurrency, names and where the job runs do not count.
		{"conc", func(j *Job) { j.Conc, j.NumPrompts, j.NumWarmups = 64, 640, 128 }, false},
		{"id and config", func(j *Job) { j.ID, j.Config, j.ModelPrefix, j.Seq = "a", "b", "c", "d" }, false},
		{"node", func(j *Job) { j.Node, j.Candidates, j.Runner = "gpu9", nil, []string{"h200-lab"} }, false},
		{"defaults", func(j *Job) { j.EP, j.PP = 0, 0 }, false},
		{"fingerprint", func(j *Job) { j.Fingerprint = "x" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := fingerprintJob()
			tt.edit(j)
			got, err := Fingerprint(j)
			if err != nil {
				t.Fatal(err)
			}
			if changed := got != base; changed != tt.changes {
				t.Errorf("fingerprint changed = %v, want %v", changed, tt.changes)
			}
		})
	}
}

func TestSetFingerprints(t *testing.T) {
	a, b := fingerprintJob(), fingerprintJob()
	b.Conc, b.NumPrompts, b.NumWarmups = 8, 80, 16
	c := fingerprintJob()
	c.TP = 4
	if err := SetFingerprints([]*Job{a, b, c}); err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint == "" || a.Fingerprint != b.Fingerprint || a.Fingerprint == c.Fingerprint {
		t.Errorf("fingerprints %q %q %q: want the first two equal, the third apart", a.Fingerprint, b.Fingerprint, c.Fingerprint)
	}
}
