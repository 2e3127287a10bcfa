package results

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTableShowsSpeculativeDecodingWhenARowHasIt(t *testing.T) {
	row := func(spec string) *Row {
		r := &Row{HW: "h200", Framework: "sglang", Precision: "fp8", ISL: 8192, OSL: 1024, TP: 8, EP: 1, Conc: 4, TputPerGPU: 100,
			Metrics: map[string]float64{}, Extra: map[string]json.RawMessage{}}
		if spec != "" {
			r.Extra["spec_decoding"] = json.RawMessage(`"` + spec + `"`)
		}
		return r
	}
	tests := []struct {
		name     string
		rows     []*Row
		wantHead bool
		wantCell []string
	}{
		{"fleet's own rows: no column", []*Row{row(""), row("")}, false, nil},
		{"InferenceX rows", []*Row{row("mtp"), row("none")}, true, []string{"mtp", "none"}},
		{"mixed: a row without one reads none", []*Row{row("mtp"), row("")}, true, []string{"mtp", "none"}},
	}
	for _, tt := range tests {
		var b strings.Builder
		if err := WriteTable(&b, tt.rows); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if got := strings.Contains(lines[0], "SPEC"); got != tt.wantHead {
			t.Errorf("%s: SPEC column %t, want %t:\n%s", tt.name, got, tt.wantHead, b.String())
		}
		for i, want := range tt.wantCell {
			if f := strings.Fields(lines[i+1]); len(f) < 4 || f[3] != want {
				t.Errorf("%s: row %d spec %v, want %s", tt.name, i, f, want)
			}
		}
	}
}
