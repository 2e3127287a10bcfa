package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/results"
)

// WriteHTML writes the report as one self-contained HTML page: charts as
// inline SVG with tooltips and series toggles, the frontier, success and
// result tables (sortable). It loads nothing from anywhere (a
// Content-Security-Policy forbids it), so it opens offline and from an
// e-mail attachment alike.
func (rep *Report) WriteHTML(w io.Writer) error {
	charts := rep.charts()
	page := htmlPage{Title: rep.Title, Runs: rep.Runs, Multi: len(rep.Runs) > 1}
	for _, c := range charts {
		svg, err := c.htmlSVG()
		if err != nil {
			return err
		}
		page.Charts = append(page.Charts, htmlChart{Name: c.name, Title: c.title, SVG: template.HTML(svg)})
	}
	seen := map[string]bool{}
	for _, c := range charts {
		for _, s := range c.series {
			if seen[s.key] {
				continue
			}
			seen[s.key] = true
			page.Legend = append(page.Legend, htmlLegend{Key: s.key, Label: s.label, Frontier: s.frontier,
				Color: template.CSS(fmt.Sprintf("#%02x%02x%02x", s.color.R, s.color.G, s.color.B))})
		}
	}
	sort.SliceStable(page.Legend, func(i, j int) bool { return !page.Legend[i].Frontier && page.Legend[j].Frontier })

	onFrontier := map[*results.Row]bool{}
	for _, s := range rep.gpus() {
		for _, r := range frontierRows(s.rows, intvtyPoint) {
			onFrontier[r] = true
		}
	}
	keyOf := map[*results.Row]string{}
	for _, g := range rep.groups {
		for _, r := range g.rows {
			keyOf[r] = fmt.Sprintf("s%d", g.groupIndex)
		}
	}
	best := map[string]float64{}
	var hws []string
	for _, r := range rep.Rows {
		page.Shapes = page.Shapes || r.MultiNode()
		if _, ok := best[r.HW]; !ok {
			hws = append(hws, r.HW)
		}
		best[r.HW] = math.Max(best[r.HW], r.TputPerGPU)
		page.Rows = append(page.Rows, htmlRow{Row: r, Key: keyOf[r], Frontier: onFrontier[r],
			TTFT: cell(metric(r, keyTTFT), 1000, 1), TPOT: cell(metric(r, keyTPOT), 1000, 2),
			Intvty: cell(metric(r, keyIntvty), 1, 1), E2EL: cell(metric(r, keyE2EL), 1, 2),
			Tput: cell(r.TputPerGPU, 1, 1), OutTput: cell(r.OutputTputPerGPU, 1, 1), JPOT: energyCell(r, results.KeyJoulesPerOutTok, 4),
			Watts: energyCell(r, results.KeyAvgPowerW, 1)})
		page.Energy = page.Energy || r.PowerValid()
	}
	sort.Strings(hws)
	jobs, done := 0, 0
	for _, s := range rep.Success {
		jobs += s.Jobs
		done += s.Done
		page.HasReasons = page.HasReasons || len(s.Reasons) > 0
		page.Success = append(page.Success, htmlSuccess{Success: s, Percent: fmt.Sprintf("%.0f%%", 100*s.Rate),
			Bar: template.CSS(fmt.Sprintf("width:%.1f%%", 100*s.Rate))})
	}
	page.Cards = []htmlCard{
		{"Results", strconv.Itoa(len(rep.Rows)), "configurations measured"},
		{"Series", strconv.Itoa(len(rep.groups)), "GPU × framework × precision"},
		{"Jobs done", fmt.Sprintf("%d / %d", done, jobs), "across " + strconv.Itoa(len(rep.Success)) + " GPU types"},
	}
	for _, hw := range hws {
		page.Cards = append(page.Cards, htmlCard{"Best " + hw, strconv.FormatFloat(best[hw], 'f', 0, 64), "tok/s per GPU"})
	}
	if len(rep.Agentic) > 0 {
		page.Cards = append(page.Cards, htmlCard{"Agentic", strconv.Itoa(len(rep.Agentic)), "trace-replay runs"})
	}
	num := func(v *float64, scale float64, prec int) htmlCell {
		if v == nil {
			return htmlCell{"–", ""}
		}
		return cell(*v, scale, prec)
	}
	for _, p := range rep.Agentic {
		page.Agentic = append(page.Agentic, htmlAgentic{AgenticPoint: p, Tput: cell(p.TputPerGPU, 1, 1), OutTput: cell(p.OutputTputPerGPU, 1, 1),
			TTFT: num(p.MedianTTFT, 1000, 1), P90TTFT: num(p.P90TTFT, 1000, 1), ITL: num(p.MedianITL, 1000, 2), Intvty: num(p.Interactivity, 1, 1),
			Theo: num(p.TheoreticalHit, 100, 1), Server: num(p.ServerHit, 100, 1)})
	}
	page.Evals = rep.Evals
	for _, f := range rep.Frontiers {
		hf := htmlFrontier{Frontier: f}
		for _, p := range f.Points {
			hf.Points = append(hf.Points, htmlFrontierPoint{FrontierPoint: p,
				Intvty: strconv.FormatFloat(p.Interactivity, 'f', 1, 64), Tput: strconv.FormatFloat(p.TputPerGPU, 'f', 1, 64)})
		}
		if len(hf.Points) > 0 {
			page.Frontiers = append(page.Frontiers, hf)
		}
	}
	if err := pageTemplate.Execute(w, page); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

type htmlPage struct {
	Title string
	Runs  []string
	Multi bool
	// Shapes is set when a row is multi-node: the tables gain a shape
	// column ("p1x8/d1x8", "agg 2x8"; "-" for a single-node row).
	Shapes    bool
	Cards     []htmlCard
	Charts    []htmlChart
	Legend    []htmlLegend
	Frontiers []htmlFrontier
	Success   []htmlSuccess
	Rows      []htmlRow
	Agentic   []htmlAgentic
	Evals     []EvalTable // accuracy evals (eval.go)
	// HasReasons is set when some job failed or was cancelled.
	HasReasons bool
	// Energy is set when a row has valid power: the results table gains
	// joules per output token and watts per GPU.
	Energy bool
}

type htmlCard struct{ Label, Value, Note string }

type htmlChart struct {
	Name, Title string
	SVG         template.HTML
}

type htmlLegend struct {
	Key, Label string
	Color      template.CSS
	Frontier   bool
}

type htmlFrontier struct {
	Frontier
	Points []htmlFrontierPoint
}

type htmlFrontierPoint struct {
	FrontierPoint
	Intvty, Tput string
}

type htmlSuccess struct {
	Success
	Percent string
	Bar     template.CSS
}

type htmlRow struct {
	*results.Row
	Key                                     string
	Frontier                                bool
	TTFT, TPOT, Intvty, E2EL, Tput, OutTput htmlCell
	JPOT, Watts                             htmlCell // "–" without valid power
}

// htmlAgentic is an agentic run's row of the page (hit rates in percent).
type htmlAgentic struct {
	AgenticPoint
	Tput, OutTput, TTFT, P90TTFT, ITL, Intvty, Theo, Server htmlCell
}

// htmlCell is a number as shown and as sorted.
type htmlCell struct{ Text, Value string }

func cell(v, scale float64, prec int) htmlCell {
	if !finiteF(v) {
		return htmlCell{"–", ""}
	}
	return htmlCell{strconv.FormatFloat(v*scale, 'f', prec, 64), strconv.FormatFloat(v*scale, 'g', -1, 64)}
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"join": strings.Join,
	"inc":  func(i int) int { return i + 1 },
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
:root { --fg:#1d2433; --muted:#5f6b7a; --line:#e3e7ee; --bg:#f5f7fa; --card:#fff; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color:var(--fg); background:var(--bg); }
header { background:#111827; color:#f9fafb; padding:22px 32px 18px; }
header h1 { margin:0; font-size:22px; font-weight:650; letter-spacing:.2px; }
header .runs { margin-top:6px; color:#cbd5e1; font-size:13px; }
header code { background:#1f2937; padding:1px 6px; border-radius:4px; color:#e5e7eb; }
main { padding:20px 32px 40px; max-width:1680px; margin:0 auto; }
h2 { font-size:17px; margin:28px 0 10px; font-weight:650; }
.cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 16px; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.5px; }
.card .value { font-size:24px; font-weight:650; margin-top:2px; font-variant-numeric: tabular-nums; }
.card .note { color:var(--muted); font-size:12px; }
.legend { display:flex; flex-wrap:wrap; gap:6px; margin:4px 0 12px; }
.legend button { display:inline-flex; align-items:center; gap:7px; font:inherit; font-size:13px; padding:4px 10px; border-radius:999px;
  border:1px solid var(--line); background:var(--card); color:var(--fg); cursor:pointer; }
.legend button:hover { border-color:#9aa5b5; }
.legend button[aria-pressed="false"] { opacity:.45; text-decoration:line-through; }
.legend .sw { width:18px; height:0; border-top:3px solid var(--c); display:inline-block; position:relative; }
.legend .sw::after { content:""; position:absolute; left:5px; top:-6px; width:8px; height:8px; border-radius:50%; background:var(--c); }
.legend .frontier .sw { border-top-style:dashed; }
.legend .frontier .sw::after { display:none; }
.legend .hint { color:var(--muted); font-size:12px; align-self:center; margin-left:6px; }
.charts { display:grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap:16px; }
figure { margin:0; background:var(--card); border:1px solid var(--line); border-radius:10px; padding:10px 12px 6px; }
figure svg { width:100%; height:auto; display:block; }
figure figcaption { color:var(--muted); font-size:12px; padding:2px 4px 6px; }
svg .series.off { display:none; }
svg circle.pt { stroke:#fff; stroke-width:1.2; cursor:pointer; transition: r .1s; }
svg circle.pt.hot { r:7; stroke:#111827; }
svg .line { stroke-linejoin:round; stroke-linecap:round; }
.tip { position:fixed; pointer-events:none; z-index:10; background:#111827; color:#f9fafb; padding:8px 10px; border-radius:6px;
  font-size:12px; line-height:1.5; white-space:pre; box-shadow:0 4px 14px rgba(0,0,0,.25); }
.tip[hidden] { display:none; }
table { border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:10px; overflow:hidden; width:100%; font-size:13px; }
th, td { padding:5px 8px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
th { background:#eef2f7; font-weight:600; font-size:12px; color:#334155; position:sticky; top:0; }
td.n, th.n { text-align:right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) td { background:#fafbfd; }
tbody tr:hover td { background:#eef4ff; }
table.sortable th { cursor:pointer; user-select:none; }
table.sortable th::after { content:" ↕"; color:#a0aab8; font-size:11px; }
table.sortable th[aria-sort="ascending"]::after { content:" ▲"; color:var(--accent); }
table.sortable th[aria-sort="descending"]::after { content:" ▼"; color:var(--accent); }
.star { color:#d97706; }
p.note { color:var(--muted); font-size:12px; margin:-4px 0 8px; }
.panel { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:4px 16px 14px; }
.panel h2 { margin-top:12px; }
.panel h3 { font-size:14px; margin:16px 0 4px; font-weight:600; }
.panel table { border-radius:6px; }
#frontiers tr.first td { border-top:2px solid #cfd6e0; }
#frontiers td.fkey { background:#f8fafc; vertical-align:top; }
.bar { background:#e5e7eb; border-radius:4px; height:8px; width:120px; display:inline-block; vertical-align:middle; margin-right:8px; overflow:hidden; }
.bar span { display:block; height:100%; background:#16a34a; }
ul.reasons { margin:8px 0 0; padding-left:18px; color:#7f1d1d; }
ul.reasons li { margin:2px 0; }
.scroll { overflow-x:auto; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:10px 0 30px; }
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<div class="runs">{{if .Multi}}Runs{{else}}Run{{end}} {{range $i, $r := .Runs}}{{if $i}}, {{end}}<code>{{$r}}</code>{{end}}</div>
</header>
<main>
<section class="cards">
{{range .Cards}}<div class="card"><div class="label">{{.Label}}</div><div class="value">{{.Value}}</div><div class="note">{{.Note}}</div></div>
{{end}}</section>

<h2>Charts</h2>
<div class="legend" id="legend">
{{range .Legend}}<button type="button" class="{{if .Frontier}}frontier{{else}}group{{end}}" data-key="{{.Key}}" aria-pressed="true" style="--c:{{.Color}}"><span class="sw"></span>{{.Label}}</button>
{{end}}<span class="hint">click to show or hide a series; hover a point for its numbers</span>
</div>
<div class="charts">
{{range .Charts}}<figure id="chart-{{.Name}}">{{.SVG}}<figcaption>{{.Title}}{{if eq .Name "tput_vs_intvty"}}: solid lines join each series' Pareto-optimal configurations; dashed lines are each GPU's frontier over all its configurations.{{end}}{{if eq .Name "agentic_tput_vs_intvty"}}: lines join each series' concurrencies; the label is the server's prefix-cache hit rate, or the trace's theoretical one (theor.) when the server reported none.{{end}}</figcaption></figure>
{{end}}<section class="panel">
<h2>Success rate per GPU type</h2>
<table id="success">
<thead><tr>{{if .Multi}}<th>Run</th>{{end}}<th>GPU</th><th class="n">Done / jobs</th><th>Rate</th><th class="n">Failed</th><th class="n">Cancelled</th><th class="n">Attempts</th></tr></thead>
<tbody>
{{range .Success}}<tr>{{if $.Multi}}<td>{{.Run}}</td>{{end}}<td><strong>{{.HW}}</strong></td><td class="n">{{.Done}} / {{.Jobs}}</td><td><span class="bar"><span style="{{.Bar}}"></span></span>{{.Percent}}</td><td class="n">{{.Failed}}</td><td class="n">{{.Cancelled}}</td><td class="n">{{.Attempts}}</td></tr>
{{end}}</tbody>
</table>
{{if .HasReasons}}<h3>Failure reasons</h3>{{end}}
{{range .Success}}{{if .Reasons}}<ul class="reasons">{{$hw := .HW}}{{range .Reasons}}<li><strong>{{$hw}}</strong> ×{{.Count}}: {{.Reason}}</li>{{end}}</ul>{{end}}{{end}}
</section>
</div>
<div id="tip" class="tip" hidden></div>

<h2>Pareto frontier: throughput per GPU vs interactivity</h2>
<div class="scroll"><table id="frontiers">
<thead><tr><th>Frontier</th><th>Framework</th><th>Precision</th>{{if .Shapes}}<th>Shape</th>{{end}}<th class="n">TP</th><th class="n">EP</th><th>DPA</th><th class="n">Conc</th><th class="n">Interactivity tok/s/user</th><th class="n">Tput/GPU tok/s</th></tr></thead>
<tbody>
{{range .Frontiers}}{{$f := .}}{{range $i, $p := .Points}}<tr data-scope="{{$f.Scope}}"{{if not $i}} class="first"{{end}}>{{if not $i}}<td rowspan="{{len $f.Points}}" class="fkey"><strong>{{$f.Key}}</strong></td>{{end}}<td>{{$p.Framework}}</td><td>{{$p.Precision}}</td>{{if $.Shapes}}<td>{{or $p.Shape "-"}}</td>{{end}}<td class="n">{{$p.TP}}</td><td class="n">{{$p.EP}}</td><td>{{$p.DPAttention}}</td><td class="n">{{$p.Conc}}</td><td class="n">{{$p.Intvty}}</td><td class="n">{{$p.Tput}}</td></tr>
{{end}}{{end}}</tbody>
</table></div>

{{if .Agentic}}<h2>Agentic trace replay</h2>
<p class="note">Throughputs in tok/s per GPU, latencies in ms, interactivity in tok/s per user; cache hit rates in percent of prompt tokens (theoretical: from the trace's shared blocks; server: what the server reported).</p>
<div class="scroll"><table id="agentic" class="sortable">
<thead><tr>{{if .Multi}}<th>Run</th>{{end}}<th>GPU</th><th>Framework</th><th>Precision</th>{{if .Shapes}}<th>Shape</th>{{end}}<th class="n" data-type="num">TP</th><th class="n" data-type="num">EP</th><th>KV offload</th><th class="n" data-type="num">Conc</th><th class="n" data-type="num">Tput/GPU</th><th class="n" data-type="num">Output tput/GPU</th><th class="n" data-type="num">TTFT p50</th><th class="n" data-type="num">TTFT p90</th><th class="n" data-type="num">ITL</th><th class="n" data-type="num">Interactivity</th><th class="n" data-type="num">Hit theor. %</th><th class="n" data-type="num">Hit server %</th></tr></thead>
<tbody>
{{range .Agentic}}<tr>{{if $.Multi}}<td>{{.Run}}</td>{{end}}<td>{{.HW}}</td><td>{{.Framework}}</td><td>{{.Precision}}</td>{{if $.Shapes}}<td>{{or .Shape "-"}}</td>{{end}}<td class="n">{{.TP}}</td><td class="n">{{.EP}}</td><td>{{.Offload}}</td><td class="n">{{.Conc}}</td><td class="n" data-v="{{.Tput.Value}}">{{.Tput.Text}}</td><td class="n" data-v="{{.OutTput.Value}}">{{.OutTput.Text}}</td><td class="n" data-v="{{.TTFT.Value}}">{{.TTFT.Text}}</td><td class="n" data-v="{{.P90TTFT.Value}}">{{.P90TTFT.Text}}</td><td class="n" data-v="{{.ITL.Value}}">{{.ITL.Text}}</td><td class="n" data-v="{{.Intvty.Value}}">{{.Intvty.Text}}</td><td class="n" data-v="{{.Theo.Value}}">{{.Theo.Text}}</td><td class="n" data-v="{{.Server.Value}}">{{.Server.Text}}</td></tr>
{{end}}</tbody>
</table></div>
{{end}}
{{range .Evals}}<h2>Accuracy evals: {{.Key}}</h2>
<div class="scroll"><table class="sortable evals">
<thead><tr><th class="n" data-type="num">TP</th><th class="n" data-type="num">EP</th><th class="n" data-type="num">Conc</th><th>Task</th><th>Metric</th><th class="n" data-type="num">Score</th><th class="n" data-type="num">Threshold</th><th>Result</th><th class="n" data-type="num">N</th><th>Runner</th></tr></thead>
<tbody>
{{range .Lines}}<tr><td class="n">{{.TP}}</td><td class="n">{{.EP}}</td><td class="n">{{.Conc}}{{if .EvalOnly}} (eval only){{end}}</td><td>{{.Task}}</td><td>{{.Metric}}</td><td class="n">{{printf "%.4f" .Score}}</td><td class="n">{{.ThresholdText}}</td><td>{{.Verdict}}</td><td class="n">{{.N}}</td><td>{{.Runner}}</td></tr>
{{end}}</tbody>
</table></div>
{{end}}<h2>All results</h2>
<p class="note">Click a column to sort. <span class="star">★</span> marks configurations on their GPU's Pareto frontier.</p>
<div class="scroll"><table id="results" class="sortable">
<thead><tr>{{if .Multi}}<th>Run</th>{{end}}<th>GPU</th><th>Framework</th><th>Precision</th><th>ISL/OSL</th>{{if .Shapes}}<th>Shape</th>{{end}}<th class="n" data-type="num">TP</th><th class="n" data-type="num">EP</th><th>DPA</th><th class="n" data-type="num">Conc</th><th class="n" data-type="num">TTFT ms</th><th class="n" data-type="num">TPOT ms</th><th class="n" data-type="num">Interactivity</th><th class="n" data-type="num">E2EL s</th><th class="n" data-type="num">Tput/GPU</th><th class="n" data-type="num">Output tput/GPU</th>{{if .Energy}}<th class="n" data-type="num">J/output tok</th><th class="n" data-type="num">W/GPU</th>{{end}}<th class="n" data-type="num">Failed req.</th><th>Node</th></tr></thead>
<tbody>
{{range .Rows}}<tr data-key="{{.Key}}">{{if $.Multi}}<td>{{.RunID}}</td>{{end}}<td>{{.HW}}</td><td>{{.Framework}}</td><td>{{.Precision}}</td><td>{{.ISL}}/{{.OSL}}</td>{{if $.Shapes}}<td>{{or .Shape "-"}}</td>{{end}}<td class="n">{{.TP}}</td><td class="n">{{.EP}}</td><td>{{.DPAttention}}</td><td class="n">{{.Conc}}</td><td class="n" data-v="{{.TTFT.Value}}">{{.TTFT.Text}}</td><td class="n" data-v="{{.TPOT.Value}}">{{.TPOT.Text}}</td><td class="n" data-v="{{.Intvty.Value}}">{{.Intvty.Text}}</td><td class="n" data-v="{{.E2EL.Value}}">{{.E2EL.Text}}</td><td class="n" data-v="{{.Tput.Value}}">{{if .Frontier}}<span class="star" title="on its GPU's Pareto frontier">★</span> {{end}}{{.Tput.Text}}</td><td class="n" data-v="{{.OutTput.Value}}">{{.OutTput.Text}}</td>{{if $.Energy}}<td class="n" data-v="{{.JPOT.Value}}">{{.JPOT.Text}}</td><td class="n" data-v="{{.Watts.Value}}">{{.Watts.Text}}</td>{{end}}<td class="n">{{.Failed}}</td><td>{{.Node}}</td></tr>
{{end}}</tbody>
</table></div>
</main>
<footer>Generated by fleet. This page is self-contained: it works offline.</footer>
<script>
(function () {
  'use strict';
  var tip = document.getElementById('tip');
  function place(e) {
    var w = tip.offsetWidth, h = tip.offsetHeight;
    var x = e.clientX + 14, y = e.clientY + 14;
    if (x + w > window.innerWidth - 8) { x = e.clientX - w - 14; }
    if (y + h > window.innerHeight - 8) { y = e.clientY - h - 14; }
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }
  function isPoint(t) { return t && t.classList && t.classList.contains('pt'); }
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    svg.addEventListener('mouseover', function (e) {
      if (!isPoint(e.target)) { return; }
      tip.textContent = e.target.getAttribute('data-tip');
      tip.hidden = false;
      e.target.classList.add('hot');
      place(e);
    });
    svg.addEventListener('mousemove', function (e) { if (!tip.hidden) { place(e); } });
    svg.addEventListener('mouseout', function (e) {
      if (!isPoint(e.target)) { return; }
      tip.hidden = true;
      e.target.classList.remove('hot');
    });
  });
  document.querySelectorAll('#legend button').forEach(function (b) {
    b.addEventListener('click', function () {
      var hide = b.getAttribute('aria-pressed') !== 'false';
      b.setAttribute('aria-pressed', hide ? 'false' : 'true');
      document.querySelectorAll('g.series[data-key="' + b.getAttribute('data-key') + '"]').forEach(function (g) {
        g.classList.toggle('off', hide);
      });
    });
  });
  function sortBy(table, col, th) {
    var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = th.getAttribute('data-type') === 'num';
    function val(r) {
      var c = r.cells[col];
      var v = c.hasAttribute('data-v') ? c.getAttribute('data-v') : c.textContent;
      if (!numeric) { return v; }
      var f = parseFloat(v);
      return isNaN(f) ? -Infinity : f;
    }
    rows.sort(function (a, b) {
      var x = val(a), y = val(b);
      if (numeric) { return x === y ? 0 : (x < y ? -dir : dir); }
      return x.localeCompare(y) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.tabIndex = 0;
      th.addEventListener('click', function () { sortBy(table, i, th); });
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(table, i, th); }
      });
    });
  });
}());
</script>
</body>
</html>
`
