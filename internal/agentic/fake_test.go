package agentic

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeClock is simulated time: it jumps to the next timer when the replay
// waits with nothing in flight, and the fake server moves it by each
// request's service time.
type fakeClock struct {
	mu       sync.Mutex
	now      time.Time
	inflight int
	timers   []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) InFlight(n int) {
	c.mu.Lock()
	c.inflight = n
	c.mu.Unlock()
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	at := c.now.Add(d)
	if c.inflight == 0 && at.After(c.now) {
		c.now = at
	}
	c.timers = append(c.timers, fakeTimer{at, ch})
	c.fire()
	return ch
}

// Advance moves time on, firing the timers it passes.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.fire()
}

func (c *fakeClock) fire() {
	rest := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
		} else {
			rest = append(rest, t)
		}
	}
	c.timers = rest
}

// seen is one request the fake server received.
type seen struct {
	RequestID, CorrelationID string
	Body                     map[string]any
}

// messages returns the chat messages' roles and contents.
func (s seen) messages() (roles, contents []string) {
	ms, _ := s.Body["messages"].([]any)
	for _, m := range ms {
		mm := m.(map[string]any)
		roles = append(roles, mm["role"].(string))
		contents = append(contents, mm["content"].(string))
	}
	return roles, contents
}

// fakeServer streams an OpenAI-compatible answer: one chunk per output
// token, then a usage chunk with cached tokens. answer decides, per
// request, an HTTP error status and message instead (0: success).
type fakeServer struct {
	clock   *fakeClock
	service time.Duration // simulated time before the first chunk
	cached  int
	answer  func(n int, s seen) (status int, msg string)

	mu   sync.Mutex
	reqs []seen
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s := seen{RequestID: r.Header.Get("X-Request-ID"), CorrelationID: r.Header.Get("X-Correlation-ID")}
	if err := json.Unmarshal(body, &s.Body); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, s)
	n := len(f.reqs)
	f.mu.Unlock()
	if f.answer != nil {
		if status, msg := f.answer(n, s); status != 0 {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"object":"error","message":%q,"code":%d}`, msg, status)
			return
		}
	}
	if f.clock != nil {
		f.clock.Advance(f.service)
	}
	maxTok, _ := s.Body["max_completion_tokens"].(float64)
	if m, ok := s.Body["max_tokens"].(float64); ok {
		maxTok = m
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for range int(maxTok) {
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok\"}}]}\n\n")
	}
	fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"prompt_tokens_details\":{\"cached_tokens\":%d}}}\n\n", len(body)/4, int(maxTok), f.cached)
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func (f *fakeServer) seen() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// start serves f and returns a replay config aimed at it.
func (f *fakeServer) start(t *testing.T, lanes int, d time.Duration) Config {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := baseConfig(lanes, d)
	cfg.BaseURL, cfg.RunID, cfg.RequestTimeout = srv.URL, "run1", time.Minute
	if f.clock != nil {
		cfg.Clock = f.clock
	}
	return cfg
}
