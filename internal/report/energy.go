package report

import (
	"fmt"
	"math"
	"strconv"

	"github.com/fleetbench/fleet/internal/results"
)

// ChartTputEnergy is the chart of throughput per GPU against joules per
// output token, drawn when a row has a valid energy measurement.
const ChartTputEnergy = "tput_vs_energy"

// energyPoint places a row with valid power: joules per output token
// (less is better) and throughput per GPU.
func energyPoint(r *results.Row) (float64, float64) {
	if !r.PowerValid() {
		return math.NaN(), math.NaN()
	}
	return metric(r, results.KeyJoulesPerOutTok), r.TputPerGPU
}

// energyFrontier is the rows no other row beats on both energy per token
// (fewer joules) and throughput per GPU.
func energyFrontier(rows []*results.Row) []*results.Row {
	pts := make([]Point, 0, len(rows))
	for i, r := range rows {
		x, y := energyPoint(r)
		pts = append(pts, Point{X: -x, Y: y, Index: i})
	}
	var out []*results.Row
	for _, p := range ParetoFrontier(pts) {
		out = append(out, rows[p.Index])
	}
	return out
}

// energyChart is throughput per GPU against joules per output token, a
// series per configuration with its frontier; nil when no row has valid
// power.
func (rep *Report) energyChart() *chart {
	c := &chart{name: ChartTputEnergy, title: "Throughput per GPU vs energy per output token",
		xlabel: "Energy per output token (J), all GPUs", ylabel: "Throughput per GPU (tok/s)", tipFn: energyTip}
	drawn := false
	for _, g := range rep.groups {
		col, shape := rep.seriesColor(g)
		// The key of the group's series in the other charts: one legend
		// toggle for all of them.
		s := chartSeries{key: fmt.Sprintf("s%d", g.groupIndex), label: g.label, color: col, shape: shape}
		for _, r := range g.rows {
			x, y := energyPoint(r)
			s.markers = appendFinite(s.markers, x, y, r)
		}
		if len(s.markers) == 0 {
			continue
		}
		drawn = true
		s.lines = [][]chartPoint{toPoints(energyFrontier(g.rows), energyPoint)}
		c.series = append(c.series, s)
	}
	if !drawn {
		return nil
	}
	c.bounds()
	return c
}

// energyTip is a point's tooltip: the configuration's, with its energy
// per output token and average power per GPU.
func energyTip(label string, r *results.Row) string {
	return tip(label, r) + "\n" + strconv.FormatFloat(metric(r, results.KeyJoulesPerOutTok), 'f', 4, 64) + " J/output token, " +
		strconv.FormatFloat(metric(r, results.KeyAvgPowerW), 'f', 1, 64) + " W per GPU"
}

// energyCompareMetric is the energy delta `fleet compare` shows: joules
// per output token, lower is better, informative only.
var energyCompareMetric = CompareMetric{Key: results.KeyJoulesPerOutTok, Label: "J/OUT-TOK", Scale: 1, Unit: "J/tok", Informative: true}

// energyCell is a power figure of a row for the HTML table, "–" when
// its power is invalid.
func energyCell(r *results.Row, key string, prec int) htmlCell {
	if !r.PowerValid() {
		return cell(math.NaN(), 1, prec)
	}
	return cell(metric(r, key), 1, prec)
}
