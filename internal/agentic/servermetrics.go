package agentic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fleetbench/fleet/internal/promtext"
)

// Sample sums of one /metrics scrape: by family name (a counter's _total
// suffix dropped) and, for families with a source label, by
// "name{source}".
type scrape map[string]float64

// parseMetrics reads the Prometheus text format and sums every sample of
// a family over its label sets (a counter's _created samples left out).
// A malformed exposition gives what was read before the fault, and the
// error.
func parseMetrics(r io.Reader) (scrape, error) {
	m, err := promtext.Parse(r)
	out := scrape{}
	for name, samples := range m {
		if strings.HasSuffix(name, "_created") {
			continue
		}
		family := strings.TrimSuffix(name, "_total")
		for _, x := range samples {
			out[family] += x.Value
			if src := x.Labels["source"]; src != "" {
				out[family+"{"+src+"}"] += x.Value
			}
		}
	}
	return out, err
}

// vLLM's metric families (shared/reference/agentic.md 4.5).
const (
	mPromptTokens    = "vllm:prompt_tokens"
	mGenTokens       = "vllm:generation_tokens"
	mRequestSuccess  = "vllm:request_success"
	mPrefixQueries   = "vllm:prefix_cache_queries"
	mPrefixHits      = "vllm:prefix_cache_hits"
	mExtQueries      = "vllm:external_prefix_cache_queries"
	mExtHits         = "vllm:external_prefix_cache_hits"
	mBySource        = "vllm:prompt_tokens_by_source"
	mKVUsage         = "vllm:kv_cache_usage_perc"
	mKVUsageOld      = "vllm:gpu_cache_usage_perc"
	mCPUKVUsage      = "vllm:cpu_kv_cache_usage_perc"
	mRunning         = "vllm:num_requests_running"
	mWaiting         = "vllm:num_requests_waiting"
	sourceLocalHit   = "local_cache_hit"
	sourceExternal   = "external_kv_transfer"
	sourceLocalCompu = "local_compute"
)

var counters = []string{mPromptTokens, mGenTokens, mRequestSuccess, mPrefixQueries, mPrefixHits, mExtQueries, mExtHits,
	mBySource + "{" + sourceLocalHit + "}", mBySource + "{" + sourceExternal + "}", mBySource + "{" + sourceLocalCompu + "}"}

var gauges = []string{mKVUsage, mKVUsageOld, mCPUKVUsage, mRunning, mWaiting}

// ServerMetrics is what the servers' /metrics said over the profiling
// window: counters as deltas, gauges at their highest, both summed over
// the endpoints.
type ServerMetrics struct {
	Endpoints   []string
	MetricCount int // families the endpoints expose
	// Deltas over the window, by family (prompt_tokens_by_source by
	// "name{source}"); absent when no endpoint exposes the family.
	Counters map[string]float64
	// Highest value seen, usage gauges as fractions.
	Gauges map[string]float64
}

// has reports whether the counter family was exposed.
func (m *ServerMetrics) counter(name string) (float64, bool) {
	v, ok := m.Counters[name]
	return v, ok
}

// CacheHitRates are the server's prefix-cache hit rates: from
// prompt_tokens_by_source when the server has it, else from the prefix
// cache counters. ok is false when neither is there.
func (m *ServerMetrics) CacheHitRates() (gpu, external, overall float64, ok bool) {
	local, hasLocal := m.counter(mBySource + "{" + sourceLocalHit + "}")
	ext, _ := m.counter(mBySource + "{" + sourceExternal + "}")
	comp, _ := m.counter(mBySource + "{" + sourceLocalCompu + "}")
	if total := local + ext + comp; hasLocal && total > 0 {
		return local / total, ext / total, (local + ext) / total, true
	}
	q, hasQ := m.counter(mPrefixQueries)
	h, _ := m.counter(mPrefixHits)
	if !hasQ || q <= 0 {
		return 0, 0, 0, false
	}
	gpu = h / q
	eh, _ := m.counter(mExtHits)
	if eq, ok := m.counter(mExtQueries); ok && eq > 0 {
		external = eh / eq
	}
	return gpu, external, min(1, (h+eh)/q), true
}

// Scraper reads servers' /metrics at the start of the profiling window,
// every Interval during it (for the gauges' highs) and at its end.
type Scraper struct {
	urls     []string
	client   *http.Client
	interval time.Duration

	mu       sync.Mutex
	base     []scrape // per endpoint, at Begin
	gaugeMax map[string]float64
	errs     []error
	stop     chan struct{}
	wg       sync.WaitGroup
}

// NewScraper scrapes the given /metrics URLs, polling every interval
// (1 s when not positive).
func NewScraper(urls []string, interval time.Duration) *Scraper {
	if interval <= 0 {
		interval = time.Second
	}
	return &Scraper{urls: urls, interval: interval, client: &http.Client{Timeout: 10 * time.Second}, gaugeMax: map[string]float64{}}
}

func (s *Scraper) scrapeAll(ctx context.Context) ([]scrape, error) {
	out := make([]scrape, len(s.urls))
	var errs []error
	for i, u := range s.urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("scrape %s: %w", u, err))
			continue
		}
		resp, err := s.client.Do(req)
		if err != nil {
			errs = append(errs, fmt.Errorf("scrape %s: %w", u, err))
			continue
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			errs = append(errs, fmt.Errorf("scrape %s: HTTP %d", u, resp.StatusCode))
			continue
		}
		out[i], err = parseMetrics(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("scrape %s: %w", u, err))
		}
	}
	return out, errors.Join(errs...)
}

// observe folds a scrape's gauges into the highs.
func (s *Scraper) observe(sc []scrape) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range gauges {
		sum, seen := 0.0, false
		for _, m := range sc {
			if v, ok := m[g]; ok {
				if g != mRunning && g != mWaiting && v > 1.5 {
					v /= 100 // a percentage
				}
				sum, seen = sum+v, true
			}
		}
		if seen {
			s.gaugeMax[g] = max(s.gaugeMax[g], sum)
		}
	}
}

// Begin takes the baseline scrape and starts polling; it returns once the
// baseline is taken. Call it when profiling starts.
func (s *Scraper) Begin(ctx context.Context) {
	base, err := s.scrapeAll(ctx)
	s.mu.Lock()
	s.base = base
	if err != nil {
		s.errs = append(s.errs, err)
	}
	s.stop = make(chan struct{})
	s.mu.Unlock()
	s.observe(base)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if sc, err := s.scrapeAll(ctx); err == nil {
					s.observe(sc)
				}
			}
		}
	}()
}

// End stops polling, takes the last scrape and returns the window's
// metrics; the error reports scrapes that failed (the metrics hold what
// the others said).
func (s *Scraper) End(ctx context.Context) (*ServerMetrics, error) {
	if s.stop != nil {
		close(s.stop)
		s.wg.Wait()
	}
	end, err := s.scrapeAll(ctx)
	if err != nil {
		s.errs = append(s.errs, err)
	}
	s.observe(end)
	m := &ServerMetrics{Endpoints: s.urls, Counters: map[string]float64{}, Gauges: map[string]float64{}}
	families := map[string]bool{}
	for i, e := range end {
		for k := range e {
			if !strings.Contains(k, "{") {
				families[k] = true
			}
		}
		var b scrape
		if i < len(s.base) {
			b = s.base[i]
		}
		for _, c := range counters {
			v, ok := e[c]
			if !ok {
				continue
			}
			d := v - b[c]
			if d < 0 { // the server restarted: count from zero
				d = v
			}
			m.Counters[c] += d
		}
	}
	m.MetricCount = len(families)
	s.mu.Lock()
	for k, v := range s.gaugeMax {
		m.Gauges[k] = v
	}
	errs := errors.Join(s.errs...)
	s.mu.Unlock()
	return m, errs
}
