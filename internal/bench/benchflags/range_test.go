package benchflags

import "testing"

// TestRangeMessages pins the wording of the numeric flags' range errors.
func TestRangeMessages(t *testing.T) {
	base := []string{"--dataset-name", "cc-traces", "--dataset-path", "traces.jsonl", "--max-concurrency", "8"}
	for _, tc := range []struct {
		name  string
		allow bool
		args  []string
		want  string
	}{
		{"negative warm-up", true, append(base, "--warmup-requests-per-lane", "-1"), "--warmup-requests-per-lane -1: want 0 or more"},
		{"no block size", true, append(base, "--isl-block-size", "0"), "--isl-block-size 0: want 1 or more"},
		{"a threshold above 1", true, append(base, "--failed-request-threshold", "1.5"), "--failed-request-threshold 1.5: want 0..1"},
		{"a negative idle cap", true, append(base, "--trace-idle-gap-cap-seconds", "-2"), "--trace-idle-gap-cap-seconds -2: want seconds, 0 or more"},
		{"a failure ratio below 0", false, []string{"--max-failure-ratio", "-0.5"}, "--max-failure-ratio -0.5: want 0..1"},
		{"a NaN failure ratio", false, []string{"--max-failure-ratio", "NaN"}, "--max-failure-ratio NaN: want 0..1"},
		{"several, in order", true, append(base, "--warmup-requests-per-lane", "-3", "--failed-request-threshold", "-1", "--isl-block-size", "-1"),
			"--warmup-requests-per-lane -3: want 0 or more\n--failed-request-threshold -1: want 0..1\n--isl-block-size -1: want 1 or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseAgentic(t, tc.allow, tc.args...)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
