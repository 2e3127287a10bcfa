package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrWarmupFailed is returned when every warmup request failed: the server
// cannot serve the benchmark, and measuring would only count failures.
var ErrWarmupFailed = errors.New("every warmup request failed")

// Run runs the benchmark: an optional readiness wait, the warmups, then the
// measured requests. When progress is not nil, a status line is redrawn on
// it while the run goes (pass a terminal, or nil). Failed requests do not
// make Run fail: they are counted in the result.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	ds := cfg.Dataset
	var intervals []float64
	if ds == nil {
		rc := cfg.Random
		if cfg.ChatTemplate == ChatTemplateDSV4 {
			rc.InputLen -= DSV4FrameTokens // validated above
		}
		rd, err := NewRandomDataset(rc, cfg.NumPrompts, cfg.Seed, cfg.RequestRate, cfg.Burstiness)
		if err != nil {
			return nil, fmt.Errorf("bench config: %w", err)
		}
		ds, intervals = rd, rd.Intervals
	} else if !math.IsInf(cfg.RequestRate, 1) {
		iv, err := GammaIntervals(NewRNG(cfg.Seed), ds.Len(), cfg.RequestRate, cfg.Burstiness)
		if err != nil {
			return nil, fmt.Errorf("bench config: %w", err)
		}
		intervals = iv
	}
	if cfg.ChatTemplate == ChatTemplateDSV4 {
		ds = dsv4Dataset{ds}
	}
	extra, _ := cfg.extraBody() // validated above
	maxTokens, choices := streamHints(extra)

	conns := cfg.MaxConcurrency
	if conns == 0 {
		conns = ds.Len()
	}
	transport := &http.Transport{
		Proxy: nil, // benchmark traffic goes straight to the server
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // token streams are tiny; gzip only adds latency
		DisableKeepAlives:   cfg.NewConnectionPerRequest,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	base := strings.TrimRight(cfg.BaseURL, "/")
	if cfg.ReadyTimeout > 0 {
		if err := WaitReady(ctx, client, base, cfg.ReadyTimeout); err != nil {
			return nil, err
		}
	}
	model := cfg.Model
	if cfg.ServedModelName != "" {
		model = cfg.ServedModelName
	}
	q := &requester{
		client:    client,
		url:       base + cfg.Endpoint,
		backend:   cfg.Backend,
		chat:      cfg.chat(),
		model:     model,
		ignoreEOS: cfg.IgnoreEOS,
		extra:     extra,
		apiKey:    cfg.APIKey,
		keepText:  cfg.SaveDetailed,
		timeout:   cfg.RequestTimeout,
		t0:        time.Now(),

		headerTimeout: cfg.ResponseHeaderTimeout,
		maxTokens:     maxTokens,
		choices:       choices,
	}

	if cfg.NumWarmups > 0 {
		first := ds.Request(0)
		warm := make([]RequestResult, cfg.NumWarmups)
		if _, err := dispatch(ctx, q, cfg.MaxConcurrency, len(warm), func(int) Request { return first }, nil, warm, nil); err != nil {
			return nil, fmt.Errorf("warmup: %w", err)
		}
		ok := 0
		for i := range warm {
			if warm[i].OK {
				ok++
			}
		}
		if ok == 0 {
			return nil, fmt.Errorf("%w (%d requests to %s): %s", ErrWarmupFailed, len(warm), q.url, warm[0].Err)
		}
	}

	reqs := make([]RequestResult, ds.Len())
	var prog *progressLine
	if progress != nil || cfg.OnProgress != nil {
		prog = newProgressLine(progress, len(reqs), cfg.OnProgress, cfg.ProgressEvery)
		q.onChunk = prog.addTokens
		defer prog.stop()
	}
	var profileErrs []string
	if cfg.Profile {
		if err := q.profile(ctx, base+"/start_profile"); err != nil {
			profileErrs = append(profileErrs, err.Error())
		}
	}
	finishSpec := startSpec(ctx, cfg.SpecMetrics, client, base)
	startWall := time.Now()
	runStart, err := dispatch(ctx, q, cfg.MaxConcurrency, len(reqs), ds.Request, intervals, reqs, prog)
	if err != nil {
		return nil, err
	}
	if cfg.Profile {
		if err := q.profile(ctx, base+"/stop_profile"); err != nil {
			profileErrs = append(profileErrs, err.Error())
		}
	}
	res := computeResult(&cfg, reqs, runStart)
	finishSpec(res)
	res.ProfileErrors = profileErrs
	res.Date = formatDate(startWall)
	res.BenchmarkStartTimeUnix = float64(startWall.UnixNano()) / 1e9
	res.BenchmarkEndTimeUnix = res.BenchmarkStartTimeUnix + res.Duration
	return res, nil
}

// dispatch releases n requests (all at once, or after the given gaps),
// each after taking one of the concurrency slots, runs one goroutine per
// request in flight, and returns when all have finished. It returns when
// the first request was released, on the requester's clock.
func dispatch(ctx context.Context, q *requester, concurrency, n int, request func(int) Request, intervals []float64, out []RequestResult, p *progressLine) (time.Duration, error) {
	var sem chan struct{}
	if concurrency > 0 {
		sem = make(chan struct{}, concurrency)
	}
	var wg sync.WaitGroup
	start := time.Now()
	runStart := start.Sub(q.t0)
	var offset time.Duration
	var err error
loop:
	for i := range n {
		if i > 0 && intervals != nil {
			// Absolute release times, so sleep overshoot does not accumulate.
			offset += time.Duration(intervals[i-1] * float64(time.Second))
			if wait := time.Until(start.Add(offset)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					err = ctx.Err()
					break loop
				}
			}
		}
		if sem != nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				err = ctx.Err()
				break loop
			}
		}
		if ctx.Err() != nil {
			if sem != nil {
				<-sem
			}
			err = ctx.Err()
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			q.do(ctx, request(i), &out[i])
			if sem != nil {
				<-sem
			}
			if p != nil {
				p.done(out[i].OK)
			}
		}(i)
	}
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return runStart, err
}

// WaitReady polls GET {base}/health, falling back to /v1/models when the
// server has no /health, until one answers 200 or the timeout passes.
func WaitReady(ctx context.Context, client *http.Client, base string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	paths := []string{"/health", "/v1/models"}
	last := "no answer yet"
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for _, p := range paths {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+p, nil)
			if err != nil {
				return fmt.Errorf("wait for %s: %w", base, err)
			}
			resp, err := client.Do(req)
			if err != nil {
				last = err.Error()
				break // the server is not listening; do not try the other path
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("GET %s: HTTP %d", p, resp.StatusCode)
			if resp.StatusCode != http.StatusNotFound {
				break // /health exists and says not ready (SGLang's 503 while warming up)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("server %s not ready after %s: %s", base, timeout, last)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// progressLine redraws "done/total, tok/s, failures" on a terminal, and
// reports the same numbers to a callback every so often.
type progressLine struct {
	w      io.Writer // nil: no terminal line
	total  int
	tokens atomic.Int64
	ok     atomic.Int64
	failed atomic.Int64
	start  time.Time
	quit   chan struct{}
	wg     sync.WaitGroup

	report     func(Progress) // nil: no callback
	every      time.Duration
	lastTokens int64
	lastReport time.Time
}

func newProgressLine(w io.Writer, total int, report func(Progress), every time.Duration) *progressLine {
	if every <= 0 {
		every = 5 * time.Second
	}
	p := &progressLine{w: w, total: total, start: time.Now(), quit: make(chan struct{}), report: report, every: every}
	p.lastReport = p.start
	tickEvery := 250 * time.Millisecond
	if w == nil {
		tickEvery = every
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(tickEvery)
		defer t.Stop()
		var lastTokens int64
		last := time.Now()
		rate := 0.0
		for {
			select {
			case <-p.quit:
				if w != nil {
					p.draw(rate)
					fmt.Fprintln(p.w)
				}
				p.callback(time.Now())
				return
			case now := <-t.C:
				tok := p.tokens.Load()
				if dt := now.Sub(last).Seconds(); dt > 0 {
					// Smooth the rate a little so the line is readable.
					rate = 0.5*rate + 0.5*float64(tok-lastTokens)/dt
				}
				lastTokens, last = tok, now
				if w != nil {
					p.draw(rate)
				}
				if now.Sub(p.lastReport) >= p.every {
					p.callback(now)
				}
			}
		}
	}()
	return p
}

// callback reports the numbers so far, with the token rate since the
// last report.
func (p *progressLine) callback(now time.Time) {
	if p.report == nil {
		return
	}
	tok := p.tokens.Load()
	rate := 0.0
	if dt := now.Sub(p.lastReport).Seconds(); dt > 0 {
		rate = float64(tok-p.lastTokens) / dt
	}
	p.lastTokens, p.lastReport = tok, now
	failed := int(p.failed.Load())
	p.report(Progress{Done: int(p.ok.Load()) + failed, Total: p.total, Failed: failed,
		OutputTokens: tok, TokensPerSec: rate, Elapsed: now.Sub(p.start)})
}

func (p *progressLine) addTokens(n int) { p.tokens.Add(int64(n)) }

func (p *progressLine) done(ok bool) {
	if ok {
		p.ok.Add(1)
	} else {
		p.failed.Add(1)
	}
}

func (p *progressLine) draw(rate float64) {
	done := p.ok.Load() + p.failed.Load()
	fmt.Fprintf(p.w, "\r\x1b[Kbench: %d/%d requests  %.0f tok/s  %d failed  %s",
		done, p.total, rate, p.failed.Load(), time.Since(p.start).Truncate(time.Second))
}

func (p *progressLine) stop() {
	close(p.quit)
	p.wg.Wait()
}
