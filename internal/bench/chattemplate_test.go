package bench_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fleetbench/fleet/internal/bench"
)

// seen is one request a recording server got.
type seen struct {
	Path string
	Body map[string]any
}

// recordingServer answers paths in ok with 200 and everything else with
// a 400, and records every request.
func recordingServer(t *testing.T, ok ...string) (string, func() []seen) {
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		mu.Lock()
		got = append(got, seen{r.URL.Path, body})
		mu.Unlock()
		for _, p := range ok {
			if r.URL.Path == p {
				return
			}
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"recorded","code":400}}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
}

func TestChatTemplates(t *testing.T) {
	const (
		dsv4Start = "<｜begin▁of▁sentence｜><｜User｜>"
		dsv4End   = "<｜Assistant｜><think>"
	)
	// words counts the space-separated words between the frame's ends.
	words := func(s string) int {
		return len(strings.Fields(strings.TrimSuffix(strings.TrimPrefix(s, dsv4Start), dsv4End)))
	}
	tests := []struct {
		name     string
		backend  bench.Backend
		endpoint string
		template bench.ChatTemplate
		path     string
		check    func(t *testing.T, body map[string]any)
	}{
		{name: "no template: token ids to completions", backend: bench.BackendVLLM, path: "/v1/completions",
			check: func(t *testing.T, body map[string]any) {
				if ids, ok := body["prompt"].([]any); !ok || len(ids) != 16 {
					t.Errorf("prompt %v", body["prompt"])
				}
			}},
		{name: "server template: one user message to chat completions", backend: bench.BackendVLLM, template: bench.ChatTemplateServer, path: "/v1/chat/completions",
			check: func(t *testing.T, body map[string]any) {
				msgs, _ := body["messages"].([]any)
				if len(msgs) != 1 || body["prompt"] != nil || body["max_completion_tokens"] != 4.0 || body["ignore_eos"] != true {
					t.Fatalf("body %v", body)
				}
				m := msgs[0].(map[string]any)
				if m["role"] != "user" || len(strings.Fields(m["content"].(string))) != 16 {
					t.Errorf("message %v", m)
				}
			}},
		{name: "server template keeps an endpoint given", backend: bench.BackendSGLang, endpoint: "/v2/chat", template: bench.ChatTemplateServer, path: "/v2/chat",
			check: func(t *testing.T, body map[string]any) {
				if body["messages"] == nil {
					t.Errorf("body %v", body)
				}
			}},
		{name: "dsv4: framed text to completions, 4 tokens shorter", backend: bench.BackendVLLM, template: bench.ChatTemplateDSV4, path: "/v1/completions",
			check: func(t *testing.T, body map[string]any) {
				p, ok := body["prompt"].(string)
				if !ok || !strings.HasPrefix(p, dsv4Start) || !strings.HasSuffix(p, dsv4End) || words(p) != 16-bench.DSV4FrameTokens {
					t.Errorf("prompt %q", body["prompt"])
				}
			}},
		{name: "dsv4 on openai-chat: the framed text is the message", backend: bench.BackendOpenAIChat, template: bench.ChatTemplateDSV4, path: "/v1/chat/completions",
			check: func(t *testing.T, body map[string]any) {
				msgs, _ := body["messages"].([]any)
				if len(msgs) != 1 {
					t.Fatalf("body %v", body)
				}
				c, _ := msgs[0].(map[string]any)["content"].(string)
				if !strings.HasPrefix(c, dsv4Start) || !strings.HasSuffix(c, dsv4End) || words(c) != 16-bench.DSV4FrameTokens {
					t.Errorf("content %q", c)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, got := recordingServer(t)
			cfg := bench.DefaultConfig()
			cfg.BaseURL, cfg.Model, cfg.Backend, cfg.Endpoint, cfg.ChatTemplate = url, "m", tt.backend, tt.endpoint, tt.template
			cfg.NumPrompts, cfg.MaxConcurrency, cfg.IgnoreEOS = 3, 1, true
			cfg.Random = bench.RandomConfig{InputLen: 16, OutputLen: 4, RangeRatio: 1}
			cfg.SaveDetailed = true
			res, err := bench.Run(t.Context(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			reqs := got()
			if len(reqs) != 3 || res.Failed != 3 {
				t.Fatalf("%d requests, %d failed", len(reqs), res.Failed)
			}
			for _, r := range reqs {
				if r.Path != tt.path {
					t.Errorf("path %s, want %s", r.Path, tt.path)
				}
				tt.check(t, r.Body)
			}
			// The recorded length is the framed prompt's, as the Python
			// client records it: the target.
			if in := res.Detail.InputLens; len(in) != 3 || in[0] != 16 {
				t.Errorf("input lens %v", in)
			}
		})
	}
}

func TestDSV4NeedsRoomForItsFrame(t *testing.T) {
	cfg := bench.DefaultConfig()
	cfg.BaseURL, cfg.Model, cfg.ChatTemplate = "http://127.0.0.1:1", "m", bench.ChatTemplateDSV4
	cfg.Random.InputLen = bench.DSV4FrameTokens - 1
	if _, err := bench.Run(t.Context(), cfg, nil); err == nil || !strings.Contains(err.Error(), "DeepSeek-V4 chat frame") {
		t.Fatalf("error %v", err)
	}
}

func TestProfile(t *testing.T) {
	t.Run("the profiler brackets the measured requests", func(t *testing.T) {
		url, got := recordingServer(t, "/start_profile", "/stop_profile")
		cfg := bench.DefaultConfig()
		cfg.BaseURL, cfg.Model, cfg.Profile = url, "m", true
		cfg.NumPrompts, cfg.MaxConcurrency = 4, 2
		cfg.Random = bench.RandomConfig{InputLen: 8, OutputLen: 2, RangeRatio: 1}
		res, err := bench.Run(t.Context(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		reqs := got()
		if len(reqs) != 6 || reqs[0].Path != "/start_profile" || reqs[5].Path != "/stop_profile" || len(res.ProfileErrors) != 0 {
			t.Fatalf("requests %v, profile errors %v", reqs, res.ProfileErrors)
		}
		if reqs[0].Body["num_steps"] != 1.0 {
			t.Errorf("start body %v", reqs[0].Body)
		}
		for _, r := range reqs[1:5] {
			if r.Path != "/v1/completions" {
				t.Errorf("measured request to %s", r.Path)
			}
		}
	})
	t.Run("a server without a profiler: reported, the run goes on", func(t *testing.T) {
		url, got := recordingServer(t)
		cfg := bench.DefaultConfig()
		cfg.BaseURL, cfg.Model, cfg.Profile = url, "m", true
		cfg.NumPrompts = 1
		cfg.Random = bench.RandomConfig{InputLen: 8, OutputLen: 2, RangeRatio: 1}
		res, err := bench.Run(t.Context(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got()) != 3 || len(res.ProfileErrors) != 2 || !strings.Contains(res.ProfileErrors[1], "/stop_profile: HTTP 400") {
			t.Errorf("profile errors %q", res.ProfileErrors)
		}
	})
	t.Run("without --profile the profiler is not called", func(t *testing.T) {
		url, got := recordingServer(t)
		cfg := bench.DefaultConfig()
		cfg.BaseURL, cfg.Model, cfg.NumPrompts = url, "m", 2
		cfg.Random = bench.RandomConfig{InputLen: 8, OutputLen: 2, RangeRatio: 1}
		if _, err := bench.Run(t.Context(), cfg, nil); err != nil {
			t.Fatal(err)
		}
		for _, r := range got() {
			if strings.Contains(r.Path, "profile") {
				t.Errorf("called %s", r.Path)
			}
		}
	})
}
