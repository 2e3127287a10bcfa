package store

import (
	"context"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/results"
)

func TestLatestByRecipe(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	day := func(d int) time.Time { return time.Date(2026, 11, d, 3, 0, 0, 0, time.UTC) }
	row := func(job string, conc int, fp string, tput float64) *results.Row {
		r := &results.Row{JobID: job, HW: "h200", TP: 8, EP: 1, Conc: conc, TputPerGPU: tput, Completed: 10,
			Metrics: map[string]float64{"median_ttft": 0.1}}
		r.SetFingerprint(fp)
		return r
	}
	add := func(run string, started time.Time, state string, rows ...*results.Row) {
		t.Helper()
		if err := s.RecordRun(ctx, Run{ID: run, Source: SourceSweep, Started: started}); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := s.RecordJob(ctx, Job{RunID: run, ID: r.JobID, State: state, HW: r.HW, Node: "gpu1", Rows: []*results.Row{r}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("old", day(1), StateDone, row("a4", 4, "A", 100), row("a8", 8, "A", 200), row("b4", 4, "B", 300))
	add("new", day(5), StateDone, row("a4", 4, "A", 110))
	add("broken", day(6), StateFailed, row("a8", 8, "A", 1))
	reused := row("b4", 4, "B", 300)
	reused.MarkReused(results.Reuse{Run: "old", Job: "b4"})
	add("copy", day(7), StateDone, reused, row("c4", 4, "C", 5))

	type want struct {
		run  string
		tput float64
	}
	tests := []struct {
		name string
		fps  []string
		q    RecipeQuery
		want map[RecipeKey]want
	}{
		{"newest done, reused left out", []string{"A", "B"}, RecipeQuery{}, map[RecipeKey]want{
			{"A", 4}: {"new", 110}, {"A", 8}: {"old", 200}, {"B", 4}: {"old", 300}}},
		{"since", []string{"A", "B"}, RecipeQuery{Since: day(3)}, map[RecipeKey]want{{"A", 4}: {"new", 110}}},
		{"except run", []string{"A"}, RecipeQuery{ExceptRun: "new"}, map[RecipeKey]want{{"A", 4}: {"old", 100}, {"A", 8}: {"old", 200}}},
		{"unknown fingerprint", []string{"Z"}, RecipeQuery{}, map[RecipeKey]want{}},
		{"none asked", nil, RecipeQuery{}, map[RecipeKey]want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.LatestByRecipe(ctx, tt.fps, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d rows, want %d: %v", len(got), len(tt.want), got)
			}
			for k, w := range tt.want {
				g := got[k]
				if g == nil {
					t.Errorf("%v: no row, want run %s", k, w.run)
					continue
				}
				if g.RunID != w.run || g.Row.TputPerGPU != w.tput || g.Row.Fingerprint() != k.Fingerprint || g.Row.Metrics["median_ttft"] != 0.1 {
					t.Errorf("%v: run %s tput %v fp %q metrics %v; want run %s tput %v", k, g.RunID, g.Row.TputPerGPU, g.Row.Fingerprint(), g.Row.Metrics, w.run, w.tput)
				}
				if g.Row.RunID != g.RunID || g.Row.HW != "h200" || g.Row.Node != "gpu1" || g.Started.IsZero() {
					t.Errorf("%v: row not read whole: %+v started %v", k, g.Row, g.Started)
				}
			}
		})
	}
}
