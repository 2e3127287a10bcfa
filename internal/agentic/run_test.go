package agentic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/agentic/trace"
)

func TestRunSendsRequestsAsAIPerfDoes(t *testing.T) {
	tr := tree("s",
		conv("s", -1, 0, -1, 0, 0, tt{0, 1, 3}, tt{2, 1, 5}, tt{4, 1, 2}),
		conv("s::sa:1", 0, 0, 2, 0, 100, tt{0, 1, 4}, tt{2, 1, 4}),
	)
	f := &fakeServer{clock: newFakeClock(), service: time.Second, cached: 3}
	cfg := f.start(t, 1, 12*time.Second)
	cfg.UseServerTokenCount = true
	res, err := Run(context.Background(), cfg, []*trace.Tree{tr})
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.seen()
	if len(reqs) < 6 || len(res.Records) != len(reqs) {
		t.Fatalf("%d requests seen, %d records: want a play and more", len(reqs), len(res.Records))
	}
	ids := map[string]bool{}
	corr := map[string]string{} // correlation id -> first user message (marker included)
	byCorr := map[string][]seen{}
	for _, s := range reqs {
		if s.RequestID == "" || ids[s.RequestID] {
			t.Errorf("X-Request-ID %q missing or reused", s.RequestID)
		}
		ids[s.RequestID] = true
		b := s.Body
		if b["stream"] != true || b["ignore_eos"] != true || b["model"] != "m" {
			t.Errorf("body %v: want stream, ignore_eos, model", b)
		}
		if so, _ := b["stream_options"].(map[string]any); so["include_usage"] != true {
			t.Errorf("stream_options %v: want include_usage", b["stream_options"])
		}
		roles, contents := s.messages()
		first := -1
		for i, r := range roles {
			if r == "user" {
				first = i
				break
			}
		}
		if first < 0 || !strings.HasPrefix(contents[first], "[rid:") {
			t.Fatalf("first user message %q: want the cache-bust marker", contents)
		}
		if m, ok := corr[s.CorrelationID]; ok && m != contents[first] {
			t.Errorf("conversation %s: first user message changed", s.CorrelationID)
		}
		corr[s.CorrelationID] = contents[first]
		byCorr[s.CorrelationID] = append(byCorr[s.CorrelationID], s)
	}
	// Each conversation resends its whole history: turn k extends turn k-1.
	for id, ss := range byCorr {
		for k := 1; k < len(ss); k++ {
			_, prev := ss[k-1].messages()
			_, cur := ss[k].messages()
			if len(cur) != len(prev)+1 || strings.Join(cur[:len(prev)], "|") != strings.Join(prev, "|") {
				t.Errorf("conversation %s turn %d: %d messages not extending the %d before", id, k, len(cur), len(prev))
			}
		}
	}
	// Root and subagent have their own correlation ids, and a recycled
	// play new ones and a new marker.
	markers := map[string]bool{}
	for _, m := range corr {
		markers[m[:strings.Index(m, "]")+1]] = true
	}
	if len(byCorr) < 3 || len(markers) < 2 {
		t.Errorf("%d conversations, %d markers: want root, subagent and a recycled play", len(byCorr), len(markers))
	}
	for i := range res.Records {
		r := &res.Records[i]
		if want := tr.Convs[0].Turns[0].Out; r.ConversationID == "s" && r.Turn == 0 && r.OSLExpected != want {
			t.Errorf("turn 0 asked for %d tokens, want %d", r.OSLExpected, want)
		}
		if r.OK() && (r.OSL != r.OSLExpected || r.ISL != r.ServerISL || r.CachedTokens != 3) {
			t.Errorf("record %+v: want server token counts and cached tokens", r)
		}
	}
	if res.Prompts != "text" || res.Stats.CachedTokens != int64(3*res.Stats.Successful) {
		t.Errorf("prompts %q, cached tokens %d", res.Prompts, res.Stats.CachedTokens)
	}
	// The subagent joins before root turn 2.
	var joinEnd, turn2 time.Duration
	for _, r := range res.Records {
		if r.Pass != 0 {
			continue
		}
		if r.ConversationID == "s::sa:1" {
			joinEnd = max(joinEnd, r.End)
		}
		if r.ConversationID == "s" && r.Turn == 2 {
			turn2 = r.Start
		}
	}
	if turn2 < joinEnd {
		t.Errorf("root turn 2 at %v before its subagent ended at %v", turn2, joinEnd)
	}
}

func TestRunWarmupIsNotMeasuredAndTokenIDPrompts(t *testing.T) {
	f := &fakeServer{clock: newFakeClock(), service: time.Second}
	cfg := f.start(t, 2, 5*time.Second)
	cfg.Endpoint = "/v1/completions"
	cfg.StartMinRatio, cfg.StartMaxRatio, cfg.WarmupRequestsPerLane = 0.5, 0.5, 1
	res, err := Run(context.Background(), cfg, []*trace.Tree{linear("a", 10, 0), linear("b", 10, 0)})
	if err != nil {
		t.Fatal(err)
	}
	oneToken := 0
	for _, s := range f.seen() {
		p, ok := s.Body["prompt"].([]any)
		if !ok || len(p) == 0 {
			t.Fatalf("prompt %v: want token ids", s.Body["prompt"])
		}
		if _, isNum := p[0].(float64); !isNum {
			t.Fatalf("prompt %v: want token ids", p[:1])
		}
		if s.Body["max_tokens"] == 1.0 {
			oneToken++
		}
	}
	if res.Prompts != "token-ids" || oneToken != 2 || res.Stats.Warmup != 4 {
		t.Errorf("prompts %q, %d one-token requests, %d warmup records: want token-ids, 2, 4", res.Prompts, oneToken, res.Stats.Warmup)
	}
	if res.Stats.Profiled != len(res.Records)-4 {
		t.Errorf("%d profiled of %d records", res.Stats.Profiled, len(res.Records))
	}
	for _, r := range res.Records {
		if r.Warmup && r.Start >= res.ProfileStart {
			t.Errorf("warmup request at %v after profiling began at %v", r.Start, res.ProfileStart)
		}
		if !r.Warmup && r.Start < res.ProfileStart {
			t.Errorf("profiling request at %v before profiling began at %v", r.Start, res.ProfileStart)
		}
	}
}

func TestRunStopsAtTheDurationAndCountsInFlightRequests(t *testing.T) {
	f := &fakeServer{clock: newFakeClock(), service: 3 * time.Second}
	cfg := f.start(t, 1, 10*time.Second)
	res, err := Run(context.Background(), cfg, []*trace.Tree{linear("a", 100, 0)})
	if err != nil {
		t.Fatal(err)
	}
	// Sent at 0, 3, 6 and 9 s; the last ends at 12 s and counts.
	if res.Stats.Successful != 4 {
		t.Fatalf("%d successful requests, want 4", res.Stats.Successful)
	}
	last := res.Records[len(res.Records)-1]
	if last.Start >= res.ProfileStart+cfg.Duration || last.End <= res.ProfileStart+cfg.Duration {
		t.Errorf("last request [%v, %v]: want sent before and ended after the %v deadline", last.Start, last.End, cfg.Duration)
	}
}

func TestRunContextOverflowEndsTheSessionAndInvalidatesTheRun(t *testing.T) {
	f := &fakeServer{clock: newFakeClock(), service: time.Second, answer: func(_ int, s seen) (int, string) {
		if _, c := s.messages(); len(c) >= 4 {
			return 400, "This model's maximum context length is 128 tokens. However, you requested 200 tokens."
		}
		return 0, ""
	}}
	cfg := f.start(t, 1, 20*time.Second)
	res, err := Run(context.Background(), cfg, []*trace.Tree{linear("a", 6, 0)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Records {
		if r.Overflow && r.Turn != 2 {
			t.Errorf("turn %d overflowed: the session should have ended at turn 2", r.Turn)
		}
	}
	st := res.Stats
	if st.ContextOverflow == 0 || st.ContextOverflow != st.Errors || st.ErrorCategories["context_overflow"] != st.ContextOverflow {
		t.Errorf("overflows %d, errors %d, categories %v", st.ContextOverflow, st.Errors, st.ErrorCategories)
	}
	if st.SubmissionValid || !strings.Contains(strings.Join(st.InvalidReasons, ","), "context_overflow_rate_exceeded") {
		t.Errorf("valid %v, reasons %v: want the overflow rate to invalidate", st.SubmissionValid, st.InvalidReasons)
	}
}

func TestRunCancelsOverTheFailureThreshold(t *testing.T) {
	f := &fakeServer{clock: newFakeClock(), service: time.Second, answer: func(int, seen) (int, string) { return 500, "boom" }}
	cfg := f.start(t, 2, time.Hour)
	cfg.FailedRequestThreshold = 0.1
	res, err := Run(context.Background(), cfg, []*trace.Tree{linear("a", 1000, 0)})
	if !errors.Is(err, ErrFailedRequestThreshold) || res == nil || !res.Cancelled {
		t.Fatalf("err %v, result %v: want the threshold error with the result", err, res)
	}
	if n := len(f.seen()); n > minThresholdSample+2 {
		t.Errorf("%d requests sent: want the run cancelled after %d", n, minThresholdSample)
	}
	// Requests still in flight at the cancel count as cancelled.
	if c := res.Stats.ErrorCategories; c["http_500"] < minThresholdSample || c["http_500"]+c["cancelled"] != res.Stats.Errors {
		t.Errorf("categories %v", res.Stats.ErrorCategories)
	}
}

func TestRunAbortsWhenARootWarmupFails(t *testing.T) {
	f := &fakeServer{clock: newFakeClock(), answer: func(int, seen) (int, string) { return 503, "loading" }}
	cfg := f.start(t, 1, time.Minute)
	cfg.WarmupRequestsPerLane = 2
	_, err := Run(context.Background(), cfg, []*trace.Tree{linear("a", 10, 0)})
	if !errors.Is(err, ErrWarmupFailed) || !strings.Contains(err.Error(), "loading") {
		t.Fatalf("err %v: want the warmup failure with the server's answer", err)
	}
}

func TestStreamFailuresAreRecorded(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		err        string
		overflow   bool
	}{
		{"no [DONE]", "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n", "without [DONE]", false},
		{"overflow mid-stream", "data: {\"error\":{\"message\":\"prompt is too long: 300000 tokens\"}}\n\n", "prompt is too long", true},
		{"nothing generated", "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":0}}\n\ndata: [DONE]\n\n", "no chunk with content", false},
		{"malformed", "data: {oops\n\n", "malformed chunk", false},
		{"a flood", strings.Repeat("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n", 2000) + "data: [DONE]\n\n", "stream cut off", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			cfg := baseConfig(1, time.Minute)
			cfg.BaseURL, cfg.RunID, cfg.Clock = srv.URL, "r", realClock{}
			s := newScheduler(&cfg, []*trace.Tree{linear("a", 2, 0)}, 0)
			jobs, _, _ := s.poll(0)
			q := &sender{client: srv.Client(), url: srv.URL + cfg.Endpoint, cfg: &cfg, chat: true, clock: cfg.Clock, t0: time.Now()}
			rec := q.do(context.Background(), &jobs[0])
			if !strings.Contains(rec.Err, tc.err) || rec.Overflow != tc.overflow {
				t.Errorf("error %q overflow %v, want %q overflow %v", rec.Err, rec.Overflow, tc.err, tc.overflow)
			}
		})
	}
}
