package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// findChromium looks for an installed Chromium or Chrome; chromedp drives
// it and downloads nothing.
func findChromium() string {
	if p := os.Getenv("FLEET_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserLog collects what the page must not do: log errors, throw, or
// ask for anything but itself.
type browserLog struct {
	mu       sync.Mutex
	errors   []string
	requests []string
	wg       sync.WaitGroup
}

// watch subscribes to the page's console (console calls, exceptions,
// browser log) and network requests until ctx ends.
func (b *browserLog) watch(ctx context.Context) {
	console := chromedp.Console(ctx)
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	failures := chromedp.Events(ctx, network.LoadingFailed)
	b.wg.Add(3)
	go func() {
		defer b.wg.Done()
		for m, err := range console {
			if err != nil {
				return
			}
			// Errors and warnings of the page's scripts and of the browser
			// log (a CSP violation, a failed load) all count.
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException, "assert":
				b.add(&b.errors, fmt.Sprintf("console %s %s: %s (%s:%d)", m.Type, m.Source, m.Text, m.URL, m.Line))
			}
		}
	}()
	go func() {
		defer b.wg.Done()
		for ev, err := range requests {
			if err != nil {
				return
			}
			b.add(&b.requests, ev.Request.URL)
		}
	}()
	go func() {
		defer b.wg.Done()
		for ev, err := range failures {
			if err != nil {
				return
			}
			b.add(&b.errors, "loading failed: "+ev.ErrorText)
		}
	}()
}

func (b *browserLog) add(list *[]string, s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	*list = append(*list, s)
}

// TestHTMLReportInHeadlessChromium opens the report as a person would,
// offline, and checks the charts, the tooltips, the series toggles and the
// sortable table work without a console error or a request for anything.
// Set FLEET_REPORT_SCREENSHOT=path.png to keep the screenshot.
func TestHTMLReportInHeadlessChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	exe := findChromium()
	if exe == "" {
		t.Fatal("no Chromium found: install Debian's chromium package (apt-get install -y chromium), set FLEET_CHROMIUM, or run with -short")
	}
	rep := Build(fixtureInput(t))
	dir := t.TempDir()
	page := filepath.Join(dir, FileHTML)
	var html bytes.Buffer
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1000),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// Start the browser and enable the domains whose events are watched.
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	if _, err := chromedp.Call(bctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	wctx, stopWatch := context.WithCancel(bctx)
	var blog browserLog
	blog.watch(wctx)

	url := "file://" + page
	if err := chromedp.Do(bctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#results tbody tr")),
	); err != nil {
		t.Fatalf("load %s in %s: %v", url, exe, err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("FLEET_REPORT_SCREENSHOT"); path != "" {
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Error(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 1000 {
		t.Errorf("screenshot is %v: the page did not lay out", b)
	}

	eval := func(js string, out any) {
		t.Helper()
		raw, err := chromedp.Run(bctx, chromedp.Evaluate[[]byte](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("evaluate %s: %s: %v", js, raw, err)
		}
	}
	groups, gpus := len(rep.groups), len(rep.gpus())
	counts := []struct {
		what, js string
		want     int
	}{
		{"charts", `document.querySelectorAll('svg.chart').length`, 3},
		{"series of the interactivity chart", `document.querySelectorAll('svg[data-chart="tput_vs_intvty"] g.series:not(.frontier)').length`, groups},
		{"GPU frontiers of the interactivity chart", `document.querySelectorAll('svg[data-chart="tput_vs_intvty"] g.series.frontier polyline').length`, gpus},
		{"points of the interactivity chart", `document.querySelectorAll('svg[data-chart="tput_vs_intvty"] circle.pt').length`, len(rep.Rows)},
		{"points of the TTFT chart", `document.querySelectorAll('svg[data-chart="ttft_vs_conc"] circle.pt').length`, len(rep.Rows)},
		{"points drawn inside their chart", `Array.from(document.querySelectorAll('svg.chart')).map(s => { const b = s.getBoundingClientRect(); return Array.from(s.querySelectorAll('circle.pt')).filter(c => { const r = c.getBoundingClientRect(); return r.width > 0 && r.left >= b.left && r.right <= b.right && r.top >= b.top && r.bottom <= b.bottom; }).length; }).reduce((a, b) => a + b, 0)`, 3 * len(rep.Rows)},
		{"legend buttons", `document.querySelectorAll('#legend button').length`, groups + gpus},
		{"result rows", `document.querySelectorAll('#results tbody tr').length`, len(rep.Rows)},
		{"success rows", `document.querySelectorAll('#success tbody tr').length`, len(rep.Success)},
		{"failure reasons", `document.querySelectorAll('ul.reasons li').length`, 3},
	}
	for _, c := range counts {
		var got int
		eval(c.js, &got)
		if got != c.want {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
	}

	// Hovering a point shows its numbers.
	var box struct{ X, Y float64 }
	eval(`(() => { const c = document.querySelector('svg[data-chart="tput_vs_intvty"] circle.pt'); c.scrollIntoView({block: 'center'}); const r = c.getBoundingClientRect(); return {X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`, &box)
	if _, err := chromedp.Call(bctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{
		Type: input.DispatchMouseEventTypeMouseMoved, X: box.X, Y: box.Y}); err != nil {
		t.Fatal(err)
	}
	var tip struct {
		Hidden bool
		Text   string
	}
	eval(`(() => { const t = document.getElementById('tip'); return {Hidden: t.hidden || getComputedStyle(t).display === 'none', Text: t.textContent}; })()`, &tip)
	if tip.Hidden || !strings.Contains(tip.Text, "throughput/GPU") || !strings.Contains(tip.Text, "conc ") {
		t.Errorf("hovering a point at %+v: tooltip %+v", box, tip)
	}
	if path := os.Getenv("FLEET_REPORT_SCREENSHOT"); path != "" {
		hover, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err == nil {
			err = os.WriteFile(strings.TrimSuffix(path, ".png")+"-hover.png", hover, 0o644)
		}
		if err != nil {
			t.Error(err)
		}
	}

	// A legend button hides its series in every chart, and shows it again.
	visible := `document.querySelectorAll('svg.chart circle.pt').length - Array.from(document.querySelectorAll('svg.chart g.series.off circle.pt')).length`
	var before, hidden, shown, displayNone int
	eval(visible, &before)
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#legend button[data-key="s0"]`))); err != nil {
		t.Fatal(err)
	}
	eval(visible, &hidden)
	eval(`Array.from(document.querySelectorAll('g.series[data-key="s0"]')).filter(g => getComputedStyle(g).display === 'none').length`, &displayNone)
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#legend button[data-key="s0"]`))); err != nil {
		t.Fatal(err)
	}
	eval(visible, &shown)
	s0 := len(rep.groups[0].rows)
	if hidden != before-3*s0 || displayNone != 3 || shown != before {
		t.Errorf("toggling series s0 (%d rows): visible points %d -> %d -> %d, hidden groups %d; want %d -> %d -> %d, 3",
			s0, before, hidden, shown, displayNone, before, before-3*s0, before)
	}

	// Sorting by throughput: ascending, then descending.
	var header string
	eval(`document.querySelector('#results thead th:nth-child(13)').textContent`, &header)
	if header != "Tput/GPU" {
		t.Fatalf("column 13 is %q, want Tput/GPU", header)
	}
	column := `Array.from(document.querySelectorAll('#results tbody tr')).map(r => parseFloat(r.cells[12].getAttribute('data-v')))`
	for _, dir := range []string{"ascending", "descending"} {
		if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#results thead th:nth-child(13)`))); err != nil {
			t.Fatal(err)
		}
		var vals []float64
		eval(column, &vals)
		if len(vals) != len(rep.Rows) {
			t.Fatalf("sorted table has %d rows", len(vals))
		}
		for i := 1; i < len(vals); i++ {
			if dir == "ascending" && vals[i] < vals[i-1] || dir == "descending" && vals[i] > vals[i-1] {
				t.Errorf("after sorting %s: %v", dir, vals)
				break
			}
		}
	}

	stopWatch()
	blog.wg.Wait()
	for _, e := range blog.errors {
		t.Errorf("browser: %s", e)
	}
	for _, u := range blog.requests {
		if u != url && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s", u)
		}
	}
	if len(blog.requests) == 0 {
		t.Error("saw no request at all: the network listener is not working")
	}
}
