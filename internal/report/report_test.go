package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const fixtureRun = "20261101-120000-fixture"

// fixtureInput loads the store's fixture run (2 GPU types x 2 frameworks x
// 5 concurrencies, a retried, a failed and an unplaceable job) the way
// `fleet report` does: through the store.
func fixtureInput(t testing.TB) Input {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ImportRun(ctx, filepath.Join("..", "store", "testdata", "runs", fixtureRun)); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Rows(ctx, fixtureRun)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := s.Jobs(ctx, fixtureRun)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Runs: []string{fixtureRun}, Rows: rows}
	for _, j := range jobs {
		in.Jobs = append(in.Jobs, JobStatus{Run: j.RunID, Job: j.ID, HW: j.HW, Node: j.Node, State: j.State, Reason: j.Reason, Attempts: j.Attempts})
	}
	return in
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		out := filepath.Join(t.TempDir(), name)
		os.WriteFile(out, got, 0o644)
		t.Errorf("%s differs from its golden file; got written to %s (go test -update rewrites it)", name, out)
	}
}

func TestReportMatchesGoldenFiles(t *testing.T) {
	rep := Build(fixtureInput(t))
	var text, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", text.Bytes())
	golden(t, "report.json", js.Bytes())
	for _, c := range rep.charts() {
		svg, err := c.SVG()
		if err != nil {
			t.Fatal(err)
		}
		golden(t, c.name+".svg", svg)
	}
}

func TestReportFrontiersAndSuccessRates(t *testing.T) {
	rep := Build(fixtureInput(t))
	byKey := map[string]Frontier{}
	for _, f := range rep.Frontiers {
		byKey[f.Key] = f
	}
	if len(rep.Frontiers) != 6 {
		t.Fatalf("got %d frontiers, want 4 series + 2 GPUs: %v", len(rep.Frontiers), keysOf(byKey))
	}
	h200 := byKey["h200 (all configs)"]
	if h200.Scope != "gpu" || len(h200.Points) < 3 {
		t.Fatalf("h200 frontier = %+v", h200)
	}
	// Over all its configs the h200 frontier mixes frameworks and TP.
	mix := map[string]bool{}
	for _, p := range h200.Points {
		mix[p.Framework] = true
		mix[strings.Repeat("t", p.TP)] = true
	}
	if len(mix) < 3 {
		t.Errorf("h200 frontier %+v should mix configurations", h200.Points)
	}
	// The per-GPU frontier dominates every configuration of that GPU.
	for _, r := range rep.Rows {
		if r.HW != "h200" {
			continue
		}
		for _, p := range h200.Points {
			if r.Metrics[keyIntvty] > p.Interactivity && r.TputPerGPU > p.TputPerGPU {
				t.Errorf("row %s dominates frontier point %s", r.JobID, p.JobID)
			}
		}
	}
	want := map[string]Success{
		"h200":   {HW: "h200", Jobs: 16, Done: 15, Failed: 1, Attempts: 16},
		"mi300x": {HW: "mi300x", Jobs: 10, Done: 8, Failed: 2, Attempts: 10},
	}
	if len(rep.Success) != 2 {
		t.Fatalf("success = %+v", rep.Success)
	}
	for _, s := range rep.Success {
		w := want[s.HW]
		if s.Jobs != w.Jobs || s.Done != w.Done || s.Failed != w.Failed || s.Attempts != w.Attempts || len(s.Reasons) != w.Failed {
			t.Errorf("success of %s = %+v, want %+v with one reason per failure", s.HW, s, w)
		}
	}
}

func TestPNGChartsHaveTheirSizeAndInk(t *testing.T) {
	rep := Build(fixtureInput(t))
	for _, c := range rep.charts() {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.PNG()
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds().Size(); got != (image.Point{960, 576}) {
				t.Fatalf("size %v, want 960x576", got)
			}
			ink, colored := 0, 0
			for y := 0; y < 576; y++ {
				for x := 0; x < 960; x++ {
					r, g, b, _ := img.At(x, y).RGBA()
					if r < 0xf000 || g < 0xf000 || b < 0xf000 {
						ink++
					}
					// Saturated pixels: the series, not the gray axes.
					if max(r, g, b)-min(r, g, b) > 0x4000 {
						colored++
					}
				}
			}
			if ink < 5000 || colored < 1000 {
				t.Errorf("chart looks blank: %d inked pixels, %d colored", ink, colored)
			}
		})
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	rep := Build(fixtureInput(t))
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	// Only the SVG namespaces may name a URL; nothing may be loaded.
	for _, m := range regexp.MustCompile(`(?i)(src|href|url)\s*[=(]\s*["']?([a-z]+:)?//[^"' )]*`).FindAllString(page, -1) {
		t.Errorf("external reference: %s", m)
	}
	for _, bad := range []string{"<link", "@import", "<iframe", "fetch(", "XMLHttpRequest"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if n := strings.Count(page, `<circle class="pt"`); n != 3*len(rep.Rows) {
		t.Errorf("%d points in the charts, want %d (every row in each of 3 charts)", n, 3*len(rep.Rows))
	}
}

func TestEmptyReportStillRenders(t *testing.T) {
	rep := Build(Input{Runs: []string{"empty"}})
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if _, err := rep.WriteCharts(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
