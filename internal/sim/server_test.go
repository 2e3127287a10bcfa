package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamResult is what a client saw of one streamed response.
type streamResult struct {
	status     int
	chunks     int // events with non-empty choices
	tokensText int // words received
	done       bool
	usage      *struct{ PromptTokens, CompletionTokens int }
	finish     string
	err        error // the body ended abnormally
	arrivals   []time.Time
}

func post(ctx context.Context, url, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

// readStream posts body and reads the SSE stream to its end.
func readStream(t testing.TB, url, body string) streamResult {
	t.Helper()
	resp, err := post(context.Background(), url+"/v1/completions", body)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	res := streamResult{status: resp.StatusCode}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			res.done = true
			continue
		}
		var ev struct {
			Choices []struct {
				Text         string  `json:"text"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("bad event %q: %v", line, err)
		}
		if len(ev.Choices) > 0 {
			res.chunks++
			res.arrivals = append(res.arrivals, time.Now())
			res.tokensText += strings.Count(ev.Choices[0].Text, " tok")
			if ev.Choices[0].FinishReason != nil {
				res.finish = *ev.Choices[0].FinishReason
			}
		} else if ev.Usage != nil {
			res.usage = &struct{ PromptTokens, CompletionTokens int }{ev.Usage.PromptTokens, ev.Usage.CompletionTokens}
		}
	}
	res.err = sc.Err()
	return res
}

func fixedConfig() Config {
	return Config{Timing: TimingFixed, Seed: 7}
}

func TestStreamHonoursTokenLimits(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantTokens func(int) bool
		wantFinish string
	}{
		{"ignore_eos generates exactly max_tokens",
			`{"prompt":[1,2,3],"max_tokens":40,"ignore_eos":true,"stream":true,"stream_options":{}}`,
			func(n int) bool { return n == 40 }, "length"},
		{"without ignore_eos it may stop early but never before min_tokens",
			`{"prompt":[1,2,3],"max_tokens":400,"min_tokens":30,"stream":true,"stream_options":{}}`,
			func(n int) bool { return n > 30 && n <= 400 }, ""},
		{"min_tokens equal to max_tokens runs to the limit",
			`{"prompt":[1,2,3],"max_tokens":25,"min_tokens":25,"stream":true,"stream_options":{}}`,
			func(n int) bool { return n == 25 }, "length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fixedConfig()
			cfg.MeanOutputLen = 20
			_, url := startServer(t, cfg)
			for range 20 {
				res := readStream(t, url, tt.body)
				if res.status != 200 || !res.done || res.usage == nil {
					t.Fatalf("status %d done %v usage %v", res.status, res.done, res.usage)
				}
				n := res.usage.CompletionTokens
				if !tt.wantTokens(n) {
					t.Fatalf("completion_tokens = %d: out of bounds", n)
				}
				if tt.wantFinish != "" && res.finish != tt.wantFinish {
					t.Fatalf("finish_reason %q, want %q", res.finish, tt.wantFinish)
				}
				// An early stop spends its last token on EOS, which has no text.
				wantText := n
				if res.finish == "stop" {
					wantText = n - 1
				}
				if res.tokensText != wantText {
					t.Fatalf("received %d words for %d tokens (finish %s)", res.tokensText, n, res.finish)
				}
			}
		})
	}
}

func TestStreamIntervalPacksTokens(t *testing.T) {
	cfg := fixedConfig()
	cfg.StreamInterval = 4
	_, url := startServer(t, cfg)
	res := readStream(t, url, `{"prompt":[1],"max_tokens":10,"ignore_eos":true,"stream":true}`)
	// 1 alone, then 4, 4, and the last 1.
	if res.chunks != 4 || res.tokensText != 10 {
		t.Errorf("got %d chunks carrying %d tokens, want 4 chunks, 10 tokens", res.chunks, res.tokensText)
	}
}

func TestFixedTimingIsNeverEarly(t *testing.T) {
	cfg := fixedConfig()
	cfg.TTFT, cfg.ITL = 30*time.Millisecond, 5*time.Millisecond
	_, url := startServer(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			res := readStream(t, url, `{"prompt":[1],"max_tokens":10,"ignore_eos":true,"stream":true}`)
			if res.chunks != 10 {
				errs <- fmt.Errorf("got %d chunks, want 10", res.chunks)
				return
			}
			// Lower bounds only: the schedule is absolute, so no chunk may
			// come before start + TTFT + k*ITL, however fast the machine.
			for k, at := range res.arrivals {
				if min := cfg.TTFT + time.Duration(k)*cfg.ITL; at.Sub(start) < min {
					errs <- fmt.Errorf("chunk %d after %v, before its deadline %v", k, at.Sub(start), min)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTimeScaleShortensFixedTiming(t *testing.T) {
	cfg := fixedConfig()
	cfg.TTFT, cfg.TimeScale = time.Hour, 1e-9 // an hour scaled to 3.6 ms
	_, url := startServer(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := post(ctx, url+"/v1/completions", `{"prompt":[1],"max_tokens":2,"stream":true}`)
	if err != nil {
		t.Fatalf("time scale not applied: %v", err)
	}
	resp.Body.Close()
}

func TestEngineQueueingIsObservable(t *testing.T) {
	cfg := Config{Timing: TimingEngine, MaxNumSeqs: 3, StepBase: 2 * time.Millisecond}
	s, url := startServer(t, cfg)
	var wg sync.WaitGroup
	for range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := readStream(t, url, `{"prompt":[1,2],"max_tokens":100,"ignore_eos":true,"stream":true,"stream_options":{}}`)
			if !res.done || res.usage.CompletionTokens != 100 {
				t.Errorf("stream incomplete: done %v usage %+v", res.done, res.usage)
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	if st.PeakBatch != 3 {
		t.Errorf("peak batch %d, want max-num-seqs 3", st.PeakBatch)
	}
	// Each request holds its slot for 100 steps (>= 200 ms): all nine
	// cannot fit at once, so some must have waited.
	if st.PeakWaiting < 1 {
		t.Errorf("peak waiting %d: nothing ever queued beyond max-num-seqs", st.PeakWaiting)
	}
	if st.Completed != 9 || st.InFlight != 0 || st.OutputTokens != 900 || st.PromptTokens != 18 {
		t.Errorf("stats %+v: want 9 completed, 900 tokens, 18 prompt tokens, none in flight", st)
	}
}

func TestFailRatio(t *testing.T) {
	run := func(seed int64) []int {
		cfg := fixedConfig()
		cfg.FailRatio, cfg.Seed = 0.3, seed
		s, url := startServer(t, cfg)
		var failed []int
		for i := range 400 {
			resp, err := post(context.Background(), url+"/v1/completions", `{"prompt":[1],"max_tokens":1}`)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 500:
				if !strings.Contains(string(body), `"type":"InternalServerError"`) {
					t.Fatalf("500 body %s", body)
				}
				failed = append(failed, i)
			case 200:
			default:
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		}
		if st := s.Stats(); st.Failed != int64(len(failed)) || st.Completed != int64(400-len(failed)) {
			t.Errorf("stats failed %d completed %d; client saw %d failures", st.Failed, st.Completed, len(failed))
		}
		return failed
	}
	a := run(11)
	// 400 draws at p = 0.3: mean 120, sd 9.2; allow 4 sd.
	if len(a) < 83 || len(a) > 157 {
		t.Errorf("%d of 400 requests failed at ratio 0.3", len(a))
	}
	if b := run(11); !slices.Equal(a, b) {
		t.Error("the same seed failed different requests")
	}
	if c := run(12); slices.Equal(a, c) {
		t.Error("a different seed failed the same requests")
	}
}

func TestDropRatio(t *testing.T) {
	cfg := fixedConfig()
	cfg.DropRatio = 0.5
	s, url := startServer(t, cfg)
	dropped := 0
	const n = 200
	for range n {
		res := readStream(t, url, `{"prompt":[1],"max_tokens":8,"ignore_eos":true,"stream":true,"stream_options":{}}`)
		if res.done {
			if res.usage == nil || res.usage.CompletionTokens != 8 {
				t.Fatalf("complete stream with usage %+v", res.usage)
			}
			continue
		}
		dropped++
		if res.err == nil {
			t.Errorf("a dropped stream ended cleanly (no error) after %d chunks", res.chunks)
		}
		if res.chunks < 1 || res.chunks >= 8 {
			t.Errorf("dropped stream delivered %d chunks, want mid-stream (1..7)", res.chunks)
		}
	}
	if dropped < 70 || dropped > 130 {
		t.Errorf("%d of %d streams dropped at ratio 0.5", dropped, n)
	}
	// The client can see the end of the body before the handler has
	// counted it: wait for the books to settle.
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().InFlight > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := s.Stats(); st.Dropped != int64(dropped) || st.Completed != int64(n-dropped) {
		t.Errorf("stats dropped %d completed %d; client saw %d drops", st.Dropped, st.Completed, dropped)
	}
}

func TestStartupDelay(t *testing.T) {
	cfg := fixedConfig()
	cfg.StartupDelay = 300 * time.Millisecond
	s, url := startServer(t, cfg)
	resp, err := http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/health while starting: %d, want 503", resp.StatusCode)
	}
	resp, err = post(context.Background(), url+"/v1/completions", `{"prompt":[1],"max_tokens":1}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("completion while starting: %d, want 503", resp.StatusCode)
	}
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("never became ready")
	}
	resp, err = http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("/health when ready: %d %q, want 200 and an empty body", resp.StatusCode, body)
	}
	res := readStream(t, url, `{"prompt":[1],"max_tokens":2,"stream":true}`)
	if !res.done {
		t.Error("no complete stream once ready")
	}
}

func TestExitAfter(t *testing.T) {
	cfg := fixedConfig()
	cfg.ExitAfter = 3
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background(), ln) }()
	for i := range 3 {
		res := readStream(t, url, `{"prompt":[1],"max_tokens":3,"ignore_eos":true,"stream":true}`)
		if !res.done || res.err != nil {
			t.Fatalf("request %d: done %v err %v", i+1, res.done, res.err)
		}
	}
	select {
	case err := <-served:
		if !errors.Is(err, ErrExitAfter) {
			t.Errorf("Serve returned %v, want ErrExitAfter", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop after 3 completed requests")
	}
	if _, err := http.Get(url + "/health"); err == nil {
		t.Error("the crashed server still answers")
	}
}

func TestExitAfterCutsStreamsInFlight(t *testing.T) {
	cfg := fixedConfig()
	cfg.ExitAfter, cfg.ITL = 1, 10*time.Millisecond
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background(), ln) }()
	long := make(chan streamResult, 1)
	go func() {
		long <- readStream(t, url, `{"prompt":[1],"max_tokens":30000,"ignore_eos":true,"stream":true}`)
	}()
	time.Sleep(50 * time.Millisecond)
	if res := readStream(t, url, `{"prompt":[1],"max_tokens":2,"ignore_eos":true,"stream":true}`); !res.done {
		t.Fatal("the request that reaches --exit-after did not complete")
	}
	select {
	case res := <-long:
		if res.done {
			t.Error("a stream in flight completed despite the crash")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream in flight was not cut")
	}
	if err := <-served; !errors.Is(err, ErrExitAfter) {
		t.Errorf("Serve returned %v, want ErrExitAfter", err)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	cfg := fixedConfig()
	cfg.ITL = 20 * time.Millisecond
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	inflight := make(chan streamResult, 1)
	go func() {
		inflight <- readStream(t, url, `{"prompt":[1],"max_tokens":10,"ignore_eos":true,"stream":true}`)
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if res := <-inflight; !res.done {
		t.Error("a short stream in flight was cut by a graceful shutdown")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after cancel: %v, want nil", err)
	}
}

func TestClientGoingAwayIsCounted(t *testing.T) {
	for _, timing := range []Timing{TimingFixed, TimingEngine} {
		t.Run(string(timing), func(t *testing.T) {
			cfg := Config{Timing: timing, ITL: time.Millisecond, StepBase: time.Millisecond}
			s, url := startServer(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			resp, err := post(ctx, url+"/v1/completions", `{"prompt":[1],"max_tokens":30000,"ignore_eos":true,"stream":true}`)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			if _, err := resp.Body.Read(buf); err != nil {
				t.Fatal(err)
			}
			cancel()
			resp.Body.Close()
			deadline := time.Now().Add(10 * time.Second)
			for (s.Stats().InFlight > 0 || s.Stats().Running > 0) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			st := s.Stats()
			if st.InFlight != 0 || st.Cancelled != 1 || st.Running != 0 || st.Completed != 0 {
				t.Errorf("after the client left: %+v", st)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	_, url := startServer(t, fixedConfig())
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/health", 200},
		{"GET", "/v1/models", 200},
		{"GET", "/v1/completions", 405},
		{"POST", "/health", 405},
		{"GET", "/nope", 404},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, url+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestUnknownModelIsRefusedByVLLMOnly(t *testing.T) {
	for _, f := range []Format{FormatVLLM, FormatSGLang, FormatTRT} {
		t.Run(string(f), func(t *testing.T) {
			cfg := fixedConfig()
			cfg.Format, cfg.Model = f, "served"
			_, url := startServer(t, cfg)
			resp, err := post(context.Background(), url+"/v1/completions", `{"model":"other","prompt":[1],"max_tokens":1}`)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := 200 // SGLang and TRT-LLM echo whatever model is named
			if f == FormatVLLM {
				want = 404
			}
			if resp.StatusCode != want {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, body, want)
			}
		})
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown format", Config{Format: "tgi"}, "format"},
		{"unknown timing", Config{Timing: "slow"}, "timing"},
		{"fail ratio above 1", Config{FailRatio: 1.5}, "fail ratio"},
		{"negative drop ratio", Config{DropRatio: -0.1}, "drop ratio"},
		{"negative itl", Config{ITL: -time.Second}, "itl"},
		{"negative max num seqs", Config{MaxNumSeqs: -1}, "max num seqs"},
		{"negative time scale", Config{TimeScale: -1}, "time scale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestProfiles(t *testing.T) {
	want := []string{"h100-llama70b-tp8", "h200-llama70b-tp8", "b200-llama70b-tp8", "mi300x-llama70b-tp8",
		"h200-dsr1-tp8", "b200-dsr1-tp8", "h200-gptoss-tp1"}
	for _, name := range want {
		cfg, err := Profile(name)
		if err != nil {
			t.Errorf("Profile(%q): %v", name, err)
			continue
		}
		if cfg.StepBase <= 0 || cfg.StepPerSeq <= 0 || cfg.PrefillPerToken <= 0 || cfg.MaxModelLen < 8192 {
			t.Errorf("%s: implausible numbers %+v", name, cfg)
		}
		if _, err := New(cfg); err != nil {
			t.Errorf("%s: New: %v", name, err)
		}
	}
	if _, err := Profile("a100-nope"); err == nil || !strings.Contains(err.Error(), "h200-llama70b-tp8") {
		t.Errorf("unknown profile: %v, want an error listing the known ones", err)
	}
	// A B200 should beat an H100 on the same model, or the curves mislead.
	h100, _ := Profile("h100-llama70b-tp8")
	b200, _ := Profile("b200-llama70b-tp8")
	if b200.StepBase >= h100.StepBase || b200.PrefillPerToken >= h100.PrefillPerToken {
		t.Error("b200 profile is not faster than h100")
	}
}
