package inferencex

import (
	"bytes"
	"encoding/json"
	"testing"
)

// exampleRow is the single-node row of the InferenceX contract (3.4),
// whose fingerprint InferenceX's CI computes as below.
const exampleRow = `{"image":"lmsysorg/sglang:v0.5.16-cu130","model":"nvidia/DeepSeek-R1-0528-FP4-V2","model-prefix":"dsr1","precision":"fp4","framework":"sglang","runner":"b200","isl":8192,"osl":1024,"tp":4,"pp":1,"dcp-size":1,"pcp-size":1,"conc":1,"max-model-len":9472,"ep":1,"dp-attn":false,"spec-decoding":"none","exp-name":"dsr1_8k1k","disagg":false,"run-eval":false}`

func TestRecipeFingerprint(t *testing.T) {
	var j Job
	if err := json.Unmarshal([]byte(exampleRow), &j); err != nil {
		t.Fatal(err)
	}
	const want = "a0b83a5b8efc84ac94f3f1681b70aa1b31298d01b41105148fb190e120468aa6"
	got, err := RecipeFingerprint(&j)
	if err != nil || got != want {
		t.Fatalf("RecipeFingerprint = %s, %v; want %s", got, err, want)
	}
	// conc, exp-name and a fingerprint already set do not count; any
	// other field does.
	same := j
	same.Conc, same.ExpName, same.RecipeFingerprint = []int{64}, "other", want
	if got, _ := RecipeFingerprint(&same); got != want {
		t.Errorf("fingerprint changed with conc/exp-name/recipe-fingerprint: %s", got)
	}
	other := j
	other.TP = 8
	if got, _ := RecipeFingerprint(&other); got == want {
		t.Errorf("fingerprint did not change with tp")
	}
}

func TestPythonJSON(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{map[string]any{"b": json.Number("1"), "a": []any{true, nil, "x"}}, `{"a":[true,null,"x"],"b":1}`},
		{"<&> \"q\" \\ \n\t\x01\x7f", `"<&> \"q\" \\ \n\t\u0001\u007f"`},
		{"é€😀", `"\u00e9\u20ac\ud83d\ude00"`},
		{map[string]any{"é": "1", "z": "2", "Z": "3"}, `{"Z":"3","z":"2","\u00e9":"1"}`},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := pythonJSON(&b, tt.in); err != nil || b.String() != tt.want {
			t.Errorf("pythonJSON(%#v) = %s, %v; want %s", tt.in, b.String(), err, tt.want)
		}
	}
}
