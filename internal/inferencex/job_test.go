package inferencex

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Rows of each kind as InferenceX's generator writes them.
var generatorRows = []struct {
	name, row string
	multi     bool
	conc      []int
}{
	{"single-node", exampleRow, false, []int{1}},
	{"single-node eval-only with router", `{"image":"i","model":"m","model-prefix":"p","precision":"fp8","framework":"vllm","runner":"h200","isl":8192,"osl":1024,"tp":8,"pp":1,"dcp-size":4,"pcp-size":1,"conc":32,"max-model-len":9472,"ep":1,"dp-attn":false,"spec-decoding":"none","exp-name":"p_8k1k","disagg":false,"run-eval":true,"router":{"name":"r","version":"1"},"eval-only":true}`, false, []int{32}},
	{"multi-node", `{"image":"i","model":"m","model-prefix":"p","precision":"fp4","framework":"dynamo-trt","runner":"gb200","isl":8192,"osl":1024,"spec-decoding":"mtp","prefill":{"num-worker":1,"tp":4,"ep":4,"dp-attn":true,"additional-settings":["CONFIG_FILE=x.yaml"],"pp":1,"dcp-size":1,"pcp-size":1},"decode":{"num-worker":4,"tp":8,"ep":8,"dp-attn":false,"pp":1,"dcp-size":1,"pcp-size":1},"conc":[4,8],"max-model-len":9472,"exp-name":"p_8k1k","disagg":true,"run-eval":true,"kv-p2p-transfer":"nixl","eval-conc":8}`, true, []int{4, 8}},
	{"single-node agentic", `{"image":"i","model":"m","model-prefix":"p","precision":"fp8","framework":"sglang","runner":"cluster:x","tp":8,"pp":1,"dcp-size":1,"pcp-size":1,"ep":1,"dp-attn":false,"spec-decoding":"none","conc":4,"kv-offloading":"dram","total-cpu-dram-gb":2399,"duration":3600,"exp-name":"p_tp8_conc4_kvdram-mooncake","scenario-type":"agentic-coding","kv-offload-backend":{"name":"mooncake"}}`, false, []int{4}},
	{"multi-node agentic", `{"image":"i","model":"m","model-prefix":"p","precision":"fp4","framework":"dynamo-vllm","runner":"cluster:x","spec-decoding":"none","prefill":{"num-worker":1,"tp":4,"ep":1,"dp-attn":false,"pp":1,"dcp-size":1,"pcp-size":1},"decode":{"num-worker":1,"tp":8,"ep":8,"dp-attn":true,"pp":1,"dcp-size":1,"pcp-size":1},"conc":[32],"kv-offloading":"none","total-cpu-dram-gb":0,"duration":3600,"exp-name":"p_p1x4_d1x8ep8dpa_conc32","disagg":true,"scenario-type":"agentic-coding","run-eval":false}`, true, []int{32}},
}

// TestJobRoundTrip reads generator rows and writes them back key for
// key, in the generator's order.
func TestJobRoundTrip(t *testing.T) {
	for _, tt := range generatorRows {
		t.Run(tt.name, func(t *testing.T) {
			var j Job
			if err := json.Unmarshal([]byte(tt.row), &j); err != nil {
				t.Fatal(err)
			}
			if j.MultiNode != tt.multi || !reflect.DeepEqual(j.Conc, tt.conc) {
				t.Errorf("MultiNode %v conc %v; want %v %v", j.MultiNode, j.Conc, tt.multi, tt.conc)
			}
			b, err := json.Marshal(&j)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.row {
				t.Errorf("marshal:\n got %s\nwant %s", b, tt.row)
			}
		})
	}
}

func TestJobUnmarshalRefuses(t *testing.T) {
	tests := []struct{ name, row, want string }{
		{"not an object", `[1]`, "cannot unmarshal"},
		{"null", `null`, "null"},
		{"missing key", strings.Replace(exampleRow, `"tp":4,`, "", 1), `missing key "tp"`},
		{"key of another kind", strings.Replace(exampleRow, `"tp":4,`, `"tp":4,"duration":3600,`, 1), `unknown key(s) ["duration"]`},
		{"bad conc", strings.Replace(exampleRow, `"conc":1`, `"conc":"1"`, 1), "conc must be"},
	}
	for _, tt := range tests {
		var j Job
		err := json.Unmarshal([]byte(tt.row), &j)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v; want %q", tt.name, err, tt.want)
		}
	}
	// Keys InferenceX's CI adds are dropped.
	var j Job
	if err := json.Unmarshal([]byte(strings.Replace(exampleRow, "{", `{"priority":3,"queue-token":"t",`, 1)), &j); err != nil {
		t.Errorf("CI keys: %v", err)
	}
}
