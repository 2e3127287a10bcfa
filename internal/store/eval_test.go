package store

import (
	"context"
	"reflect"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
)

// A row's eval scores go into the store and come back as they were,
// judged or not; recording the row again replaces them, and deleting
// the run removes them.
func TestEvalScoresRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	judged := results.EvalScore{Task: "gsm8k", Metric: "exact_match", Score: 0.8, N: 10, Runner: "builtin", Conc: 4}
	judged.Judge(0.9)
	plain := results.EvalScore{Task: "gpqa", Metric: "exact_match,none", Score: 0.35, N: 198, Runner: "lm-eval", Conc: 4}
	row := &results.Row{HW: "h200", TP: 8, EP: 1, Conc: 4, JobID: "j1", TputPerGPU: 100, Metrics: map[string]float64{},
		Evals: []results.EvalScore{judged, plain}}
	for range 2 {
		if err := s.RecordRow(ctx, "r1", row); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := s.Rows(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !reflect.DeepEqual(rows[0].Evals, row.Evals) {
		t.Fatalf("evals back: %+v\nwant %+v", rows[0].Evals, row.Evals)
	}
	if !rows[0].Evals[0].Failed() || rows[0].Evals[1].Passed != nil {
		t.Errorf("judgements lost: %+v", rows[0].Evals)
	}
	row.Evals = row.Evals[1:]
	if err := s.RecordRow(ctx, "r1", row); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM evals`); n != 1 {
		t.Errorf("%d eval lines after the row lost one, want 1", n)
	}
	if err := s.DeleteRun(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM evals`); n != 0 {
		t.Errorf("%d eval lines left after the run was deleted", n)
	}
}
