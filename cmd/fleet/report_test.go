package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
)

const fixtureRunID = "20261101-120000-fixture"

// fixtureResults copies the store's fixture run (a small sweep over
// 2 GPU types x 2 frameworks) into a fresh results directory.
func fixtureResults(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "results")
	copyTree(t, filepath.Join("..", "..", "internal", "store", "testdata", "runs", fixtureRunID), filepath.Join(dir, fixtureRunID))
	return dir
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// plantRun copies the fixture as run id, applying change to each row.
func plantRun(t *testing.T, resultsDir, id string, change func(*results.Row)) {
	t.Helper()
	dst := filepath.Join(resultsDir, id)
	copyTree(t, filepath.Join(resultsDir, fixtureRunID), dst)
	info := map[string]any{"run_id": id, "started": "2026-11-02T12:00:00Z"}
	b, _ := json.Marshal(info)
	if err := os.WriteFile(filepath.Join(dst, "run.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	rows, _ := filepath.Glob(filepath.Join(dst, "jobs", "*", "row.json"))
	for _, p := range rows {
		r, err := results.ReadRow(p)
		if err != nil {
			t.Fatal(err)
		}
		r.RunID = id
		change(r)
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReportCommandWritesEverything(t *testing.T) {
	dir := fixtureResults(t)
	code, stdout, stderr := runFleet(t, nil, "report", "--results", dir)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"h200 (all configs)", "Success rate per GPU type", "15/16", "HIP out of memory", "report.html"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	out := filepath.Join(dir, fixtureRunID, "report")
	for _, f := range []string{"report.html", "report.json", "report.txt", "tput_vs_intvty.png", "tput_vs_intvty.svg",
		"tput_vs_e2el.png", "tput_vs_e2el.svg", "ttft_vs_conc.png", "ttft_vs_conc.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "fleet.db")); err != nil {
		t.Errorf("the store was not created: %v", err)
	}

	code, stdout, stderr = runFleet(t, nil, "report", fixtureRunID, "--results", dir, "--json", "--out", t.TempDir())
	if code != ExitOK {
		t.Fatalf("--json: exit %d: %s", code, stderr)
	}
	var rep struct {
		Runs      []string
		Rows      []json.RawMessage
		Frontiers []struct{ Key string }
		Success   []struct {
			HW         string
			Done, Jobs int
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if len(rep.Rows) != 23 || len(rep.Frontiers) != 6 || len(rep.Success) != 2 || rep.Runs[0] != fixtureRunID {
		t.Errorf("report JSON: %d rows, %d frontiers, %d success rows, runs %v", len(rep.Rows), len(rep.Frontiers), len(rep.Success), rep.Runs)
	}

	code, _, stderr = runFleet(t, nil, "report", "no-such-run", "--results", dir)
	if code != ExitError || !strings.Contains(stderr, "no-such-run") {
		t.Errorf("unknown run: exit %d, %s", code, stderr)
	}
}

func TestCompareCommand(t *testing.T) {
	dir := fixtureResults(t)
	const planted = "llama70b-fp8-h200-sglang_1k1k_tp8-ep1-dpafalse_conc16"
	plantRun(t, dir, "same", func(*results.Row) {})
	plantRun(t, dir, "noisy", func(r *results.Row) { r.TputPerGPU *= 0.97 })
	plantRun(t, dir, "regressed", func(r *results.Row) {
		if r.JobID == planted {
			r.TputPerGPU *= 0.85
		}
	})
	plantRun(t, dir, "slower-ttft", func(r *results.Row) {
		if r.JobID == planted {
			r.Metrics["median_ttft"] *= 1.5
		}
	})
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"identical runs pass", []string{"same"}, ExitOK, "0 regressed"},
		{"noise within the threshold passes", []string{"noisy"}, ExitOK, "23 within ±5%"},
		{"a planted throughput regression fails with 4", []string{"regressed"}, ExitRegressed, "REGRESSED"},
		{"a planted TTFT regression fails with 4", []string{"slower-ttft"}, ExitRegressed, "+50.0% !"},
		{"a wider threshold absorbs it", []string{"regressed", "--threshold", "20%"}, ExitOK, "0 regressed"},
		{"noise beyond a tight threshold fails", []string{"noisy", "--threshold", "1"}, ExitRegressed, "23 regressed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"compare", fixtureRunID, c.args[0], "--results", dir}, c.args[1:]...)
			code, stdout, stderr := runFleet(t, nil, args...)
			if code != c.code || !strings.Contains(stdout, c.want) {
				t.Fatalf("exit %d (want %d), stdout lacks %q?\n%s\n%s", code, c.code, c.want, stdout, stderr)
			}
		})
	}

	code, stdout, _ := runFleet(t, nil, "compare", fixtureRunID, "regressed", "--results", dir, "--json")
	var cmp struct {
		Regressions int
		Configs     []struct {
			JobA      string `json:"job_a"`
			Regressed bool
		}
	}
	if err := json.Unmarshal([]byte(stdout), &cmp); err != nil || code != ExitRegressed || cmp.Regressions != 1 {
		t.Fatalf("--json: exit %d, %v, %+v", code, err, cmp)
	}
	for _, c := range cmp.Configs {
		if c.Regressed != (c.JobA == planted) {
			t.Errorf("config %s regressed=%v", c.JobA, c.Regressed)
		}
	}

	code, _, stderr := runFleet(t, nil, "compare", fixtureRunID, "same", "--results", dir, "--threshold", "lots")
	if code != ExitUsage {
		t.Errorf("bad threshold: exit %d: %s", code, stderr)
	}
}

func TestResultsImportExportAndList(t *testing.T) {
	dir := fixtureResults(t)
	// The fixture's raw client files, flat, as downloaded artifacts.
	artifacts := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(dir, fixtureRunID, "jobs", "*", "results", "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(artifacts, filepath.Base(f)), b, 0o644)
	}
	store := filepath.Join(t.TempDir(), "store")
	code, stdout, stderr := runFleet(t, nil, "results", "import", "--results", store, artifacts)
	if code != ExitOK || !strings.Contains(stdout, "24 imported") {
		t.Fatalf("import: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runFleet(t, nil, "results", "import", "--results", store, artifacts)
	if code != ExitOK || !strings.Contains(stdout, "0 imported") || !strings.Contains(stdout, "24 duplicates") {
		t.Fatalf("second import: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runFleet(t, nil, "results", "list", "--results", store, "--json")
	var runs []struct {
		ID   string
		Jobs int
		Rows int
		HW   []string
	}
	if err := json.Unmarshal([]byte(stdout), &runs); err != nil || code != ExitOK {
		t.Fatalf("list: exit %d, %v\n%s", code, err, stdout)
	}
	// One client failed 71 of 640 requests: imported, but not done.
	if len(runs) != 1 || runs[0].ID != "import-20261101" || runs[0].Jobs != 24 || runs[0].Rows != 23 {
		t.Errorf("runs = %+v", runs)
	}

	// The imported results compare with the fleet run they came from: the
	// job ids match.
	code, stdout, stderr = runFleet(t, nil, "compare", "import-20261101", filepath.Join(dir, fixtureRunID), "--results", store)
	if code != ExitOK || !strings.Contains(stdout, "23 configurations compared: 0 regressed") {
		t.Errorf("compare import with run: exit %d\n%s\n%s", code, stdout, stderr)
	}

	for _, f := range []struct{ format, want string }{
		{"csv", "run_id,job_id,node,hw,tp,ep,dp_attention,conc"},
		{"json", `"job_id": "llama70b-fp8-h200-sglang_1k1k_tp8-ep1-dpafalse_conc4"`},
		{"inferencemax", `{"hw": "h200", "tp": 8, "ep": 1, "dp_attention": false, "conc": 4,`},
		{"inferencex", "\"ep\": 1,\n    \"dp_attention\": \"false\",\n    \"tput_per_gpu\""},
	} {
		code, stdout, stderr := runFleet(t, nil, "results", "export", "--results", store, "--run", "import-20261101", "--format", f.format)
		if code != ExitOK || !strings.Contains(stdout, f.want) {
			t.Errorf("export %s: exit %d, lacks %q\n%.500s\n%s", f.format, code, f.want, stdout, stderr)
		}
	}
	if code, _, _ := runFleet(t, nil, "results", "export", "--results", store, "--format", "xml"); code != ExitUsage {
		t.Errorf("export --format xml: exit %d, want %d", code, ExitUsage)
	}
}
