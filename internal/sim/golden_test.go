package sim

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// pinnedNow is the wall clock of golden runs, so "created" is stable.
func pinnedNow() time.Time { return time.Unix(1760000000, 0) }

// serverVersion says which server and version each format reflects; every
// golden transcript starts with it.
var serverVersion = map[Format]string{
	FormatVLLM:   "vLLM 0.11 (vllm serve)",
	FormatSGLang: "SGLang 0.5 (sglang.launch_server)",
	FormatTRT:    "TensorRT-LLM 1.0 (trtllm-serve)",
}

// startServer runs a simulator on loopback for the test's duration.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		s.Close()
	})
	return s, hs.URL
}

func goldenConfig(f Format) Config {
	return Config{Format: f, Timing: TimingFixed, Seed: 1, Now: pinnedNow, MaxModelLen: 4096, Model: "sim-llama"}
}

func TestGoldenTranscripts(t *testing.T) {
	type tc struct {
		name string
		path string
		body string
		cfg  func(*Config)
	}
	common := []tc{
		{"completions_stream_usage", "/v1/completions",
			`{"model":"sim-llama","prompt":[1,2,3,4,5],"max_tokens":4,"stream":true,"stream_options":{"include_usage":true},"ignore_eos":true,"temperature":0}`, nil},
		{"completions_stream_no_usage", "/v1/completions",
			`{"model":"sim-llama","prompt":"Hello there","max_tokens":3,"stream":true,"ignore_eos":true}`, nil},
		{"completions_stream_interval3", "/v1/completions",
			`{"model":"sim-llama","prompt":[7,8,9],"max_tokens":8,"stream":true,"stream_options":{"include_usage":true},"ignore_eos":true}`,
			func(c *Config) { c.StreamInterval = 3 }},
		{"completions_stream_eos", "/v1/completions",
			`{"model":"sim-llama","prompt":[1,2],"max_tokens":50,"min_tokens":2,"stream":true,"stream_options":{"include_usage":true}}`,
			func(c *Config) { c.MeanOutputLen = 3 }},
		{"completions_stream_two_prompts", "/v1/completions",
			`{"model":"sim-llama","prompt":[[1,2,3],[4,5]],"max_tokens":2,"stream":true,"stream_options":{"include_usage":true},"ignore_eos":true}`, nil},
		{"completions_stream_continuous_usage", "/v1/completions",
			`{"model":"sim-llama","prompt":[1,2,3],"max_tokens":2,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true},"ignore_eos":true}`, nil},
		{"completions", "/v1/completions",
			`{"model":"sim-llama","prompt":"The capital of France is","max_tokens":5,"ignore_eos":true}`, nil},
		{"chat_stream_usage", "/v1/chat/completions",
			`{"model":"sim-llama","messages":[{"role":"user","content":"Hi!"}],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true},"ignore_eos":true}`, nil},
		{"chat", "/v1/chat/completions",
			`{"model":"sim-llama","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi!"}]}],"max_completion_tokens":3,"ignore_eos":true}`, nil},
		{"error_prompt_too_long", "/v1/completions",
			`{"model":"sim-llama","prompt":"` + strings.Repeat("x", 4*4096) + `","max_tokens":4,"stream":true}`, nil},
		{"error_prompt_plus_max_tokens_too_long", "/v1/completions",
			`{"model":"sim-llama","prompt":[1,2,3],"max_tokens":4094}`, nil},
		{"unknown_model", "/v1/completions",
			`{"model":"gpt-4","prompt":"hi","max_tokens":4}`, nil},
		{"error_max_tokens_zero", "/v1/completions",
			`{"model":"sim-llama","prompt":"hi","max_tokens":0}`, nil},
		{"error_bad_json", "/v1/completions", `{"model":`, nil},
		{"unknown_field", "/v1/completions",
			`{"model":"sim-llama","prompt":[1],"max_tokens":2,"ignore_eos":true,"request_id":"abc"}`, nil},
		{"models", "/v1/models", "", nil},
	}
	for _, f := range []Format{FormatVLLM, FormatSGLang, FormatTRT} {
		for _, c := range common {
			t.Run(string(f)+"/"+c.name, func(t *testing.T) {
				cfg := goldenConfig(f)
				if c.cfg != nil {
					c.cfg(&cfg)
				}
				_, url := startServer(t, cfg)
				got := transcript(t, f, url, c.path, c.body)
				path := filepath.Join("testdata", string(f)+"_"+c.name+".golden")
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("read golden file (run with -update to create it): %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("transcript differs from %s (rerun with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
				}
			})
		}
	}
}

// transcript performs one request and renders what came back: a header
// naming the server imitated, the request, the status, the content type and
// the exact body bytes.
func transcript(t *testing.T, f Format, url, path, body string) []byte {
	t.Helper()
	var resp *http.Response
	var err error
	reqLine := "GET " + path
	if body == "" {
		resp, err = http.Get(url + path)
	} else {
		reqLine = "POST " + path
		resp, err = http.Post(url+path, "application/json", strings.NewReader(body))
	}
	if err != nil {
		t.Fatalf("%s: %v", reqLine, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	shown := body
	if len(shown) > 300 {
		shown = shown[:120] + fmt.Sprintf("...(%d bytes)...", len(body)-160) + shown[len(shown)-40:]
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# fleet sim --format %s, imitating %s; wire shapes per shared/reference/wire-formats.md\n", f, serverVersion[f])
	fmt.Fprintf(&b, "%s\n", reqLine)
	if body != "" {
		fmt.Fprintf(&b, "%s\n", shown)
	}
	fmt.Fprintf(&b, "\nHTTP %d\nContent-Type: %s\n\n", resp.StatusCode, resp.Header.Get("Content-Type"))
	b.Write(got)
	return b.Bytes()
}
