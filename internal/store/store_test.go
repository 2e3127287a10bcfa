package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/results"
)

const fixtureRun = "20261101-120000-fixture"

var fixtureDir = filepath.Join("testdata", "runs", fixtureRun)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "results", FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func count(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestOpenAppliesMigrationsOnceAndRefusesNewerSchemas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM schema_migrations`); n != SchemaVersion() {
		t.Errorf("schema_migrations has %d rows, want %d", n, SchemaVersion())
	}
	for _, table := range []string{"runs", "jobs", "attempts", "metrics"} {
		if n := count(t, s, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table); n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	s.Close()

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM schema_migrations`); n != SchemaVersion() {
		t.Errorf("reopening applied migrations again: %d rows", n)
	}
	if _, err := s.db.Exec(`INSERT INTO schema_migrations VALUES (99, 'future', '')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("opening a store from a newer fleet: err = %v, want a refusal", err)
	}
}

func TestImportRunRecordsJobsAttemptsAndRows(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for i := range 2 {
		stats, err := s.ImportRun(ctx, fixtureDir)
		if err != nil {
			t.Fatal(err)
		}
		if stats.RunID != fixtureRun || stats.Jobs != 26 || stats.Rows != 23 || stats.Attempts != 26 {
			t.Errorf("import %d: stats = %+v, want run %s, 26 jobs, 23 rows, 26 attempts", i+1, stats, fixtureRun)
		}
	}
	checks := []struct {
		what  string
		query string
		want  int
	}{
		{"one run", `SELECT COUNT(*) FROM runs`, 1},
		{"every job once", `SELECT COUNT(*) FROM jobs`, 26},
		{"done jobs", `SELECT COUNT(*) FROM jobs WHERE state = 'done'`, 23},
		{"failed jobs", `SELECT COUNT(*) FROM jobs WHERE state = 'failed'`, 3},
		{"attempts, the retried job's two included", `SELECT COUNT(*) FROM attempts`, 26},
		{"the retried job's first attempt failed", `SELECT COUNT(*) FROM attempts WHERE attempt = 1 AND state = 'failed' AND reason LIKE '%connection lost%'`, 1},
		{"rows: only done jobs (a job whose client failed too many requests wrote one, but it is not a result)", `SELECT COUNT(*) FROM job_rows`, 23},
		{"metrics of every row", `SELECT COUNT(DISTINCT job_id) FROM metrics`, 23},
		{"every job has a GPU type, even one that never ran", `SELECT COUNT(*) FROM jobs WHERE hw = ''`, 0},
	}
	for _, c := range checks {
		if got := count(t, s, c.query); got != c.want {
			t.Errorf("%s: %s = %d, want %d", c.what, c.query, got, c.want)
		}
	}

	rows, err := s.Rows(ctx, fixtureRun)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 23 {
		t.Fatalf("Rows returned %d rows, want the 23 done jobs", len(rows))
	}
	want, err := results.ReadRow(filepath.Join(fixtureDir, "jobs", "llama70b-fp8-h200-sglang_1k1k_tp8-ep1-dpafalse_conc16", "row.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got *results.Row
	for _, r := range rows {
		if r.JobID == want.JobID {
			got = r
		}
	}
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(got)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("row did not survive the store:\n got %s\nwant %s", gotJSON, wantJSON)
	}

	runs, err := s.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Jobs != 26 || runs[0].Done != 23 || runs[0].Failed != 3 || runs[0].Rows != 23 ||
		!reflect.DeepEqual(runs[0].HW, []string{"h200", "mi300x"}) || runs[0].Sweep != "sweeps/fixture.hcl" ||
		!runs[0].Started.Equal(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("Runs = %+v", runs)
	}
}

// A sweep indexes its run directory while the journal grows; each index
// replaces the last, so the store ends as an import of the finished run.
func TestIndexingARunAsItsJournalGrowsEndsAsTheImport(t *testing.T) {
	ctx := context.Background()
	imported, live := openTemp(t), openTemp(t)
	if _, err := imported.ImportRun(ctx, fixtureDir); err != nil {
		t.Fatal(err)
	}
	journalBytes, err := os.ReadFile(filepath.Join(fixtureDir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(journalBytes), "\n")
	dir := filepath.Join(t.TempDir(), fixtureRun)
	if err := os.CopyFS(dir, os.DirFS(fixtureDir)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "summary.json")) // written only at the end of a run
	for _, n := range []int{len(lines) / 3, 2 * len(lines) / 3} {
		if err := os.WriteFile(filepath.Join(dir, "journal.jsonl"), []byte(strings.Join(lines[:n], "")), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := live.ImportRun(ctx, dir); err != nil {
			t.Fatal(err)
		}
		done := count(t, live, `SELECT COUNT(*) FROM jobs WHERE state = 'done'`)
		if done >= 23 {
			t.Fatalf("after %d of %d journal lines the store already has %d done jobs", n, len(lines), done)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "journal.jsonl"), journalBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(fixtureDir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := live.ImportRun(ctx, dir); err != nil {
		t.Fatal(err)
	}
	view := func(s *Store) []string {
		jobs, err := s.Jobs(ctx, fixtureRun)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range jobs {
			tput := 0.0
			if len(j.Rows) > 0 {
				tput = j.Rows[0].TputPerGPU
			}
			out = append(out, fmt.Sprintf("%s %s %s %d %q %.3f", j.ID, j.State, j.Node, j.Attempts, j.Reason, tput))
		}
		sort.Strings(out)
		return out
	}
	if a, b := view(live), view(imported); !reflect.DeepEqual(a, b) {
		t.Errorf("indexed as it grew:\n%s\nimported whole:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
}

func TestRecordRowIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	row := &results.Row{HW: "h200", TP: 8, EP: 1, Conc: 4, JobID: "j1", TputPerGPU: 100, Metrics: map[string]float64{"median_ttft": 0.1}}
	for range 3 {
		if err := s.RecordRow(ctx, "r1", row); err != nil {
			t.Fatal(err)
		}
	}
	row.TputPerGPU = 120
	if err := s.RecordRow(ctx, "r1", row); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Rows(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].TputPerGPU != 120 || rows[0].Metrics["median_ttft"] != 0.1 {
		t.Fatalf("rows = %+v, want the one row, updated", rows)
	}
}

// copyClientFiles copies the fixture's raw client results into a flat
// directory, as a user's download of InferenceMAX artifacts looks.
func copyClientFiles(t *testing.T, dst string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "jobs", "*", "results", "*.json"))
	if len(files) != 24 {
		t.Fatalf("fixture has %d client files, want 24", len(files))
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(f))
	}
	sort.Strings(names)
	return names
}

func TestImportFilesReadsClientResultsAndNeverDuplicates(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	dir := filepath.Join(t.TempDir(), "artifacts")
	copyClientFiles(t, dir)

	rep, err := s.ImportFiles(ctx, []string{dir}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := rep.Count(FileImported); n != 24 {
		t.Fatalf("imported %d files, want 24: %+v", n, rep.Files)
	}
	runs, _ := s.Runs(ctx)
	if len(runs) != 1 || runs[0].ID != "import-20261101" || runs[0].Source != SourceImport {
		t.Fatalf("runs = %+v, want one run import-20261101 named after the client's date", runs)
	}
	jobs, _ := s.Jobs(ctx, "import-20261101")
	byID := map[string]*Job{}
	for _, j := range jobs {
		byID[j.ID] = j
	}
	// The InferenceMAX name gives the config key fleet's job ids use.
	j := byID["llama70b-fp8-h200-vllm_1k1k_tp4-ep1-dpafalse_conc16"]
	if j == nil {
		t.Fatalf("job ids %v lack the one named after the fleet job", keys(byID))
	}
	fleetRow, _ := results.ReadRow(filepath.Join(fixtureDir, "jobs", j.ID, "row.json"))
	if len(j.Rows) != 1 {
		t.Fatalf("imported job %+v has %d rows, want 1", j, len(j.Rows))
	}
	if r := j.Rows[0]; j.HW != "h200" || j.Node != "h200-a" || r.TP != 4 || r.ISL != 1024 || r.Framework != "vllm" ||
		r.TputPerGPU != fleetRow.TputPerGPU || r.Metrics["median_intvty"] != fleetRow.Metrics["median_intvty"] {
		t.Errorf("imported job %+v row %+v, want what the engine aggregated: %+v", j, r, fleetRow)
	}

	if f := byID["llama70b-fp8-mi300x-vllm_1k1k_tp8-ep1-dpafalse_conc64"]; f == nil || f.State != StateFailed || !strings.Contains(f.Reason, "71 of 640") {
		t.Errorf("a client result with 71 of 640 requests failed must be imported as a failed job: %+v", f)
	}

	again := []struct {
		name string
		opts ImportOptions
	}{
		{"the same files again", ImportOptions{}},
		{"the same files into another run", ImportOptions{RunID: "other"}},
	}
	for _, a := range again {
		rep, err := s.ImportFiles(ctx, []string{dir}, a.opts)
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		if n := rep.Count(FileDuplicate); n != 24 {
			t.Errorf("%s: %d duplicates, want 24", a.name, n)
		}
		if n := count(t, s, `SELECT COUNT(*) FROM jobs`); n != 24 {
			t.Errorf("%s: store has %d jobs, want 24", a.name, n)
		}
	}
}

func TestImportFilesKeepsTheLatestRerunOfAJob(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	dir := t.TempDir()
	name := "dsr1_1k1k_fp8_sglang_tp8-ep1-dpafalse_conc64_h200-cw_0.json"
	write := func(sub, date string, tput float64) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"date": date, "model_id": "deepseek-ai/DeepSeek-R1-0528", "max_concurrency": 64,
			"total_token_throughput": tput, "output_throughput": tput / 2, "median_tpot_ms": 20.0})
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
		if err := os.WriteFile(filepath.Join(dir, sub, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A flaky job rerun the same night: two result files for one job.
	write("attempt1", "20251012-031500", 8000)
	write("attempt2", "20251012-054500", 16000)
	rep, err := s.ImportFiles(ctx, []string{filepath.Join(dir, "attempt2"), filepath.Join(dir, "attempt1")}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(FileImported) != 1 || rep.Count(FileSuperseded) != 1 {
		t.Fatalf("report %+v: want one imported, one superseded", rep.Files)
	}
	rows, _ := s.Rows(ctx)
	if len(rows) != 1 || rows[0].TputPerGPU != 2000 || rows[0].HW != "h200" || rows[0].JobID != "dsr1-fp8-h200-sglang_1k1k_tp8-ep1-dpafalse_conc64" {
		t.Fatalf("rows = %+v, want the later rerun only", rows)
	}
	// A corrected file for the same job replaces the row, not adds one.
	write("attempt3", "20251012-070000", 17600)
	rep, err = s.ImportFiles(ctx, []string{filepath.Join(dir, "attempt3")}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows, _ = s.Rows(ctx)
	if rep.Count(FileReplaced) != 1 || len(rows) != 1 || rows[0].TputPerGPU != 2200 {
		t.Fatalf("report %+v rows %+v: want the row replaced", rep.Files, rows)
	}
}

func TestImportFilesReadsAggregatedRowsAndRefusesWhatItCannotPlace(t *testing.T) {
	ctx := context.Background()
	src := openTemp(t)
	if _, err := src.ImportRun(ctx, fixtureDir); err != nil {
		t.Fatal(err)
	}
	rows, _ := src.Rows(ctx, fixtureRun)
	dir := t.TempDir()
	exported := filepath.Join(dir, "agg.json")
	f, _ := os.Create(exported)
	if err := results.WriteInferenceMAX(f, rows); err != nil {
		t.Fatal(err)
	}
	f.Close()

	dst := openTemp(t)
	rep, err := dst.ImportFiles(ctx, []string{exported}, ImportOptions{RunID: "imax"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(FileImported) != len(rows) {
		t.Fatalf("imported %d of %d rows: %+v", rep.Count(FileImported), len(rows), rep.Files)
	}
	back, _ := dst.Rows(ctx, "imax")
	if len(back) != len(rows) {
		t.Fatalf("got %d rows back, want %d", len(back), len(rows))
	}
	for i := range rows {
		if back[i].TputPerGPU != rows[i].TputPerGPU || back[i].Metrics["median_ttft"] != rows[i].Metrics["median_ttft"] ||
			// InferenceMAX rows carry no job id: one is made from the row,
			// the model's name standing for fleet's config prefix.
			strings.TrimPrefix(back[i].JobID, "Llama-3.3-70B-Instruct") != strings.TrimPrefix(rows[i].JobID, "llama70b") {
			t.Errorf("row %d: got %s %v, want %s %v", i, back[i].JobID, back[i].TputPerGPU, rows[i].JobID, rows[i].TputPerGPU)
		}
	}

	bad := []struct {
		name, file, content, want string
	}{
		{"a client file with no way to tell its GPUs", "result.json", `{"total_token_throughput": 10, "model_id": "m"}`, "--hw"},
		{"a client file with no way to tell its TP", "result.json", `{"total_token_throughput": 10, "model_id": "m", "hw": "h100"}`, "tensor parallelism"},
		{"some other JSON", "config.json", `{"hello": 1}`, "neither"},
		{"not JSON", "notes.json", `hello`, "not JSON"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), b.file)
			os.WriteFile(p, []byte(b.content), 0o644)
			_, err := dst.ImportFiles(ctx, []string{p}, ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, b.want)
			}
		})
	}
}

func TestImportFilesImportsRunDirectoriesFoundWhileWalking(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	rep, err := s.ImportFiles(ctx, []string{filepath.Join("testdata", "runs")}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(FileRun) != 1 || rep.Count(FileImported) != 0 {
		t.Fatalf("report %+v: want the run directory imported whole", rep.Files)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM jobs WHERE run_id = ?`, fixtureRun); n != 26 {
		t.Errorf("%d jobs, want 26", n)
	}
}

func TestDeleteRunRemovesEverything(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if _, err := s.ImportRun(ctx, fixtureDir); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRun(ctx, fixtureRun); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"runs", "jobs", "attempts", "metrics"} {
		if n := count(t, s, `SELECT COUNT(*) FROM `+table); n != 0 {
			t.Errorf("%s still has %d rows", table, n)
		}
	}
	if _, err := s.GetRun(ctx, fixtureRun); err == nil {
		t.Error("GetRun found a deleted run")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// An aggregated agentic row (InferenceX's AgentX shape, throughputs under
// request_metrics) imports with its throughput per GPU and cache hit
// rates read out of the nested objects.
func TestImportFilesReadsAgenticRows(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	rep, err := s.ImportFiles(ctx, []string{"testdata/agentic/agg_row0.json"}, ImportOptions{RunID: "ax"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(FileImported) != 1 {
		t.Fatalf("import report: %+v", rep.Files)
	}
	rows, err := s.Rows(ctx, "ax")
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows: %v, %v", rows, err)
	}
	r := rows[0]
	if r.TputPerGPU <= 0 || !results.IsAgentic(r) {
		t.Errorf("row: tput_per_gpu %v, agentic %v", r.TputPerGPU, results.IsAgentic(r))
	}
	if _, ok := r.Metrics[results.KeyTheoHitRate]; !ok {
		t.Errorf("no theoretical cache hit rate among %v", r.Metrics)
	}
}
