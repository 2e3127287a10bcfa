package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// transcript is a recorded server response: a header of "# key: value"
// lines (server and version, status, how the stream ends), a blank line,
// then the body exactly as the server sends it.
type transcript struct {
	server      string
	status      int
	contentType string
	abort       bool // cut the connection after the body
	body        []byte
}

func loadTranscript(t testing.TB, name string) transcript {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "transcripts", name))
	if err != nil {
		t.Fatal(err)
	}
	tr := transcript{status: 200, contentType: "text/event-stream"}
	head, body, ok := bytes.Cut(raw, []byte("\n\n"))
	if !ok {
		t.Fatalf("%s: no blank line after the header", name)
	}
	for _, line := range strings.Split(string(head), "\n") {
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "# "), ": ")
		switch k {
		case "server":
			tr.server = v
		case "status":
			tr.status, _ = strconv.Atoi(v)
		case "content-type":
			tr.contentType = v
		case "end":
			tr.abort = v == "abort"
		}
	}
	if tr.server == "" {
		t.Fatalf("%s: the header must say which server and version it reflects", name)
	}
	if tr.abort {
		body = bytes.TrimRight(body, "\n") // the cut falls inside an event
	}
	tr.body = body
	return tr
}

// replayServer serves a transcript to every request, written in small
// pieces of random sizes (flushed one by one) so events are split across
// reads, and remembers the request bodies it got.
type replayServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newReplayServer(t testing.TB, tr transcript, transform func([]byte) []byte) *replayServer {
	body := tr.body
	if transform != nil {
		body = transform(body)
	}
	s := &replayServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, b.Bytes())
		n := len(s.bodies)
		s.mu.Unlock()
		w.Header().Set("Content-Type", tr.contentType)
		w.WriteHeader(tr.status)
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		f := w.(http.Flusher)
		for rest := body; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(48))
			_, _ = w.Write(rest[:k])
			f.Flush()
			rest = rest[k:]
		}
		if tr.abort {
			panic(http.ErrAbortHandler)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *replayServer) requestBodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

func smallConfig(url string, backend Backend) Config {
	cfg := DefaultConfig()
	cfg.BaseURL = url
	cfg.Backend = backend
	cfg.Model = "Qwen/Qwen2.5-0.5B-Instruct"
	cfg.NumPrompts = 3
	cfg.MaxConcurrency = 1
	cfg.Random = RandomConfig{InputLen: 16, OutputLen: 4, RangeRatio: 1}
	cfg.PercentileMetrics = []string{"ttft", "tpot", "itl", "e2el"}
	cfg.SaveDetailed = true
	cfg.RequestTimeout = 10 * time.Second
	return cfg
}

func TestTranscriptsAreReadAsBenchServingReadsThem(t *testing.T) {
	crlf := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }
	tests := []struct {
		file      string
		backend   Backend
		transform func([]byte) []byte
		ok        bool
		errHas    string
		chunks    int // chunks with choices
		tokens    int
		estimated bool
		text      string
	}{
		{file: "vllm-0.11-completions.sse", backend: BackendVLLM, ok: true, chunks: 4, tokens: 4, text: " The capital is Paris"},
		{file: "vllm-0.11-completions.sse", backend: BackendVLLM, transform: crlf, ok: true, chunks: 4, tokens: 4, text: " The capital is Paris"},
		{file: "vllm-2026-omit-unset.sse", backend: BackendVLLM, ok: true, chunks: 3, tokens: 3, text: " one two three"},
		{file: "vllm-0.11-stream-interval-4.sse", backend: BackendVLLM, ok: true, chunks: 3, tokens: 9, text: " The capital of France is Paris. It is"},
		{file: "vllm-0.10.2-token-ids.sse", backend: BackendVLLM, ok: true, chunks: 2, tokens: 4, text: " The capital is Paris"},
		{file: "vllm-0.10.1-error-400.sse", backend: BackendVLLM, errHas: "HTTP 400: This model's maximum context length is 4096 tokens"},
		{file: "vllm-0.10.0-error-404.sse", backend: BackendVLLM, errHas: "HTTP 404: The model `llama` does not exist."},
		{file: "vllm-0.11-mid-stream-error.sse", backend: BackendVLLM, errHas: "server error mid-stream: EngineCore encountered an issue", chunks: 2},
		{file: "vllm-0.11-dropped.sse", backend: BackendVLLM, errHas: "read stream after 1 chunks", chunks: 1},
		{file: "vllm-0.11-pings-no-space.sse", backend: BackendVLLM, ok: true, chunks: 2, tokens: 2, text: " x y"},
		{file: "sglang-0.5-completions.sse", backend: BackendSGLang, ok: true, chunks: 3, tokens: 3, text: " The café 日本"},
		{file: "sglang-0.5-no-usage.sse", backend: BackendSGLang, ok: true, chunks: 4, tokens: 3, estimated: true, text: " one two three"},
		{file: "trtllm-1.0-completions.sse", backend: BackendTRT, ok: true, chunks: 3, tokens: 3, text: " The capital is"},
		{file: "trtllm-1.0-unknown-field-400.sse", backend: BackendTRT, errHas: "HTTP 400: 1 validation error for CompletionRequest\nrequest_id"},
		{file: "trtllm-1.0-mid-stream-error.sse", backend: BackendTRT, errHas: "stream ended without [DONE] after 2 chunks", chunks: 2},
		{file: "thirdparty-vllm-format.sse", backend: BackendOpenAI, ok: true, chunks: 3, tokens: 2, text: " a b"},
		{file: "vllm-0.11-chat.sse", backend: BackendOpenAIChat, ok: true, chunks: 4, tokens: 2, text: "Hello world"},
		{file: "trtllm-1.0-chat.sse", backend: BackendOpenAIChat, ok: true, chunks: 3, tokens: 2, text: "Hi!"},
	}
	for _, tt := range tests {
		name := tt.file
		if tt.transform != nil {
			name += "/CRLF"
		}
		t.Run(name, func(t *testing.T) {
			tr := loadTranscript(t, tt.file)
			srv := newReplayServer(t, tr, tt.transform)
			res, err := Run(context.Background(), smallConfig(srv.URL, tt.backend), nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			for i, r := range res.Requests {
				if r.OK != tt.ok {
					t.Fatalf("request %d: ok=%v (err %q), want ok=%v", i, r.OK, r.Err, tt.ok)
				}
				if !strings.Contains(r.Err, tt.errHas) {
					t.Errorf("request %d: error %q, want it to contain %q", i, r.Err, tt.errHas)
				}
				if len(r.ChunkAt) != tt.chunks {
					t.Errorf("request %d: %d chunks with choices, want %d", i, len(r.ChunkAt), tt.chunks)
				}
				if !tt.ok {
					continue
				}
				if r.OutputTokens != tt.tokens || r.Estimated != tt.estimated {
					t.Errorf("request %d: %d output tokens (estimated %v), want %d (%v)", i, r.OutputTokens, r.Estimated, tt.tokens, tt.estimated)
				}
				if string(r.Text) != tt.text {
					t.Errorf("request %d: text %q, want %q", i, r.Text, tt.text)
				}
				if r.TTFT <= 0 || r.Latency < r.TTFT {
					t.Errorf("request %d: ttft %v, latency %v", i, r.TTFT, r.Latency)
				}
			}
			wantCompleted := 0
			if tt.ok {
				wantCompleted = 3
			}
			if res.Completed != wantCompleted || res.Failed != 3-wantCompleted {
				t.Errorf("completed %d, failed %d; want %d, %d", res.Completed, res.Failed, wantCompleted, 3-wantCompleted)
			}
			if !tt.ok && (len(res.FailedReasons) != 1 || res.FailedReasons[0].Count != 3) {
				t.Errorf("failure groups %+v, want one group of 3", res.FailedReasons)
			}
			if tt.ok && tt.chunks > 1 {
				itl, _ := res.Metric("itl")
				if itl.Mean <= 0 {
					t.Errorf("mean ITL %v, want > 0", itl.Mean)
				}
			}
		})
	}
}

func TestALineLongerThan64KiBIsRead(t *testing.T) {
	text := strings.Repeat("long ", 40<<10) // 200 KiB of text in one chunk
	body := `data: {"id":"cmpl-1","choices":[{"index":0,"text":"` + text + `"}],"usage":null}` + "\n\n" +
		`data: {"id":"cmpl-1","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":40960}}` + "\n\ndata: [DONE]\n\n"
	srv := newReplayServer(t, transcript{server: "synthetic", status: 200, contentType: "text/event-stream", body: []byte(body)}, nil)
	cfg := smallConfig(srv.URL, BackendVLLM)
	cfg.NumPrompts = 1
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Requests[0]
	if !r.OK || len(r.Text) != len(text) || r.OutputTokens != 40960 {
		t.Fatalf("ok=%v err=%q text %d bytes tokens %d", r.OK, r.Err, len(r.Text), r.OutputTokens)
	}
}

func TestRequestBodiesCarryOnlyWhatEachBackendAccepts(t *testing.T) {
	tests := []struct {
		backend   Backend
		ignoreEOS bool
		extra     string
		wantKeys  []string
		notKeys   []string
	}{
		{BackendVLLM, true, "", []string{"model", "prompt", "max_tokens", "temperature", "stream", "stream_options", "ignore_eos"}, []string{"best_of", "logprobs", "messages"}},
		{BackendSGLang, false, "", []string{"model", "prompt", "max_tokens", "temperature", "stream", "stream_options"}, []string{"ignore_eos", "best_of"}},
		{BackendTRT, true, `{"min_tokens":4}`, []string{"model", "prompt", "max_tokens", "temperature", "stream", "stream_options", "ignore_eos", "min_tokens"}, []string{"best_of", "logprobs", "request_id", "return_token_ids"}},
		{BackendOpenAIChat, false, `{"temperature":0.7}`, []string{"model", "messages", "max_completion_tokens", "temperature", "stream", "stream_options"}, []string{"prompt", "max_tokens", "ignore_eos"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.backend), func(t *testing.T) {
			srv := newReplayServer(t, loadTranscript(t, "vllm-0.11-completions.sse"), nil)
			cfg := smallConfig(srv.URL, tt.backend)
			cfg.NumPrompts = 1
			cfg.IgnoreEOS = tt.ignoreEOS
			cfg.ExtraBody = json.RawMessage(tt.extra)
			cfg.ServedModelName = "served"
			if _, err := Run(context.Background(), cfg, nil); err != nil {
				t.Fatal(err)
			}
			raw := srv.requestBodies()[0]
			var body map[string]json.RawMessage
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("body %s: %v", raw, err)
			}
			for _, k := range tt.wantKeys {
				if _, ok := body[k]; !ok {
					t.Errorf("body lacks %q: %s", k, raw)
				}
			}
			for _, k := range tt.notKeys {
				if _, ok := body[k]; ok {
					t.Errorf("body has %q, which %s must not get: %s", k, tt.backend, raw)
				}
			}
			if len(body) != len(tt.wantKeys) {
				t.Errorf("body has %d keys, want exactly %v: %s", len(body), tt.wantKeys, raw)
			}
			if string(body["model"]) != `"served"` || string(body["stream_options"]) != `{"include_usage":true}` {
				t.Errorf("model %s, stream_options %s", body["model"], body["stream_options"])
			}
			if tt.backend == BackendOpenAIChat && string(body["temperature"]) != "0.7" {
				t.Errorf("extra body did not replace temperature: %s", raw)
			}
			if p, ok := body["prompt"]; ok {
				var ids []int
				if err := json.Unmarshal(p, &ids); err != nil || len(ids) != 16 {
					t.Errorf("prompt %s: want 16 token ids", p)
				}
			}
		})
	}
}

func TestTRTRejectsUnknownExtraBodyKeysBeforeSending(t *testing.T) {
	cfg := smallConfig("http://127.0.0.1:1", BackendTRT)
	cfg.ExtraBody = json.RawMessage(`{"return_token_ids":true}`)
	_, err := Run(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), `"return_token_ids"`) {
		t.Fatalf("got %v, want an error naming the rejected key", err)
	}
}
