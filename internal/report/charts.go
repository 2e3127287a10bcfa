package report

import (
	"bytes"
	"fmt"
	"html"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/fleetbench/fleet/internal/results"
)

// Chart sizes. PNGs are drawn at 96 dpi: 10 x 6 in is 960 x 576 pixels.
const (
	chartW   = 10 * vg.Inch
	chartH   = 6 * vg.Inch
	chartDPI = 96
	// The HTML charts leave the legend to the page.
	htmlW = 8 * vg.Inch
	htmlH = 5 * vg.Inch
)

// Chart names: each is written as <name>.png and <name>.svg.
const (
	ChartTputIntvty = "tput_vs_intvty"
	ChartTputE2EL   = "tput_vs_e2el"
	ChartTTFTConc   = "ttft_vs_conc"
)

// chart is what one chart shows, independent of how it is drawn.
type chart struct {
	name, title, xlabel, ylabel string
	xlog                        bool
	series                      []chartSeries
	xmin, xmax, ymin, ymax      float64
	// tipFn gives a point's tooltip (tip when nil); labelFn, when set,
	// the text drawn beside each point.
	tipFn   func(label string, r *results.Row) string
	labelFn func(r *results.Row) string
}

// chartSeries is one legend entry: markers for every configuration and
// lines through some of them (the series' frontier, or concurrency
// sweeps).
type chartSeries struct {
	key, label string
	color      color.RGBA
	shape      int // marker shape index
	frontier   bool
	markers    []chartPoint
	lines      [][]chartPoint
}

type chartPoint struct {
	x, y float64
	row  *results.Row
}

// Color families, one per GPU type: the series of a GPU share a hue so
// the eye groups them; the darkest shade draws the GPU's frontier.
var families = [][]string{
	{"#08306b", "#2171b5", "#6baed6", "#4292c6"},
	{"#7f2704", "#e6550d", "#fd8d3c", "#d94801"},
	{"#00441b", "#238b45", "#74c476", "#41ab5d"},
	{"#3f007d", "#6a51a3", "#9e9ac8", "#807dba"},
	{"#67000d", "#cb181d", "#fb6a4a", "#ef3b2c"},
	{"#252525", "#525252", "#969696", "#737373"},
}

func hexColor(s string) color.RGBA {
	v, _ := strconv.ParseUint(strings.TrimPrefix(s, "#"), 16, 32)
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 255}
}

func (rep *Report) seriesColor(g *group) (color.RGBA, int) {
	fam := families[g.hwIndex%len(families)]
	n := 0
	for _, o := range rep.groups[:g.groupIndex] {
		if o.run == g.run && o.hw == g.hw {
			n++
		}
	}
	return hexColor(fam[1+n%(len(fam)-1)]), n
}

func frontierColor(hwIndex int) color.RGBA { return hexColor(families[hwIndex%len(families)][0]) }

// charts builds the three charts of the report.
func (rep *Report) charts() []*chart {
	intvty := &chart{name: ChartTputIntvty, title: "Throughput per GPU vs interactivity",
		xlabel: "Median interactivity (tok/s/user)", ylabel: "Throughput per GPU (tok/s)"}
	lat := &chart{name: ChartTputE2EL, title: "Throughput per GPU vs end-to-end latency",
		xlabel: "Median end-to-end latency (s)", ylabel: "Throughput per GPU (tok/s)"}
	ttft := &chart{name: ChartTTFTConc, title: "Time to first token vs concurrency",
		xlabel: "Concurrency", ylabel: "Median TTFT (ms)", xlog: true}
	for _, g := range rep.groups {
		c, shape := rep.seriesColor(g)
		key := fmt.Sprintf("s%d", g.groupIndex)
		si := chartSeries{key: key, label: g.label, color: c, shape: shape}
		sl, st := si, si
		for _, r := range g.rows {
			si.markers = appendFinite(si.markers, metric(r, keyIntvty), r.TputPerGPU, r)
			sl.markers = appendFinite(sl.markers, metric(r, keyE2EL), r.TputPerGPU, r)
			st.markers = appendFinite(st.markers, float64(r.Conc), 1000*metric(r, keyTTFT), r)
		}
		si.lines = [][]chartPoint{toPoints(g.frontier, intvtyPoint)}
		sl.lines = [][]chartPoint{toPoints(g.latFront, e2elPoint)}
		// One TTFT line per parallelism setting, through its concurrencies
		// (a multi-node series has one shape: its group's).
		byPoint := map[string][]chartPoint{}
		var order []string
		for _, p := range st.markers {
			k := fmt.Sprintf("%d-%d-%t", p.row.TP, p.row.EP, p.row.DPAttention)
			if _, ok := byPoint[k]; !ok {
				order = append(order, k)
			}
			byPoint[k] = append(byPoint[k], p)
		}
		for _, k := range order {
			st.lines = append(st.lines, sortByX(byPoint[k]))
		}
		intvty.series = append(intvty.series, si)
		lat.series = append(lat.series, sl)
		ttft.series = append(ttft.series, st)
	}
	for _, s := range rep.gpus() {
		c := frontierColor(s.index)
		label := s.label
		label = strings.Replace(label, "(all configs)", "frontier", 1)
		key := fmt.Sprintf("f%d", s.index)
		intvty.series = append(intvty.series, chartSeries{key: key, label: label, color: c, frontier: true,
			lines: [][]chartPoint{toPoints(frontierRows(s.rows, intvtyPoint), intvtyPoint)}})
		lat.series = append(lat.series, chartSeries{key: key, label: label, color: c, frontier: true,
			lines: [][]chartPoint{toPoints(frontierRows(s.rows, latencyPoint), e2elPoint)}})
	}
	out := []*chart{intvty, lat, ttft}
	for _, c := range out {
		c.bounds()
	}
	if a := rep.agenticChart(); a != nil {
		out = append(out, a)
	}
	if e := rep.energyChart(); e != nil {
		out = append(out, e)
	}
	return out
}

func e2elPoint(r *results.Row) (float64, float64) { return metric(r, keyE2EL), r.TputPerGPU }

func appendFinite(pts []chartPoint, x, y float64, r *results.Row) []chartPoint {
	if finiteF(x) && finiteF(y) {
		pts = append(pts, chartPoint{x, y, r})
	}
	return pts
}

func finiteF(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func toPoints(rows []*results.Row, xy func(*results.Row) (float64, float64)) []chartPoint {
	var pts []chartPoint
	for _, r := range rows {
		x, y := xy(r)
		pts = appendFinite(pts, x, y, r)
	}
	return sortByX(pts)
}

func sortByX(pts []chartPoint) []chartPoint {
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].x < pts[j].x })
	return pts
}

// bounds sets the axes: linear axes start at zero, as InferenceMAX's
// charts do, so that bars of throughput compare by eye.
func (c *chart) bounds() {
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, s := range c.series {
		for _, p := range s.markers {
			xmin, xmax, ymax = math.Min(xmin, p.x), math.Max(xmax, p.x), math.Max(ymax, p.y)
		}
		for _, l := range s.lines {
			for _, p := range l {
				xmin, xmax, ymax = math.Min(xmin, p.x), math.Max(xmax, p.x), math.Max(ymax, p.y)
			}
		}
	}
	if math.IsInf(xmax, 0) {
		xmin, xmax, ymax = 1, 2, 1
	}
	c.ymin, c.ymax = 0, niceCeil(ymax*1.05)
	if c.xlog {
		c.xmin, c.xmax = math.Max(xmin, 1e-9)/1.3, xmax*1.3
		return
	}
	c.xmin, c.xmax = 0, niceCeil(xmax*1.05)
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// niceTicks labels 4 to 10 round values (steps of 1, 2 or 5 times a
// power of ten): gonum's default labels as few as three.
func niceTicks(lo, hi float64) []plot.Tick {
	span := hi - lo
	if !(span > 0) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	p := math.Pow(10, math.Floor(math.Log10(span)))
	step := p
	for _, m := range []float64{0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10} {
		if span/(m*p) <= 8 {
			step = m * p
			break
		}
	}
	prec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	if step*math.Pow10(prec) != math.Trunc(step*math.Pow10(prec)) {
		prec++
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0 // not -0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', prec, 64)})
		if minor := v + step/2; minor < hi {
			ticks = append(ticks, plot.Tick{Value: minor})
		}
	}
	return ticks
}

// newPlot draws the axes, grid and title; with data, the series too.
func (c *chart) newPlot(withData bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.title
	for _, st := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label} {
		st.Font.Variant = "Sans"
	}
	p.Title.TextStyle.Font.Size = vg.Points(15)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text, p.Y.Label.Text = c.xlabel, c.ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(12)
		a.Tick.Label.Font.Size = vg.Points(10)
		a.Label.Padding = vg.Points(6)
		a.Color = color.Gray{Y: 90}
		a.Tick.Color = color.Gray{Y: 90}
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = c.xmin, c.xmax, c.ymin, c.ymax
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.TickerFunc(niceTicks), plot.TickerFunc(niceTicks)
	if c.xlog {
		p.X.Scale = plot.LogScale{}
		var ticks []plot.Tick
		for v := 1.0; v <= c.xmax; v *= 2 {
			if v >= c.xmin {
				ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
			}
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 225}
	grid.Horizontal.Color = color.Gray{Y: 225}
	p.Add(grid)
	if !withData {
		return p, nil
	}
	for _, s := range c.series {
		for _, l := range s.lines {
			if len(l) < 2 {
				continue
			}
			line, err := plotter.NewLine(xys(l))
			if err != nil {
				return nil, fmt.Errorf("chart %s: series %s: %w", c.name, s.label, err)
			}
			line.LineStyle = lineStyle(s)
			p.Add(line)
		}
		if len(s.markers) > 0 {
			sc, err := plotter.NewScatter(xys(s.markers))
			if err != nil {
				return nil, fmt.Errorf("chart %s: series %s: %w", c.name, s.label, err)
			}
			sc.GlyphStyle = glyphStyle(s)
			p.Add(sc)
			if c.labelFn != nil {
				lb := plotter.XYLabels{XYs: xys(s.markers)}
				for _, m := range s.markers {
					lb.Labels = append(lb.Labels, c.labelFn(m.row))
				}
				labels, err := plotter.NewLabels(lb)
				if err != nil {
					return nil, fmt.Errorf("chart %s: series %s: %w", c.name, s.label, err)
				}
				for i := range labels.TextStyle {
					labels.TextStyle[i].Font.Variant = "Sans"
					labels.TextStyle[i].Font.Size = vg.Points(8)
					labels.TextStyle[i].Color = s.color
				}
				labels.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(3)}
				p.Add(labels)
			}
		}
	}
	return p, nil
}

func lineStyle(s chartSeries) draw.LineStyle {
	st := draw.LineStyle{Color: s.color, Width: vg.Points(1.8)}
	if s.frontier {
		st.Width = vg.Points(2.2)
		st.Dashes = []vg.Length{vg.Points(7), vg.Points(4)}
	}
	return st
}

var shapes = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{}, draw.RingGlyph{}}

func glyphStyle(s chartSeries) draw.GlyphStyle {
	return draw.GlyphStyle{Color: s.color, Radius: vg.Points(3.5), Shape: shapes[s.shape%len(shapes)]}
}

func xys(pts []chartPoint) plotter.XYs {
	out := make(plotter.XYs, len(pts))
	for i, p := range pts {
		out[i].X, out[i].Y = p.x, p.y
	}
	return out
}

// legend lists the series for the static charts.
type legendThumb struct{ s chartSeries }

func (t legendThumb) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	if t.s.frontier || len(t.s.lines) > 0 {
		c.StrokeLine2(lineStyle(t.s), c.Min.X, y, c.Max.X, y)
	}
	if len(t.s.markers) > 0 {
		c.DrawGlyph(glyphStyle(t.s), c.Center())
	}
}

// draw renders the chart with its legend on the right onto c.
func (c *chart) draw(cv vg.CanvasSizer) error {
	p, err := c.newPlot(true)
	if err != nil {
		return err
	}
	dc := draw.Crop(draw.New(cv), vg.Points(8), -vg.Points(8), vg.Points(6), -vg.Points(10))
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.TextStyle.Font.Variant = "Sans"
	leg.TextStyle.Font.Size = vg.Points(10)
	leg.ThumbnailWidth = vg.Points(22)
	leg.Padding = vg.Points(3)
	// The legend takes what its longest label needs, within limits.
	legendW := vg.Points(80)
	for _, s := range c.series {
		if len(s.markers) == 0 && (len(s.lines) == 0 || len(s.lines[0]) == 0) {
			continue
		}
		leg.Add(s.label, legendThumb{s})
		legendW = max(legendW, leg.TextStyle.Rectangle(s.label).Max.X+vg.Points(48))
	}
	legendW = min(legendW, dc.Size().X*0.35)
	plotArea := dc
	plotArea.Max.X -= legendW
	p.Draw(plotArea)
	legArea := dc
	legArea.Min.X = plotArea.Max.X + vg.Points(14)
	legArea.Max.Y -= vg.Points(36)
	leg.Draw(legArea)
	return nil
}

// PNG renders the chart as a PNG image.
func (c *chart) PNG() ([]byte, error) {
	cv := vgimg.NewWith(vgimg.UseWH(chartW, chartH), vgimg.UseDPI(chartDPI))
	if err := c.draw(cv); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: cv}).WriteTo(&b); err != nil {
		return nil, fmt.Errorf("chart %s: encode png: %w", c.name, err)
	}
	return b.Bytes(), nil
}

// SVG renders the chart as an SVG document.
func (c *chart) SVG() ([]byte, error) {
	cv := vgsvg.New(chartW, chartH)
	if err := c.draw(cv); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := cv.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("chart %s: encode svg: %w", c.name, err)
	}
	return b.Bytes(), nil
}

// htmlSVG renders the axes with gonum/plot and the data as SVG elements of
// its own, one group per series with a point per configuration, so the
// page's script can show tooltips and hide series.
func (c *chart) htmlSVG() (string, error) {
	p, err := c.newPlot(false)
	if err != nil {
		return "", err
	}
	cv := vgsvg.New(htmlW, htmlH)
	da := draw.New(cv)
	p.Draw(da)
	dc := p.DataCanvas(da)
	tx, ty := p.Transforms(&dc)
	H := htmlH.Points()
	px := func(x float64) float64 { return tx(x).Points() }
	py := func(y float64) float64 { return H - ty(y).Points() }
	var b bytes.Buffer
	if _, err := cv.WriteTo(&b); err != nil {
		return "", fmt.Errorf("chart %s: encode svg: %w", c.name, err)
	}
	doc := b.String()
	// Drop the XML prolog and fixed size: the page sizes the chart.
	if i := strings.Index(doc, "<svg"); i >= 0 {
		doc = doc[i:]
	}
	doc = strings.Replace(doc, fmt.Sprintf(`width="%gpt" height="%gpt"`, htmlW.Points(), H),
		fmt.Sprintf(`class="chart" data-chart="%s" role="img" aria-label="%s" preserveAspectRatio="xMidYMid meet"`, c.name, html.EscapeString(c.title)), 1)
	var o strings.Builder
	fmt.Fprintf(&o, `<clipPath id="clip-%s"><rect x="%.2f" y="%.2f" width="%.2f" height="%.2f"/></clipPath>`+"\n",
		c.name, dc.Min.X.Points(), H-dc.Max.Y.Points(), (dc.Max.X - dc.Min.X).Points(), (dc.Max.Y - dc.Min.Y).Points())
	fmt.Fprintf(&o, `<g class="data" clip-path="url(#clip-%s)">`+"\n", c.name)
	// Frontiers under the series' points, so points stay hoverable.
	ordered := append([]chartSeries(nil), c.series...)
	sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].frontier && !ordered[j].frontier })
	for _, s := range ordered {
		cls := "series"
		if s.frontier {
			cls += " frontier"
		}
		col := fmt.Sprintf("#%02x%02x%02x", s.color.R, s.color.G, s.color.B)
		fmt.Fprintf(&o, `<g class="%s" data-key="%s" data-label="%s" style="--c:%s">`+"\n", cls, s.key, html.EscapeString(s.label), col)
		for _, l := range s.lines {
			if len(l) < 2 {
				continue
			}
			var pts []string
			for _, p := range l {
				pts = append(pts, fmt.Sprintf("%.2f,%.2f", px(p.x), py(p.y)))
			}
			dash := ""
			if s.frontier {
				dash = ` stroke-dasharray="7 4"`
			}
			fmt.Fprintf(&o, `<polyline class="line" points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s/>`+"\n",
				strings.Join(pts, " "), col, lineStyle(s).Width.Points(), dash)
		}
		tipOf := tip
		if c.tipFn != nil {
			tipOf = c.tipFn
		}
		for _, p := range s.markers {
			if c.labelFn != nil {
				if l := c.labelFn(p.row); l != "" {
					fmt.Fprintf(&o, `<text class="plabel" x="%.2f" y="%.2f" font-size="9" fill="%s">%s</text>`+"\n",
						px(p.x)+6, py(p.y)-5, col, html.EscapeString(l))
				}
			}
			fmt.Fprintf(&o, `<circle class="pt" cx="%.2f" cy="%.2f" r="4" fill="%s" data-tip="%s"/>`+"\n",
				px(p.x), py(p.y), col, html.EscapeString(tipOf(s.label, p.row)))
		}
		o.WriteString("</g>\n")
	}
	o.WriteString("</g>\n")
	end := strings.LastIndex(doc, "</svg>")
	if end < 0 {
		return "", fmt.Errorf("chart %s: gonum wrote no closing </svg>", c.name)
	}
	return doc[:end] + o.String() + doc[end:], nil
}

// tip is a point's tooltip: what configuration it is and its numbers.
func tip(label string, r *results.Row) string {
	f := func(v float64, scale float64, prec int) string {
		if !finiteF(v) {
			return "-"
		}
		return strconv.FormatFloat(v*scale, 'f', prec, 64)
	}
	dpa := ""
	if r.DPAttention {
		dpa = " dp-attn"
	}
	if s := r.Shape(); s != "" {
		dpa += " · " + s // decode's tp and ep above; every role here
	}
	return fmt.Sprintf("%s\ntp%d ep%d%s · conc %d · %d/%d\nthroughput/GPU %s tok/s\ninteractivity %s tok/s/user\nTTFT %s ms · TPOT %s ms · E2EL %s s\n%s",
		label, r.TP, r.EP, dpa, r.Conc, r.ISL, r.OSL, f(r.TputPerGPU, 1, 1), f(metric(r, keyIntvty), 1, 1),
		f(metric(r, keyTTFT), 1000, 1), f(metric(r, keyTPOT), 1000, 2), f(metric(r, keyE2EL), 1, 2), r.JobID)
}

// WriteCharts writes every chart as PNG and SVG into dir and returns the
// paths written.
func (rep *Report) WriteCharts(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("write charts: %w", err)
	}
	var paths []string
	for _, c := range rep.charts() {
		for _, f := range []struct {
			ext    string
			render func() ([]byte, error)
		}{{"png", c.PNG}, {"svg", c.SVG}} {
			b, err := f.render()
			if err != nil {
				return paths, err
			}
			path := filepath.Join(dir, c.name+"."+f.ext)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				return paths, fmt.Errorf("write chart: %w", err)
			}
			paths = append(paths, path)
		}
	}
	return paths, nil
}
