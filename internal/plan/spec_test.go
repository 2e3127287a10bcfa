package plan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestSpecIsADimensionOfTheSweep expands sweeps/spec-sim.hcl, which sweeps
// spec = ["none", "mtp"] like conc: every job id, result name and plan
// line says its method as InferenceX spells it, and the size reaches the
// job.
func TestSpecIsADimensionOfTheSweep(t *testing.T) {
	_, sw := load(t, "../../inventory.hcl", "../../sweeps/spec-sim.hcl")
	jobs := Expand(sw)
	type row struct {
		id, name, spec string
		tokens         int
		accept         float64
		line           string
	}
	const cfg = "sim70b-fp8-local-sim-spec"
	want := []row{
		{cfg + "_1k256_tp8-ep1-dpafalse_conc4", "sim70b_1k256_fp8_sim_tp8-ep1-dpafalse_spec-none_conc4_local", "none", 0, 0, ""},
		{cfg + "_1k256_tp8-ep1-dpafalse_conc16", "sim70b_1k256_fp8_sim_tp8-ep1-dpafalse_spec-none_conc16_local", "none", 0, 0, ""},
		{cfg + "_1k256_tp8-ep1-dpafalse-spec-mtp_conc4", "sim70b_1k256_fp8_sim_tp8-ep1-dpafalse_spec-mtp_conc4_local", "mtp", 3, 0,
			"  speculative decoding mtp, 3 draft tokens per step"},
		{cfg + "_1k256_tp8-ep1-dpafalse-spec-mtp_conc16", "sim70b_1k256_fp8_sim_tp8-ep1-dpafalse_spec-mtp_conc16_local", "mtp", 3, 0,
			"  speculative decoding mtp, 3 draft tokens per step"},
		{cfg + "_1k256-golden_tp8-ep1-dpafalse-spec-mtp_conc16", "sim70b_1k256-golden_fp8_sim_tp8-ep1-dpafalse_spec-mtp_conc16_local", "mtp", 3, 2.5,
			"  speculative decoding mtp, 3 draft tokens per step, acceptance length pinned at 2.5"},
	}
	var got []row
	for _, j := range jobs {
		got = append(got, row{j.ID, ResultName(j, "local"), j.Spec, j.SpecTokens, j.SpecAcceptLength, SpecLine(j)})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("jobs\n got %+v\nwant %+v", got, want)
	}
	fps := map[string]bool{}
	for _, j := range jobs {
		fp, err := Fingerprint(j)
		if err != nil {
			t.Fatal(err)
		}
		fps[fp] = true
	}
	// none and mtp differ, the golden length differs, conc does not count.
	if len(fps) != 3 {
		t.Errorf("%d distinct fingerprints, want 3 (none, mtp, mtp pinned)", len(fps))
	}
	b, err := json.Marshal(jobs[2])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"spec":"mtp","spec_tokens":3`) {
		t.Errorf("job JSON without its spec: %s", b)
	}
	f, kept := mustFilters(t, "spec=mtp"), 0
	for _, j := range jobs {
		if f.Match(j) {
			kept++
		}
	}
	if kept != 3 {
		t.Errorf("--only spec=mtp kept %d jobs, want 3", kept)
	}
}

// TestJobsWithoutSpecKeepTheirNamesAndFingerprints checks that a config
// naming no spec expands as before the dimension existed.
func TestJobsWithoutSpecKeepTheirNamesAndFingerprints(t *testing.T) {
	_, sw := load(t, "../../inventory.hcl", "../../sweeps/demo.hcl")
	for _, j := range Expand(sw) {
		if j.Spec != "" || strings.Contains(j.ID, "spec") || strings.Contains(ResultName(j, "local"), "spec") || SpecLine(j) != "" {
			t.Errorf("job %s (result %s) names a spec", j.ID, ResultName(j, "local"))
		}
	}
}
