package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/bench"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/live"
	"github.com/fleetbench/fleet/internal/report"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/store"
)

// pwned retitles the terminal and clears it when printed raw; a node, a
// job's container or an imported file can put it anywhere it writes.
const pwned = "\x1b]0;pwned\x07\x1b[2J"

// TestNoPrinterPassesANodesEscapeSequencesToTheTerminal drives every
// printer that shows text from nodes, journals and imported files with
// crafted data holding an escape sequence in every string, and checks
// that none reaches the output raw while the text around it still does.
func TestNoPrinterPassesANodesEscapeSequencesToTheTerminal(t *testing.T) {
	row := &results.Row{RunID: "r", JobID: "job" + pwned, Node: "node" + pwned, HW: "h200" + pwned, Framework: "vllm" + pwned,
		Precision: "fp8" + pwned, TP: 8, EP: 1, Conc: 4, ISL: 1024, OSL: 1024, TputPerGPU: 100,
		Metrics: map[string]float64{"median_intvty": 50, "median_ttft": 0.1, "median_e2el": 2}}
	outcome := run.Outcome{Job: "job" + pwned, State: journal.StateFailed, Node: "node" + pwned, Attempts: 1,
		Reason: "server exited: last line " + pwned + "\nsecond line"}
	summary := &run.Summary{RunID: "r" + pwned, RunDir: "/res/r" + pwned, Done: 1, Failed: 1,
		Jobs: []run.Outcome{outcome, {Job: "running" + pwned, State: journal.StateRunning, Node: "n2",
			Progress: &jobspec.Progress{Phase: "benchmark" + pwned}}}, Rows: []*results.Row{row},
		Counts: map[string]int{journal.StateFailed: 1, journal.StateRunning: 1}}
	jobs := []report.JobStatus{{Run: "r", Job: "job" + pwned, HW: "h200" + pwned, Node: "node", State: journal.StateFailed,
		Reason: "boom " + pwned, Attempts: 2}}

	for _, tc := range []struct {
		name  string
		print func(w *bytes.Buffer) error
		want  string // text around the sequence that must still show
	}{
		{"the sweep's summary and its not-done list", func(w *bytes.Buffer) error { printSummary(w, summary); return nil }, "last line"},
		{"fleet status", func(w *bytes.Buffer) error { return printStatus(w, summary) }, "second line"},
		{"the live board, its notes and job lines", func(w *bytes.Buffer) error {
			b := live.New(2, 1, nil)
			b.Observe(journal.Entry{Job: "running" + pwned, Node: "node" + pwned, State: journal.StatePreparing})
			b.ObserveProgress("running"+pwned, jobspec.Progress{Phase: "benchmark" + pwned})
			b.Observe(journal.Entry{Job: "job" + pwned, Node: "n2", State: journal.StateFailed, Reason: "died " + pwned})
			b.Render(w) // the first frame: the board moves the cursor only to redraw
			return nil
		}, "died"},
		{"the text log", func(w *bytes.Buffer) error {
			a := &App{logFormat: "text", logLevel: "info"}
			if err := a.setupLogging(w); err != nil {
				return err
			}
			a.logger().Error("job failed", "reason", outcome.Reason, "node", outcome.Node)
			return nil
		}, "last line"},
		{"fleet bench's failure line", func(w *bytes.Buffer) error {
			res := &bench.Result{Failed: 9, Completed: 1, FailedReasons: []bench.FailureReason{{Reason: "HTTP N", Count: 9, Example: "HTTP 500: " + pwned}}}
			w.WriteString(tooManyFailed(res, 0.1).Error())
			return nil
		}, "HTTP 500"},
		{"fleet bench's summary", func(w *bytes.Buffer) error {
			res := &bench.Result{Failed: 9, Completed: 1, FailedReasons: []bench.FailureReason{{Reason: "HTTP N", Count: 9, Example: "HTTP 500: " + pwned}}}
			return writeBenchSummary(w, res)
		}, "HTTP 500"},
		{"fleet report's text", func(w *bytes.Buffer) error {
			return report.Build(report.Input{Title: "Report " + pwned, Runs: []string{"r"}, Rows: []*results.Row{row}, Jobs: jobs}).WriteText(w)
		}, "boom"},
		{"fleet compare's text", func(w *bytes.Buffer) error {
			return report.Compare("a"+pwned, "b", []*results.Row{row}, nil, jobs, 0.05).WriteText(w)
		}, "Comparing"},
		{"fleet results import's report", func(w *bytes.Buffer) error {
			writeImportReport(w, &store.ImportReport{Files: []store.FileResult{
				{Path: "/in/file" + pwned + ".json", RunID: "r" + pwned, JobID: "j" + pwned, Status: store.FileImported},
				{Path: "/in/other.json", Status: store.FileSkipped, Note: "not JSON: " + pwned},
			}})
			return nil
		}, "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := tc.print(&out); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			if strings.ContainsAny(s, "\x1b\x07") {
				t.Errorf("output holds a raw escape sequence:\n%q", s)
			}
			if !strings.Contains(s, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, s)
			}
		})
	}
}

func TestResultsImportRefusesHostileRowsAndReportStaysInsideResults(t *testing.T) {
	root := t.TempDir()
	resultsDir := filepath.Join(root, "results")
	for _, tc := range []struct{ name, content, want string }{
		{"a run id that climbs out of results/", `{"hw":"h200","tp":8,"tput_per_gpu":1,"run_id":"../../x","job_id":"j"}`, "run_id"},
		{"a throughput of 1e300", `{"hw":"h200","tp":8,"tput_per_gpu":1e300,"run_id":"r","job_id":"j"}`, "tput_per_gpu"},
		{"a count that wrapped", `{"hw":"h200","tp":8,"tput_per_gpu":1,"completed":-9223372036854775808,"run_id":"r","job_id":"j"}`, "completed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "row.json")
			os.WriteFile(p, []byte(tc.content), 0o644)
			code, stdout, stderr := runFleet(t, nil, "results", "import", "--results", resultsDir, p)
			if code == ExitOK || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, p) {
				t.Fatalf("import: exit %d, want an error naming %s and %s\n%s\n%s", code, p, tc.want, stdout, stderr)
			}
		})
	}
	code, stdout, stderr := runFleet(t, nil, "report", "--results", resultsDir)
	if code == ExitOK {
		t.Fatalf("report of an empty store: exit 0\n%s\n%s", stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("something was written outside results/: %v", err)
	}
}
