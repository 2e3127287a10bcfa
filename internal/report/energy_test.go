package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
)

// withPower gives rows valid power figures: joules per output token and
// average watts per GPU.
func withPower(r *results.Row, jpot, watts float64) {
	r.Metrics[results.KeyPowerValid] = 1
	r.Metrics[results.KeyJoulesPerOutTok] = jpot
	r.Metrics[results.KeyAvgPowerW] = watts
}

func TestEnergyChartAndTable(t *testing.T) {
	in := fixtureInput(t)
	for _, c := range rowsCharts(Build(in)) {
		if c == ChartTputEnergy {
			t.Fatalf("energy chart without power figures")
		}
	}
	var b bytes.Buffer
	if err := Build(in).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "J/OUT-TOK") {
		t.Errorf("energy column without power figures:\n%s", b.String())
	}

	in.Rows = cloneRows(in.Rows, fixtureRun)
	for i, r := range in.Rows {
		withPower(r, 0.5+float64(i)/10, 600)
	}
	invalid := in.Rows[0]
	invalid.Metrics[results.KeyPowerValid] = 0
	rep := Build(in)
	var energy *chart
	for _, c := range rep.charts() {
		if c.name == ChartTputEnergy {
			energy = c
		}
	}
	if energy == nil {
		t.Fatal("no energy chart with power figures")
	}
	points := 0
	for _, s := range energy.series {
		for _, p := range s.markers {
			points++
			if p.row == invalid {
				t.Errorf("a row of invalid power is drawn")
			}
			if p.x != p.row.Metrics[results.KeyJoulesPerOutTok] || p.y != p.row.TputPerGPU {
				t.Errorf("point (%v, %v) of row %s", p.x, p.y, p.row.JobID)
			}
		}
		// Along the frontier fewer joules per token buy less throughput.
		for _, l := range s.lines {
			for i := 1; i < len(l); i++ {
				if l[i].x <= l[i-1].x || l[i].y <= l[i-1].y {
					t.Errorf("series %s: frontier (%v, %v) then (%v, %v)", s.label, l[i-1].x, l[i-1].y, l[i].x, l[i].y)
				}
			}
		}
	}
	if points != len(in.Rows)-1 {
		t.Errorf("%d points, want %d", points, len(in.Rows)-1)
	}
	b.Reset()
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "J/OUT-TOK") || !strings.Contains(b.String(), "W/GPU") {
		t.Errorf("no energy columns:\n%s", b.String())
	}
	paths, err := rep.WriteCharts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(paths, " "), ChartTputEnergy+".svg") {
		t.Errorf("charts written: %v", paths)
	}
	b.Reset()
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Throughput per GPU vs energy per output token") {
		t.Errorf("the HTML report lacks the energy chart")
	}
	if !strings.Contains(b.String(), "<th class=\"n\" data-type=\"num\">J/output tok</th>") || !strings.Contains(b.String(), ">0.6000</td>") {
		t.Errorf("the HTML results table lacks the energy columns")
	}
}

func rowsCharts(rep *Report) []string {
	var names []string
	for _, c := range rep.charts() {
		names = append(names, c.name)
	}
	return names
}

func TestCompareShowsTheEnergyDeltaWithoutJudgingIt(t *testing.T) {
	in := fixtureInput(t)
	a, b := cloneRows(in.Rows, "a"), cloneRows(in.Rows, "b")
	for i := range a {
		withPower(a[i], 1, 600)
		withPower(b[i], 1.5, 600) // 50% more energy per token
	}
	c := Compare("a", "b", a, b, nil, 0.05)
	if c.Regressed() || c.Improvements != 0 {
		t.Errorf("energy judged: %d regressions, %d improvements", c.Regressions, c.Improvements)
	}
	for _, d := range c.Configs {
		found := false
		for _, dl := range d.Deltas {
			if dl.Metric == results.KeyJoulesPerOutTok {
				found = true
				if dl.A != 1 || dl.B != 1.5 || dl.Change != 0.5 || dl.Regressed {
					t.Errorf("%s: delta %+v", d.Key, dl)
				}
			}
		}
		if !found {
			t.Errorf("%s: no energy delta", d.Key)
		}
	}
	var out bytes.Buffer
	if err := c.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "J/OUT-TOK") || !strings.Contains(out.String(), "+50.0%") {
		t.Errorf("text lacks the energy delta:\n%s", out.String())
	}
}
