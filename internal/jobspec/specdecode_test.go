package jobspec

import (
	"strings"
	"testing"
)

func TestSpecReachesTheLaunchersEnvironment(t *testing.T) {
	tests := []struct {
		name  string
		set   func(j *Job)
		want  map[string]string // "" : must be absent
		error string            // Validate's, "" when valid
	}{
		{name: "no spec named: no variable", set: func(*Job) {},
			want: map[string]string{"SPEC_DECODING": "", "NUM_SPEC_TOKENS": "", "DRAFT_MODEL": "", "SPEC_ACCEPT_LENGTH": ""}},
		{name: "spec none: SPEC_DECODING only", set: func(j *Job) { j.Spec = "none" },
			want: map[string]string{"SPEC_DECODING": "none", "NUM_SPEC_TOKENS": ""}},
		{name: "mtp with a golden length", set: func(j *Job) { j.Spec, j.SpecTokens, j.SpecAcceptLength = "mtp", 3, 2.5 },
			want: map[string]string{"SPEC_DECODING": "mtp", "NUM_SPEC_TOKENS": "3", "SPEC_ACCEPT_LENGTH": "2.5", "DRAFT_MODEL": ""}},
		{name: "eagle3 with its head", set: func(j *Job) { j.Spec, j.SpecTokens, j.DraftModel = "eagle3", 2, "org/head" },
			want: map[string]string{"SPEC_DECODING": "eagle3", "NUM_SPEC_TOKENS": "2", "DRAFT_MODEL": "org/head"}},
		{name: "an unknown method", set: func(j *Job) { j.Spec, j.SpecTokens = "medusa", 2 }, error: `spec_decoding: "medusa": want one of none, mtp, eagle3, draft_model`},
		{name: "drafting without a size", set: func(j *Job) { j.Spec = "mtp" }, error: "num_spec_tokens: 0: want at least 1"},
		{name: "a drafter missing", set: func(j *Job) { j.Spec, j.SpecTokens = "draft_model", 2 }, error: "draft_model: missing"},
		{name: "a golden length above k+1", set: func(j *Job) { j.Spec, j.SpecTokens, j.SpecAcceptLength = "mtp", 1, 2.5 }, error: "spec_accept_length: 2.5: want 1 to num_spec_tokens + 1 = 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := sampleJob()
			tt.set(j)
			err := j.Validate()
			if tt.error != "" {
				if err == nil || !strings.Contains(err.Error(), tt.error) {
					t.Fatalf("Validate() = %v, want %q", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			env := j.Env()
			for k, v := range tt.want {
				got, ok := env[k]
				if v == "" && ok || v != "" && got != v {
					t.Errorf("%s = %q (set %t), want %q", k, got, ok, v)
				}
			}
		})
	}
}
