package run

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/target"
)

func TestCheckIDAcceptsOnlyOnePlainPathElement(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"20261129-101500-full", true},
		{"demo.v2_x", true},
		{"", false},
		{"..", false},
		{"../../x", false},
		{"a/b", false},
		{".hidden", false},
		{"-rf", false},
		{"a..b", false},
		{strings.Repeat("a", 129), false},
		{"run\nid", false},
	} {
		if err := CheckID(tc.id); (err == nil) != tc.ok {
			t.Errorf("CheckID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
}

func TestCreateWritesRunInfoOnceAndRefusesAnExistingRun(t *testing.T) {
	results := t.TempDir()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d, err := Create(results, Info{RunID: "r1", Sweep: "s.hcl", Jobs: 3, Started: start})
	if err != nil {
		t.Fatal(err)
	}
	info, err := ReadInfo(d.Path())
	if err != nil || info.RunID != "r1" || !info.Started.Equal(start) || info.Jobs != 3 {
		t.Fatalf("run.json = %+v, %v", info, err)
	}
	d.Close()
	if _, err := Create(results, Info{RunID: "r1"}); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--resume r1") {
		t.Fatalf("second Create: %v, want ErrExists with the --resume hint", err)
	}
	// Continuing the run records the resume beside, never in, run.json.
	j, _ := (&Dir{path: d.Path(), id: "r1"}).Journal()
	j.Append(journal.Entry{Job: "a", State: journal.StateQueued})
	j.Close()
	d2, err := Open(results, "r1")
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if err := d2.Continued("resume", 1); err != nil {
		t.Fatal(err)
	}
	again, _ := ReadInfo(d2.Path())
	if !again.Started.Equal(start) {
		t.Errorf("resume moved the run's start: %v", again.Started)
	}
	b, _ := os.ReadFile(filepath.Join(d2.Path(), "continues.jsonl"))
	if !strings.Contains(string(b), `"mode":"resume"`) {
		t.Errorf("continues.jsonl = %q", b)
	}
}

func TestASecondControllerIsRefusedWithTheHolderNamed(t *testing.T) {
	results := t.TempDir()
	d, err := Create(results, Info{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := d.Journal()
	j.Append(journal.Entry{Job: "a", State: journal.StateQueued})
	_, err = Open(results, "r")
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while held: %v, want ErrLocked", err)
	}
	host, _ := os.Hostname()
	if want := "pid " + itoa(os.Getpid()) + " on host " + host; !strings.Contains(err.Error(), want) {
		t.Errorf("message %q does not name the holder (%s)", err, want)
	}
	d.Close()
	d2, err := Open(results, "r")
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	d2.Close()
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestOpenWithoutAJournalSaysWhatToCheck(t *testing.T) {
	if _, err := Open(t.TempDir(), "nope"); err == nil || !strings.Contains(err.Error(), "no journal") {
		t.Fatalf("Open of a missing run: %v", err)
	}
}

func TestFoldGivesEachJobItsLatestStateAndAttempts(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	h := &target.Handle{Target: "n2", Ref: "4242"}
	entries := []journal.Entry{
		{Time: at(0), Job: "a", Config: "cfg", GPU: "h200", State: journal.StateQueued},
		{Time: at(0), Job: "b", Config: "cfg", GPU: "h200", State: journal.StateQueued},
		{Time: at(1), Job: "a", Attempt: 1, Node: "n1", State: journal.StatePreparing},
		{Time: at(2), Job: "a", Attempt: 1, Node: "n1", State: journal.StateRunning, Handle: &target.Handle{Target: "n1", Ref: "1"}},
		{Time: at(3), Job: "a", Attempt: 1, Node: "n1", State: journal.StateRetrying, Reason: "connection lost"},
		{Time: at(4), Job: "a", Attempt: 2, Node: "n2", State: journal.StatePreparing},
		{Time: at(5), Job: "a", Attempt: 2, Node: "n2", State: journal.StateRunning, Handle: h},
		{Time: at(6), Job: "a", Attempt: 2, Node: "n2", State: journal.StateFetching, Exit: &target.Exit{Code: 0}},
		{Time: at(7), Job: "a", Attempt: 2, Node: "n2", State: journal.StateDone, Exit: &target.Exit{Code: 0}, Result: "jobs/a/row.json"},
		{Time: at(3), Job: "b", Attempt: 1, Node: "n1", State: journal.StatePreparing},
		{Time: at(4), Job: "b", Attempt: 1, Node: "n1", State: journal.StateRunning, Handle: h},
	}
	f := Fold(entries)
	a, _ := f.Outcome("a")
	if a.State != journal.StateDone || a.Attempts != 2 || a.Node != "n2" || a.Result != "jobs/a/row.json" || a.Reason != "" ||
		a.Config != "cfg" || a.GPU != "h200" || a.Handle != nil || a.ExitCode == nil || *a.ExitCode != 0 || !a.Since.Equal(at(7)) {
		t.Errorf("a = %+v", a)
	}
	b, _ := f.Outcome("b")
	if b.State != journal.StateRunning || b.Handle == nil || b.Handle.Ref != "4242" {
		t.Errorf("b = %+v, want running with its handle (resume re-attaches through it)", b)
	}
	atts := f.Attempts()
	if len(atts) != 3 || atts[0].State != journal.StateFailed || atts[0].Reason != "connection lost" || atts[0].Ended.IsZero() ||
		atts[1].State != journal.StateDone || atts[2].State != journal.StateRunning || !atts[2].Ended.IsZero() {
		t.Errorf("attempts = %+v", atts)
	}
	if c := Counts(f.Outcomes()); c[journal.StateDone] != 1 || c[journal.StateRunning] != 1 {
		t.Errorf("counts = %v", c)
	}
	// The same entries folded one by one (the live board) end the same.
	var live Folder
	for _, e := range entries {
		live.Apply(e)
	}
	if got, want := mustJSON(live.Outcomes()), mustJSON(f.Outcomes()); got != want {
		t.Errorf("incremental fold differs:\n%s\n%s", got, want)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestLoadAndSummaryCountOnlyDoneJobsRows(t *testing.T) {
	results := t.TempDir()
	d, err := Create(results, Info{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	row := `{"hw":"h200","framework":"sim","tp":8,"ep":1,"conc":4,"isl":1024,"osl":1024,"tput_per_gpu":100,"median_ttft":0.05}`
	for _, id := range []string{"done-job", "crashed-job"} {
		os.MkdirAll(d.JobDir(id), 0o755)
		os.WriteFile(d.RowPath(id), []byte(row), 0o644)
	}
	j, _ := d.Journal()
	for _, e := range []journal.Entry{
		{Job: "done-job", Attempt: 1, Node: "n", State: journal.StateDone, Result: d.Rel(d.RowPath("done-job"))},
		// The server died mid-benchmark: the client wrote a partial result,
		// which is not a measurement.
		{Job: "crashed-job", Attempt: 1, Node: "n", State: journal.StateFailed, Reason: "server died during the benchmark"},
		{Job: "never-ran", State: journal.StateCancelled, Reason: "not started: run cancelled"},
	} {
		j.Append(e)
	}
	s, err := d.WriteSummary()
	if err != nil {
		t.Fatal(err)
	}
	if s.Done != 1 || s.Failed != 2 || len(s.Rows) != 1 || len(s.Jobs) != 3 {
		t.Fatalf("summary: done %d failed %d rows %d jobs %d", s.Done, s.Failed, len(s.Rows), len(s.Jobs))
	}
	var onDisk Summary
	b, _ := os.ReadFile(filepath.Join(d.Path(), SummaryFile))
	if err := json.Unmarshal(b, &onDisk); err != nil || onDisk.Done != 1 || len(onDisk.Rows) != 1 {
		t.Fatalf("summary.json: %+v, %v", onDisk, err)
	}
	table, _ := os.ReadFile(filepath.Join(d.Path(), TableFile))
	if strings.Count(string(table), "h200") != 1 {
		t.Errorf("summary.txt should list the done job only:\n%s", table)
	}
}

func TestAMultiNodeJobsRowsAllReachTheSummary(t *testing.T) {
	dir := t.TempDir()
	d, err := Create(dir, Info{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	multi := `[{"hw":"h200","tp":8,"conc":4,"tput_per_gpu":100,"is_multinode":true,"job_id":"disagg"},
{"hw":"h200","tp":8,"conc":16,"tput_per_gpu":300,"is_multinode":true,"job_id":"disagg"}]`
	single := `{"hw":"h200","tp":8,"conc":4,"tput_per_gpu":150,"job_id":"one"}`
	for id, body := range map[string]string{"disagg": multi, "one": single} {
		os.MkdirAll(d.JobDir(id), 0o755)
		os.WriteFile(d.RowPath(id), []byte(body), 0o644)
	}
	j, _ := d.Journal()
	for _, id := range []string{"disagg", "one"} {
		j.Append(journal.Entry{Job: id, Attempt: 1, Node: "n", State: journal.StateDone, Result: d.Rel(d.RowPath(id))})
	}
	s, err := d.WriteSummary()
	if err != nil {
		t.Fatal(err)
	}
	if s.Done != 2 || len(s.Rows) != 3 {
		t.Fatalf("summary: done %d rows %d, want 2 jobs done with 3 rows", s.Done, len(s.Rows))
	}
	var concs []int
	for _, r := range s.Rows {
		if r.JobID == "disagg" {
			concs = append(concs, r.Conc)
		}
	}
	if len(concs) != 2 || concs[0] != 4 || concs[1] != 16 {
		t.Errorf("rows of the multi-node job: concurrencies %v, want [4 16]", concs)
	}
	table, _ := os.ReadFile(filepath.Join(d.Path(), TableFile))
	if !strings.Contains(string(table), "SHAPE") {
		t.Errorf("summary.txt of a run with a multi-node job has no SHAPE column:\n%s", table)
	}
}

func TestLoadReadsARunDirectoryCopiedWithoutItsJournal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "old")
	os.MkdirAll(filepath.Join(dir, "jobs", "x"), 0o755)
	os.WriteFile(filepath.Join(dir, "jobs", "x", "row.json"), []byte(`{"job_id":"x","hw":"h200","tp":8,"conc":4,"tput_per_gpu":1}`), 0o644)
	os.WriteFile(filepath.Join(dir, SummaryFile), []byte(`{"run_id":"old-run","jobs":[{"job":"y","config":"c","state":"failed","attempts":2,"reason":"boom"}]}`), 0o644)
	rec, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := rec.Summary()
	if s.RunID != "old-run" || s.Done != 1 || s.Failed != 1 || len(s.Rows) != 1 {
		t.Fatalf("summary = %+v", s)
	}
}

func TestNewIDNamesTheRunAfterTheSweep(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 15, 0, 0, time.UTC)
	for in, want := range map[string]string{"full": "20261129-101500-full", "my sweep": "20261129-101500-my_sweep", "": "20261129-101500-run"} {
		if got := NewID(at, in); got != want || CheckID(got) != nil {
			t.Errorf("NewID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadReadsARunningJobsLatestProgressFromItsStream(t *testing.T) {
	results := t.TempDir()
	d, err := Create(results, Info{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	j, _ := d.Journal()
	j.Append(journal.Entry{Job: "a", Attempt: 1, Node: "n", State: journal.StateRunning})
	j.Append(journal.Entry{Job: "b", Attempt: 1, Node: "n", State: journal.StateDone})
	for _, id := range []string{"a", "b"} {
		os.MkdirAll(d.JobDir(id), 0o755)
		stream := strings.Repeat("server noise\n", 5000) +
			jobspec.FormatProgress(jobspec.Progress{Phase: jobspec.PhaseBenchmark, Done: 10, Total: 40}) + "\n" +
			jobspec.FormatProgress(jobspec.Progress{Phase: jobspec.PhaseBenchmark, Done: 30, Total: 40, TokensPerSec: 900}) + "\nmore noise\n"
		os.WriteFile(filepath.Join(d.JobDir(id), StreamFile), []byte(stream), 0o644)
	}
	rec, err := Load(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rec.Outcomes {
		switch o.Job {
		case "a":
			if o.Progress == nil || o.Progress.Done != 30 || o.Progress.String() != "benchmark 30/40 req, 900 tok/s" {
				t.Errorf("running job's progress = %+v", o.Progress)
			}
		case "b":
			if o.Progress != nil {
				t.Errorf("a done job shows progress %+v", o.Progress)
			}
		}
	}
}
