package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	`{"model":"sim","prompt":"hello","max_tokens":4}`,
	`{"prompt":[1,2,3],"max_tokens":2,"stream":true,"stream_options":{"include_usage":true},"ignore_eos":true}`,
	`{"prompt":[[1,2],[3]],"n":2,"min_tokens":1,"max_tokens":3}`,
	`{"prompt":["a","bb"],"stream":true,"stream_options":{"continuous_usage_stats":true}}`,
	`{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":3,"stream":true}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
	`{"model":"m","prompt":[1],"request_id":"x","suffix":"y"}`,
	`{"prompt":[1e3],"max_tokens":1.0}`,
	`{"prompt":[-1]}`,
	`{"prompt":null,"max_tokens":null}`,
	`{"prompt":[1],"n":100000}`,
	`[]`, `null`, `{`, `"x"`, ``,
}

// FuzzDecodeRequest checks that no body makes request decoding panic and
// that whatever it accepts is something the server can serve.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, format := range []Format{FormatVLLM, FormatSGLang, FormatTRT} {
			for _, ep := range []endpoint{endpointCompletions, endpointChat} {
				req, err := decodeRequest(body, ep, format)
				if err != nil {
					if err.status != http.StatusBadRequest || err.msg == "" {
						t.Fatalf("%s: bad refusal %+v", format, err)
					}
					if err.plain && format != FormatTRT {
						t.Fatalf("%s: plain error outside TRT-LLM", format)
					}
					if !json.Valid(errorBody(format, err)) {
						t.Fatalf("%s: error body is not JSON: %s", format, errorBody(format, err))
					}
					continue
				}
				if len(req.prompts) == 0 || req.n < 1 || req.n*len(req.prompts) > maxChoices ||
					req.maxTokens < 0 || req.minTokens < 0 || (req.maxTokens > 0 && req.minTokens > req.maxTokens) {
					t.Fatalf("%s accepted an unservable request: %+v", format, req)
				}
				for _, p := range req.prompts {
					if p < 1 {
						t.Fatalf("%s: prompt of %d tokens", format, p)
					}
				}
				// The prefix cache's pseudo-tokens agree with the counts.
				if len(req.sources) != len(req.prompts) {
					t.Fatalf("%s: %d prompt sources for %d prompts", format, len(req.sources), len(req.prompts))
				}
				for i := range req.sources {
					if n := len(req.sources[i].tokens()); n != req.prompts[i] {
						t.Fatalf("%s: prompt %d renders as %d pseudo-tokens, counts %d", format, i, n, req.prompts[i])
					}
				}
				if req.chat != (ep == endpointChat) {
					t.Fatalf("chat flag %v on endpoint %d", req.chat, ep)
				}
				if format == FormatTRT {
					var fields map[string]json.RawMessage
					_ = json.Unmarshal(body, &fields)
					for k := range fields {
						if !trtAccepts(req.chat, k) {
							t.Fatalf("TRT-LLM accepted unknown field %q", k)
						}
					}
				}
			}
		}
	})
}

// FuzzHandler runs whole requests through the server: every body gets a
// well-formed answer (JSON, or an SSE stream ending in [DONE]) and no panic.
func FuzzHandler(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	servers := map[Format]*Server{}
	for _, format := range []Format{FormatVLLM, FormatSGLang, FormatTRT} {
		s, err := New(Config{Format: format, Timing: TimingFixed, MaxModelLen: 64, MeanOutputLen: 4})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(s.Close)
		servers[format] = s
	}
	f.Fuzz(func(t *testing.T, body []byte, chat bool) {
		path := "/v1/completions"
		if chat {
			path = "/v1/chat/completions"
		}
		for format, s := range servers {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
			out := rec.Body.Bytes()
			switch {
			case rec.Code == http.StatusOK && strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream"):
				if !bytes.HasSuffix(out, []byte("data: [DONE]\n\n")) {
					t.Fatalf("%s: stream does not end with [DONE]: %q", format, out)
				}
				for _, ev := range bytes.Split(bytes.TrimSuffix(out, []byte("\n\n")), []byte("\n\n")) {
					payload, ok := bytes.CutPrefix(ev, []byte("data: "))
					if !ok {
						t.Fatalf("%s: event without data: %q", format, ev)
					}
					if payload = bytes.TrimSpace(payload); string(payload) != "[DONE]" && !json.Valid(payload) {
						t.Fatalf("%s: event is not JSON: %q", format, payload)
					}
				}
			case rec.Code == http.StatusOK || rec.Code == http.StatusBadRequest || rec.Code == http.StatusNotFound:
				if !json.Valid(out) {
					t.Fatalf("%s: status %d body is not JSON: %q", format, rec.Code, out)
				}
			default:
				t.Fatalf("%s: status %d for %q", format, rec.Code, body)
			}
		}
	})
}
