package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/store"
)

// incrSweep is two quick sim configs on this machine: "keep" at two
// concurrencies and "edit" at one.
func incrSweep(t *testing.T, dir string) string {
	t.Helper()
	cfg := func(name, itl string, conc string) string {
		return `
config "` + name + `" {
  model        = "sim-model"
  model_prefix = "` + name + `"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"
  server_args  = ["--timing", "fixed", "--ttft", "5ms", "--itl", "` + itl + `", "--startup-delay", "0s"]
  scenario "s" {
    isl = 32
    osl = 4
    search {
      tp   = 8
      conc = [` + conc + `]
    }
  }
}
`
	}
	p := filepath.Join(dir, "incr.hcl")
	src := "client {\n  prompts_per_conc = 2\n  warmups_per_conc = 0\n}\n" + cfg("keep", "1ms", "1, 2") + cfg("edit", "2ms", "1")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// planJobs is `fleet plan --json`'s jobs: id -> fingerprint.
func planJobs(t *testing.T, args ...string) (map[string]string, []planReuse) {
	t.Helper()
	code, stdout, stderr := runFleet(t, nil, append([]string{"plan", "--json"}, args...)...)
	if code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", code, stderr)
	}
	var p struct {
		Jobs []struct {
			ID          string `json:"id"`
			Fingerprint string `json:"fingerprint"`
		}
		Reuse []planReuse
	}
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, stdout)
	}
	out := map[string]string{}
	for _, j := range p.Jobs {
		if j.Fingerprint == "" {
			t.Fatalf("plan: job %s has no fingerprint", j.ID)
		}
		out[j.ID] = j.Fingerprint
	}
	return out, p.Reuse
}

// storedRun writes a finished run directory, started at started, whose
// jobs are done with one row each (job id, conc, recipe fingerprint,
// throughput per GPU), and imports it into the store of resultsDir.
func storedRun(t *testing.T, resultsDir, id string, started time.Time, rows ...*results.Row) {
	t.Helper()
	d, err := run.Create(resultsDir, run.Info{RunID: id, Jobs: len(rows), Started: started})
	if err != nil {
		t.Fatal(err)
	}
	jr, err := d.Journal()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		r.RunID, r.Node, r.Completed = id, "local", 2
		os.MkdirAll(d.JobDir(r.JobID), 0o755)
		if err := results.WriteRows(d.RowPath(r.JobID), []*results.Row{r}); err != nil {
			t.Fatal(err)
		}
		for _, e := range []journal.Entry{
			{Time: started, Job: r.JobID, State: journal.StateQueued},
			{Time: started, Job: r.JobID, Node: "local", Attempt: 1, State: journal.StateDone, Result: d.Rel(d.RowPath(r.JobID))},
		} {
			if err := jr.Append(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := d.WriteSummary(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	st, err := store.Open(context.Background(), store.DefaultPath(resultsDir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.ImportRun(context.Background(), filepath.Join(resultsDir, id)); err != nil {
		t.Fatal(err)
	}
}

func fixtureRow(job string, conc int, fp string, tput float64) *results.Row {
	r := &results.Row{JobID: job, TP: 8, EP: 1, Conc: conc, Model: "sim-model", Framework: "sim", Precision: "fp8", ISL: 32, OSL: 4,
		TputPerGPU: tput, OutputTputPerGPU: tput / 2, InputTputPerGPU: tput / 2, Metrics: map[string]float64{}}
	r.SetFingerprint(fp)
	return r
}

const (
	keep1 = "keep_s_tp8-ep1-dpafalse_conc1"
	keep2 = "keep_s_tp8-ep1-dpafalse_conc2"
	edit1 = "edit_s_tp8-ep1-dpafalse_conc1"
)

func TestPlanOnlyChangedShowsWhatItWouldReuse(t *testing.T) {
	dir := t.TempDir()
	sweep := incrSweep(t, dir)
	res := filepath.Join(dir, "results")
	fps, reuse := planJobs(t, sweep, "--only-changed", "--results", res)
	if len(fps) != 3 || fps[keep1] != fps[keep2] || fps[keep1] == fps[edit1] {
		t.Fatalf("fingerprints %v: want 3 jobs, keep's two sharing one, edit's apart", fps)
	}
	if len(reuse) != 0 {
		t.Fatalf("no store, yet reuse %v", reuse)
	}
	if _, err := os.Stat(store.DefaultPath(res)); err == nil {
		t.Errorf("plan --only-changed created a store")
	}
	now := time.Now().UTC()
	// edit's row is of another recipe (its config changed since): never
	// reused, whatever its job id.
	storedRun(t, res, "old", now.Add(-10*24*time.Hour), fixtureRow(keep1, 1, fps[keep1], 100), fixtureRow(edit1, 1, "stale", 100))
	storedRun(t, res, "recent", now.Add(-24*time.Hour), fixtureRow(keep2, 2, fps[keep2], 100))

	tests := []struct {
		name string
		args []string
		want map[string]string // job -> run it reuses
	}{
		{"any age", nil, map[string]string{keep1: "old", keep2: "recent"}},
		{"max age", []string{"--max-age", "7d"}, map[string]string{keep2: "recent"}},
		{"max age in hours", []string{"--max-age", "12h"}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, reuse := planJobs(t, append([]string{sweep, "--only-changed", "--results", res}, tt.args...)...)
			got := map[string]string{}
			for _, r := range reuse {
				got[r.Job] = strings.Join(r.Runs, ",")
				if r.Started == "" || r.Fingerprint != fps[r.Job] {
					t.Errorf("reuse %+v: want its start and the job's fingerprint", r)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("reuse %v, want %v", got, tt.want)
			}
			for j, run := range tt.want {
				if got[j] != run {
					t.Errorf("job %s reuses %q, want %q", j, got[j], run)
				}
			}
		})
	}

	code, stdout, stderr := runFleet(t, nil, "plan", sweep, "--only-changed", "--max-age", "7d", "--results", res)
	if code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", code, stderr)
	}
	reusedLine := ""
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, keep2) && strings.Contains(l, "recent") {
			reusedLine = l
		}
	}
	if reusedLine == "" || !strings.Contains(reusedLine, now.Add(-24*time.Hour).Format("2006-01-02")) ||
		!strings.Contains(stdout, "1 of 3 jobs would reuse a stored result, 2 would run") {
		t.Errorf("plan text does not say what it would reuse, from which run and when:\n%s", stdout)
	}

	if code, _, stderr := runFleet(t, nil, "plan", sweep, "--max-age", "7d"); code != ExitUsage {
		t.Errorf("--max-age without --only-changed: exit %d, want %d\n%s", code, ExitUsage, stderr)
	}
	if code, _, stderr := runFleet(t, nil, "plan", sweep, "--only-changed", "--max-age", "soon"); code != ExitUsage {
		t.Errorf("--max-age soon: exit %d, want %d\n%s", code, ExitUsage, stderr)
	}
}

// A sweep with --only-changed runs exactly the jobs whose recipe has no
// recent result, copies the others' rows into the new run marked as
// reused, and --compare-last compares what it measured with the last
// results of the same recipes: a baseline far better exits 4.
func TestSweepOnlyChangedReusesAndComparesLast(t *testing.T) {
	dir := t.TempDir()
	sweep := incrSweep(t, dir)
	res := filepath.Join(dir, "results")
	fps, _ := planJobs(t, sweep)
	now := time.Now().UTC()
	// keep's results are recent; edit's only result is old, and far
	// better than anything the simulator does.
	storedRun(t, res, "lastweek", now.Add(-10*24*time.Hour), fixtureRow(edit1, 1, fps[edit1], 1e9))
	storedRun(t, res, "yesterday", now.Add(-24*time.Hour), fixtureRow(keep1, 1, fps[keep1], 100), fixtureRow(keep2, 2, fps[keep2], 200))

	code, stdout, stderr := runFleet(t, map[string]string{"XDG_CACHE_HOME": t.TempDir()}, "sweep", sweep, "--results", res, "--run-id", "new",
		"--agent-dir", agentDir, "--log-format", "logfmt", "--only-changed", "--max-age", "7d", "--compare-last")
	if testing.Verbose() {
		t.Logf("stdout:\n%s", stdout)
	}
	if code != ExitRegressed {
		t.Fatalf("exit %d, want %d (a regression against lastweek)\nstdout:\n%s\nstderr:\n%s", code, ExitRegressed, stdout, stderr)
	}
	if !strings.Contains(stdout, "Comparing run B new against run A last of lastweek") || !strings.Contains(stdout, "REGRESSED") {
		t.Errorf("comparison not printed, or not against lastweek:\n%s", stdout)
	}
	if !strings.Contains(stderr, "reusing the stored results of 2 of 3 jobs, running 1") {
		t.Errorf("stderr does not say what it reuses:\n%s", stderr)
	}

	entries, err := journal.Read(filepath.Join(res, "new", run.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	f := run.Fold(entries)
	for job, want := range map[string]string{keep1: "reused from run yesterday", keep2: "reused from run yesterday", edit1: ""} {
		o, ok := f.Outcome(job)
		if !ok || o.State != journal.StateDone {
			t.Errorf("job %s: %+v, want done", job, o)
			continue
		}
		if !strings.HasPrefix(o.Reason, want) || (want == "") != (o.Attempts > 0) {
			t.Errorf("job %s: reason %q attempts %d, want reason %q (attempts only when it ran)", job, o.Reason, o.Attempts, want)
		}
		rows, err := results.ReadRows(filepath.Join(res, "new", filepath.FromSlash(o.Result)))
		if err != nil {
			t.Fatalf("job %s: %v", job, err)
		}
		u := rows[0].ReusedFrom()
		switch {
		case want != "" && (u == nil || u.Run != "yesterday" || u.Job != job || rows[0].RunID != "new" || rows[0].Fingerprint() != fps[job]):
			t.Errorf("job %s: reused row %+v reuse %+v: want from yesterday, in run new, with its fingerprint", job, rows[0], u)
		case want == "" && u != nil:
			t.Errorf("job %s ran but its row says reused from %+v", job, u)
		}
	}
	// The store takes the reused rows as the new run's, and never offers
	// a copy as a result to reuse.
	st, err := store.Open(context.Background(), store.DefaultPath(res))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.Rows(context.Background(), "new")
	if err != nil || len(rows) != 3 {
		t.Fatalf("store rows of run new: %d, %v; want 3", len(rows), err)
	}
	latest, err := st.LatestByRecipe(context.Background(), []string{fps[keep1]}, store.RecipeQuery{})
	if err != nil || latest[store.RecipeKey{Fingerprint: fps[keep1], Conc: 1}].RunID != "yesterday" {
		t.Errorf("latest keep row: %+v, %v; want yesterday's", latest, err)
	}

	// Without --max-age every recipe has a result (edit's lastweek's):
	// nothing changed, and no run is made.
	code, stdout, stderr = runFleet(t, nil, "sweep", sweep, "--results", res, "--run-id", "again", "--agent-dir", agentDir, "--only-changed")
	if code != ExitOK || !strings.Contains(stdout, "Nothing changed") {
		t.Errorf("exit %d, want 0 and nothing changed\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(res, "again")); err == nil {
		t.Errorf("a sweep with nothing to run made a run directory")
	}
	if code, _, _ := runFleet(t, nil, "sweep", sweep, "--results", res, "--resume", "new", "--only-changed"); code != ExitUsage {
		t.Errorf("--only-changed with --resume: exit %d, want %d", code, ExitUsage)
	}
}

// --compare-last against results worse than the new run's passes.
func TestSweepCompareLastWithoutRegressionExits0(t *testing.T) {
	dir := t.TempDir()
	sweep := incrSweep(t, dir)
	res := filepath.Join(dir, "results")
	fps, _ := planJobs(t, sweep, "--only", "config=edit")
	storedRun(t, res, "slow", time.Now().Add(-time.Hour), fixtureRow(edit1, 1, fps[edit1], 1e-6))
	code, stdout, stderr := runFleet(t, map[string]string{"XDG_CACHE_HOME": t.TempDir()}, "sweep", sweep, "--only", "config=edit",
		"--results", res, "--run-id", "fast", "--agent-dir", agentDir, "--log-format", "logfmt", "--compare-last")
	if code != ExitOK || !strings.Contains(stdout, "1 configurations compared: 0 regressed, 1 improved") {
		t.Errorf("exit %d, want 0 with one improvement\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
