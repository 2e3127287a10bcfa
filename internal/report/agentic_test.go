package report

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/store"
)

// agenticRows parses testdata/agentic/row*.json: InferenceX-shaped
// agentic rows (dsv4 on b200 sglang at conc 4 and 16 without offload, 16
// with HiCache, and an h200 row whose server reported no metrics).
func agenticRows(t *testing.T) []*results.Row {
	t.Helper()
	var rows []*results.Row
	for i := 0; i < 4; i++ {
		b, err := os.ReadFile(filepath.Join("testdata", "agentic", fmt.Sprintf("row%d.json", i)))
		if err != nil {
			t.Fatal(err)
		}
		r, err := results.ParseAgenticRow(b)
		if err != nil {
			t.Fatalf("row%d: %v", i, err)
		}
		r.RunID, r.JobID = "ag", fmt.Sprintf("job%d", i)
		rows = append(rows, r)
	}
	return rows
}

func TestParseAgenticRow(t *testing.T) {
	r := agenticRows(t)[0]
	if r.TputPerGPU != 900.5 || r.OutputTputPerGPU != 40.25 || r.InputTputPerGPU != 860.25 || r.Conc != 4 || r.TP != 8 || r.Completed != 1000 || r.Failed != 4 {
		t.Errorf("columns %+v", r)
	}
	want := map[string]float64{keyTTFT: 0.8, keyP90TTFT: 1.28, keyITL: 0.012, keyIntvty: 1 / 0.012, results.KeyTheoHitRate: 0.93, results.KeyServerHit: 0.91,
		results.KeyGPUHitRate: 0.819, results.KeyCPUHitRate: 0.091}
	for k, v := range want {
		if got, ok := r.Metrics[k]; !ok || math.Abs(got-v) > 1e-9 {
			t.Errorf("%s = %v (%t), want %v", k, got, ok, v)
		}
	}
	if !results.IsAgentic(r) {
		t.Error("the parsed row is not agentic")
	}
	for _, bad := range []string{`{"hw":"x","conc":1,"tput_per_gpu":1}`, `{"scenario_type":"agentic-coding","hw":"x"}`,
		`{"scenario_type":"agentic-coding","request_metrics":{"throughput":{"per_gpu":{"total_tput_tps":-5}}}}`} {
		if _, err := results.ParseAgenticRow([]byte(bad)); err == nil {
			t.Errorf("%s parsed as an agentic row", bad)
		}
	}
}

func TestReportAgenticRows(t *testing.T) {
	in := fixtureInput(t)
	fixed := len(in.Rows)
	in.Rows = append(in.Rows, agenticRows(t)...)
	rep := Build(in)
	if len(rep.Rows) != fixed {
		t.Errorf("%d rows in the fixed-length table, want the fixture's %d: agentic rows stay apart", len(rep.Rows), fixed)
	}
	for _, f := range rep.Frontiers {
		for _, p := range f.Points {
			if strings.HasPrefix(p.JobID, "job") {
				t.Errorf("agentic point %s on a fixed-length frontier", p.JobID)
			}
		}
	}
	if len(rep.Agentic) != 4 {
		t.Fatalf("%d agentic points, want 4", len(rep.Agentic))
	}
	byJob := map[string]AgenticPoint{}
	for _, p := range rep.Agentic {
		byJob[p.JobID] = p
	}
	if p := byJob["job2"]; p.Offload != "dram/hicache 1199 GB" || p.TputPerGPU != 2600 || *p.ServerHit != 0.88 || *p.TheoreticalHit != 0.93 {
		t.Errorf("the HiCache point %+v", p)
	}
	if p := byJob["job3"]; p.ServerHit != nil || p.Offload != "none" || p.TheoreticalHit == nil {
		t.Errorf("a point without server metrics %+v", p)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Agentic trace replay", "dram/hicache 1199 GB", "2600.0", "88.0%", "93.0%", "TTFT p90 ms"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	var page bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, want := range []string{`id="chart-` + ChartAgentic + `"`, `<table id="agentic"`, `>hit 91%</text>`, `>hit 88%</text>`, `>hit 92% (theor.)</text>`,
		"cache hit: server 88.0% · theoretical 93.0%"} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	// The two b200 series without and with offload, and the h200 one.
	c := rep.agenticChart()
	var labels []string
	for _, s := range c.series {
		labels = append(labels, fmt.Sprintf("%s:%d", s.label, len(s.markers)))
	}
	if want := []string{"b200-dgxc_00 sglang fp4 · kv none:2", "b200-dgxc_00 sglang fp4 · kv dram/hicache 1199 GB:1", "h200-nb_01 sglang fp4 · kv none:1"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("agentic series %q, want %q", labels, want)
	}

	dir := t.TempDir()
	if _, err := rep.WriteCharts(dir); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, ChartAgentic+".png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("agentic chart png: %v", err)
	}
}

// A report without agentic rows has no agentic chart, table or key.
func TestReportWithoutAgenticRows(t *testing.T) {
	rep := Build(fixtureInput(t))
	if rep.agenticChart() != nil || len(rep.Agentic) != 0 {
		t.Error("agentic output without agentic rows")
	}
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `"agentic"`) {
		t.Error("report.json has an agentic key without agentic rows")
	}
}

// A flattened agentic row written as a row file goes through the store
// (its nested metrics kept) and reads back into the same points.
func TestAgenticRowsThroughTheStore(t *testing.T) {
	ctx := context.Background()
	rows := agenticRows(t)
	dir := t.TempDir()
	var paths []string
	for i, r := range rows {
		p := filepath.Join(dir, fmt.Sprintf("agg_%d.json", i))
		if err := results.WriteRows(p, []*results.Row{r}); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	s, err := store.Open(ctx, filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ImportFiles(ctx, paths, store.ImportOptions{RunID: "ag"}); err != nil {
		t.Fatal(err)
	}
	back, err := s.Rows(ctx, "ag")
	if err != nil {
		t.Fatal(err)
	}
	direct := Build(Input{Runs: []string{"ag"}, Rows: rows}).Agentic
	stored := Build(Input{Runs: []string{"ag"}, Rows: back}).Agentic
	if len(stored) != len(direct) {
		t.Fatalf("%d agentic points from the store, want %d", len(stored), len(direct))
	}
	key := func(p AgenticPoint) string {
		return fmt.Sprintf("%s %d %s %.2f %v %v", p.HW, p.Conc, p.Offload, p.TputPerGPU, deref(p.ServerHit), deref(p.MedianTTFT))
	}
	want := map[string]bool{}
	for _, p := range direct {
		want[key(p)] = true
	}
	for _, p := range stored {
		if !want[key(p)] {
			t.Errorf("stored point %s is not one of the parsed ones", key(p))
		}
	}
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}
