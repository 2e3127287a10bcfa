// Package agentic replays recorded coding-agent sessions (session trees
// of package trace) against an OpenAI-compatible server as AIPerf's
// agentic replay does: a fixed number of lanes each holding one session
// tree, strictly sequential turns with their recorded gaps, subagents
// fanned out and joined, idle caps, warmup from a start point inside each
// initial trace; it measures every request from client timestamps and
// writes a bench_serving-style summary and InferenceX's agentic
// aggregated row. See shared/reference/agentic.md, sections 3 and 4.
package agentic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/agentic/trace"
)

// Clock is the replay's time source; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// inFlightClock is implemented by simulated clocks (tests), which may
// jump to the next timer only while no request is in flight.
type inFlightClock interface{ InFlight(n int) }

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config is one replay.
type Config struct {
	BaseURL string // scheme://host:port
	// Endpoint is the API path: /v1/chat/completions (default) sends
	// synthesized text messages; any other path is taken as a completions
	// endpoint and is sent token ids.
	Endpoint string
	Model    string
	APIKey   string            // bearer token; never logged or saved
	Headers  map[string]string // added to every request

	Concurrency int           // lanes: session trees live at once
	Duration    time.Duration // profiling time; no request starts after it
	Seed        int64         // sampler, start points
	// WarmupRequestsPerLane one-token requests advance each initial lane
	// after the turn before its start point; none is measured.
	WarmupRequestsPerLane int
	// StartMinRatio and StartMaxRatio bound each initial lane's start
	// point t*, as a share of its root conversation's turns; both 0 start
	// at turn 0 with no warmup turn.
	StartMinRatio, StartMaxRatio float64
	// SystemIdleCap: with nothing in flight or due anywhere, the next
	// request fires at most this long after the run went idle. TreeIdleCap
	// is the same per session tree. 0: no cap.
	SystemIdleCap, TreeIdleCap time.Duration
	// FailedRequestThreshold cancels the run when more than this share of
	// the profiling requests failed (0: never).
	FailedRequestThreshold float64
	// UseServerTokenCount takes input and output lengths from the server's
	// usage instead of the trace.
	UseServerTokenCount bool
	// RunID keys the cache-bust markers; random when empty.
	RunID          string
	RequestTimeout time.Duration // per request; 0: none
	Clock          Clock         // nil: the real clock
	// OnProfilingStart, when set, is called once when the warmup is over,
	// before the first profiling request is sent (a /metrics baseline).
	OnProfilingStart func()
}

// DefaultConfig returns the settings InferenceX's agentic runs use.
func DefaultConfig() Config {
	return Config{
		Endpoint:               "/v1/chat/completions",
		Concurrency:            1,
		Duration:               30 * time.Minute,
		Seed:                   42,
		StartMinRatio:          0.25,
		StartMaxRatio:          0.75,
		SystemIdleCap:          10 * time.Second,
		TreeIdleCap:            300 * time.Second,
		FailedRequestThreshold: 0.10,
		RequestTimeout:         time.Hour,
	}
}

// Chat reports whether the endpoint takes chat messages (text) rather
// than a completions prompt (token ids).
func (c *Config) Chat() bool { return strings.HasSuffix(c.Endpoint, "/chat/completions") }

func (c *Config) validate(trees []*trace.Tree) error {
	var errs []error
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base URL %q: want http(s)://host[:port]", c.BaseURL))
	}
	if c.Endpoint == "" {
		c.Endpoint = "/v1/chat/completions"
	}
	if !strings.HasPrefix(c.Endpoint, "/") {
		errs = append(errs, fmt.Errorf("endpoint %q: want a path starting with /", c.Endpoint))
	}
	if c.Model == "" {
		errs = append(errs, errors.New("no model"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d: want 1 or more lanes", c.Concurrency))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration %s: want a positive time", c.Duration))
	}
	if c.WarmupRequestsPerLane < 0 {
		errs = append(errs, fmt.Errorf("%d warmup requests per lane: want 0 or more", c.WarmupRequestsPerLane))
	}
	if !(c.StartMinRatio >= 0 && c.StartMinRatio <= c.StartMaxRatio && c.StartMaxRatio <= 1) {
		errs = append(errs, fmt.Errorf("start ratios %v..%v: want 0 <= min <= max <= 1", c.StartMinRatio, c.StartMaxRatio))
	}
	if c.SystemIdleCap < 0 || c.TreeIdleCap < 0 || c.RequestTimeout < 0 {
		errs = append(errs, errors.New("negative idle cap or timeout"))
	}
	if !(c.FailedRequestThreshold >= 0 && c.FailedRequestThreshold <= 1) {
		errs = append(errs, fmt.Errorf("failed request threshold %v: want 0..1", c.FailedRequestThreshold))
	}
	if len(trees) == 0 {
		errs = append(errs, errors.New("no session trees to replay"))
	}
	for _, t := range trees {
		if err := checkTree(t); err != nil {
			errs = append(errs, err)
			break
		}
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.RunID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		c.RunID = hex.EncodeToString(b[:])
	}
	return errors.Join(errs...)
}

// checkTree rejects trees whose edges the scheduler cannot follow.
func checkTree(t *trace.Tree) error {
	if len(t.Convs) == 0 || t.Convs[0].Parent != -1 {
		return fmt.Errorf("trace %q: no root conversation", t.ID)
	}
	for i, c := range t.Convs[1:] {
		i++
		if c.Parent < 0 || c.Parent >= i {
			return fmt.Errorf("trace %q conversation %q: parent %d does not come before it", t.ID, c.ID, c.Parent)
		}
		n := len(t.Convs[c.Parent].Turns)
		if c.SpawnAfter < 0 || c.SpawnAfter >= n || c.JoinBefore > n || (c.JoinBefore >= 0 && c.JoinBefore <= c.SpawnAfter) {
			return fmt.Errorf("trace %q conversation %q: spawn after turn %d, join before %d of %d parent turns", t.ID, c.ID, c.SpawnAfter, c.JoinBefore, n)
		}
	}
	return nil
}

// ErrWarmupFailed is returned when a root warmup request failed: the
// server cannot serve the replay.
var ErrWarmupFailed = errors.New("warmup request failed")

// ErrFailedRequestThreshold is returned, with the result, when the run
// was cancelled because too many profiling requests failed.
var ErrFailedRequestThreshold = errors.New("failed request threshold exceeded")

type finished struct {
	job job
	rec Record
}

// Run replays trees until cfg.Duration has passed after the warmup, and
// returns every request's record and the aggregates. A failed warmup
// aborts it; crossing the failure threshold cancels it, and it returns
// the result with ErrFailedRequestThreshold.
func Run(ctx context.Context, cfg Config, trees []*trace.Tree) (*Result, error) {
	if err := cfg.validate(trees); err != nil {
		return nil, fmt.Errorf("agentic replay config: %w", err)
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4*cfg.Concurrency + 16,
		MaxIdleConnsPerHost: 4*cfg.Concurrency + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	defer transport.CloseIdleConnections()
	clock := cfg.Clock
	t0 := clock.Now()
	q := &sender{
		client: &http.Client{Transport: transport},
		url:    strings.TrimRight(cfg.BaseURL, "/") + cfg.Endpoint,
		cfg:    &cfg,
		chat:   cfg.Chat(),
		clock:  clock,
		t0:     t0,
	}
	s := newScheduler(&cfg, trees, 0)
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan finished, 256)
	var recs []Record
	inflight := 0
	profiling := false
	take := func(f finished) {
		inflight--
		s.done(&f.job, f.rec.End, outcome{ok: f.rec.Err == "", overflow: f.rec.Overflow})
		recs = append(recs, f.rec)
	}
	drain := func() {
		for inflight > 0 {
			take(<-results)
		}
	}
	for {
		now := clock.Now().Sub(t0)
		jobs, wake, over := s.poll(now)
		if s.warmupFailed != nil || s.overThreshold {
			cancel() // in-flight requests end now
		}
		if over {
			break
		}
		if !profiling && s.phase == phaseProfiling {
			profiling = true
			if cfg.OnProfilingStart != nil {
				cfg.OnProfilingStart()
			}
		}
		for _, j := range jobs {
			inflight++
			go func(j job) {
				results <- finished{j, q.do(reqCtx, &j)}
			}(j)
		}
		if c, ok := clock.(inFlightClock); ok {
			c.InFlight(inflight)
		}
		var timer <-chan time.Time
		if wake >= 0 {
			timer = clock.After(wake - now)
		}
		select {
		case f := <-results:
			take(f)
			// Take whatever else finished meanwhile before polling again.
			for more := true; more; {
				select {
				case f := <-results:
					take(f)
				default:
					more = false
				}
			}
		case <-timer:
		case <-ctx.Done():
			cancel()
			drain()
			return nil, ctx.Err()
		}
	}
	if j := s.warmupFailed; j != nil {
		for i := range recs {
			if recs[i].Seq == j.seq {
				return nil, fmt.Errorf("%w (trace %s, turn %d, to %s): %s", ErrWarmupFailed, j.play.tree.ID, j.turn, q.url, recs[i].Err)
			}
		}
		return nil, fmt.Errorf("%w (trace %s, turn %d)", ErrWarmupFailed, j.play.tree.ID, j.turn)
	}
	res := newResult(&cfg, recs, s.profStart, s.deadline)
	res.StartTime = t0
	if s.overThreshold {
		res.Cancelled = true
		return res, fmt.Errorf("%w: %d of %d profiling requests failed (over %.0f%%)", ErrFailedRequestThreshold, s.failed, s.completed, 100*cfg.FailedRequestThreshold)
	}
	return res, nil
}

// RunWithMetrics is Run with the servers' /metrics (metricsURLs, none
// for no scrape) read when profiling starts and when the run ends, so the
// result carries the server side of the cache (Result.Server). A scrape
// that fails is said in the returned warning, never as the run's error.
func RunWithMetrics(ctx context.Context, cfg Config, trees []*trace.Tree, metricsURLs []string) (res *Result, warning error, err error) {
	var scraper *Scraper
	if len(metricsURLs) > 0 {
		scraper = NewScraper(metricsURLs, time.Second)
		begin := cfg.OnProfilingStart
		cfg.OnProfilingStart = func() {
			scraper.Begin(ctx)
			if begin != nil {
				begin()
			}
		}
	}
	res, err = Run(ctx, cfg, trees)
	if res != nil && scraper != nil {
		res.Server, warning = scraper.End(context.WithoutCancel(ctx))
	}
	return res, warning, err
}
