package sim

import (
	"slices"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name    string
		format  Format
		ep      endpoint
		body    string
		prompts []int // nil: want an error
		check   func(t *testing.T, r *request)
		errHas  string
		plain   bool // want TRT's plain {"error": "..."} form
	}{
		{name: "a string prompt counts a BOS token plus one per 4 bytes",
			body: `{"prompt":"abcdefghi"}`, prompts: []int{1 + 3}},
		{name: "an empty string prompt is just the BOS token",
			body: `{"prompt":""}`, prompts: []int{1}},
		{name: "a token id prompt counts its ids",
			body: `{"prompt":[1,2,3,4,5,6,7]}`, prompts: []int{7}},
		{name: "a list of strings is one prompt each",
			body: `{"prompt":["abcd","abcdefgh"]}`, prompts: []int{2, 3}},
		{name: "a list of id lists is one prompt each",
			body: `{"prompt":[[1],[1,2],[1,2,3]]}`, prompts: []int{1, 2, 3}},
		{name: "an empty id list is refused", body: `{"prompt":[]}`, errHas: "empty"},
		{name: "an empty inner id list is refused", body: `{"prompt":[[1],[]]}`, errHas: "empty"},
		{name: "a mixed list is refused", body: `{"prompt":[1,"a"]}`, errHas: "prompt"},
		{name: "a negative token id is refused", body: `{"prompt":[1,-2]}`, errHas: "out of vocabulary"},
		{name: "a float token id is refused", body: `{"prompt":[1.5]}`, errHas: "prompt"},
		{name: "a prompt of the wrong type is refused", body: `{"prompt":{"a":1}}`, errHas: "prompt"},
		{name: "a missing prompt is refused", body: `{"model":"m"}`, errHas: "prompt"},
		{name: "bad JSON is refused", body: `{"prompt":`, errHas: "JSON decode error"},
		{name: "a JSON array body is refused", body: `[1,2]`, errHas: "JSON decode error"},
		{name: "a null body is refused", body: `null`, errHas: "JSON object"},
		{name: "max_tokens, min_tokens, ignore_eos and n are read",
			body: `{"prompt":[1],"max_tokens":7,"min_tokens":3,"ignore_eos":true,"n":2}`, prompts: []int{1},
			check: func(t *testing.T, r *request) {
				if r.maxTokens != 7 || r.minTokens != 3 || !r.ignoreEOS || r.n != 2 {
					t.Errorf("got max %d min %d ignore_eos %v n %d", r.maxTokens, r.minTokens, r.ignoreEOS, r.n)
				}
			}},
		{name: "max_tokens as an integral float is accepted (pydantic lax mode)",
			body: `{"prompt":[1],"max_tokens":5.0}`, prompts: []int{1},
			check: func(t *testing.T, r *request) {
				if r.maxTokens != 5 {
					t.Errorf("max_tokens = %d, want 5", r.maxTokens)
				}
			}},
		{name: "max_tokens with a fraction is refused", body: `{"prompt":[1],"max_tokens":5.5}`, errHas: "max_tokens"},
		{name: "max_tokens as a string is refused", body: `{"prompt":[1],"max_tokens":"5"}`, errHas: "max_tokens"},
		{name: "max_tokens 0 is refused", body: `{"prompt":[1],"max_tokens":0}`, errHas: "max_tokens must be at least 1"},
		{name: "negative max_tokens is refused", body: `{"prompt":[1],"max_tokens":-3}`, errHas: "max_tokens must be at least 1"},
		{name: "min_tokens above max_tokens is refused", body: `{"prompt":[1],"max_tokens":2,"min_tokens":3}`, errHas: "min_tokens"},
		{name: "n 0 is refused", body: `{"prompt":[1],"n":0}`, errHas: "n must be at least 1"},
		{name: "too many choices are refused", body: `{"prompt":[1],"n":5000}`, errHas: "at most"},
		{name: "null fields mean unset", body: `{"prompt":[1],"max_tokens":null,"stream":null}`, prompts: []int{1}},
		{name: "vLLM: stream_options turns usage on",
			body: `{"prompt":[1],"stream":true,"stream_options":{}}`, prompts: []int{1},
			check: func(t *testing.T, r *request) {
				if !r.usage || !r.stream {
					t.Errorf("usage %v stream %v, want both on", r.usage, r.stream)
				}
			}},
		{name: "vLLM: include_usage false turns it off",
			body: `{"prompt":[1],"stream":true,"stream_options":{"include_usage":false}}`, prompts: []int{1},
			check: func(t *testing.T, r *request) {
				if r.usage {
					t.Error("usage on despite include_usage false")
				}
			}},
		{name: "vLLM: no stream_options, no usage",
			body: `{"prompt":[1],"stream":true}`, prompts: []int{1},
			check: func(t *testing.T, r *request) {
				if r.usage {
					t.Error("usage on without stream_options")
				}
			}},
		{name: "vLLM: stream_options without stream is refused",
			body: `{"prompt":[1],"stream_options":{"include_usage":true}}`, errHas: "stream=True"},
		{name: "vLLM: unknown fields are accepted and noted",
			body: `{"prompt":[1],"zeta":1,"alpha":2,"top_k":5}`, prompts: []int{1},
			check: func(t *testing.T, r *request) {
				if !slices.Equal(r.unknown, []string{"alpha", "zeta"}) {
					t.Errorf("unknown = %v, want [alpha zeta]", r.unknown)
				}
			}},
		{name: "SGLang: stream_options alone leaves usage off",
			format: FormatSGLang, body: `{"prompt":[1],"stream":true,"stream_options":{}}`, prompts: []int{1},
			check: func(t *testing.T, r *request) {
				if r.usage {
					t.Error("SGLang usage on without include_usage true")
				}
			}},
		{name: "SGLang: include_usage true turns it on",
			format: FormatSGLang, body: `{"prompt":[1],"stream":true,"stream_options":{"include_usage":true}}`, prompts: []int{1},
			check: func(t *testing.T, r *request) {
				if !r.usage {
					t.Error("SGLang usage off despite include_usage true")
				}
			}},
		{name: "SGLang: unknown fields are ignored",
			format: FormatSGLang, body: `{"prompt":[1],"rid":"x","regex":"a+"}`, prompts: []int{1}},
		{name: "TRT-LLM: the basics are accepted",
			format: FormatTRT, body: `{"model":"m","prompt":[1,2],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":false},"ignore_eos":true,"min_tokens":1,"temperature":0,"top_k":1,"seed":3}`, prompts: []int{2}},
		{name: "TRT-LLM: an unknown field is a plain 400",
			format: FormatTRT, body: `{"model":"m","prompt":[1],"request_id":"x"}`, errHas: "request_id\n  Extra inputs are not permitted", plain: true},
		{name: "TRT-LLM: every unknown field is named",
			format: FormatTRT, body: `{"model":"m","prompt":[1],"rid":"x","return_token_ids":true}`, errHas: "2 validation error", plain: true},
		{name: "TRT-LLM: an unknown stream option is a plain 400",
			format: FormatTRT, body: `{"model":"m","prompt":[1],"stream":true,"stream_options":{"include_usage":true,"foo":1}}`, errHas: "foo", plain: true},
		{name: "TRT-LLM: a non-empty suffix is refused",
			format: FormatTRT, body: `{"model":"m","prompt":[1],"suffix":"x"}`, errHas: "suffix", plain: true},
		{name: "TRT-LLM: an empty suffix is fine",
			format: FormatTRT, body: `{"model":"m","prompt":[1],"suffix":""}`, prompts: []int{1}},
		{name: "TRT-LLM: model is required",
			format: FormatTRT, body: `{"prompt":[1]}`, errHas: "model\n  Field required", plain: true},
		{name: "TRT-LLM: bad JSON is a plain 400",
			format: FormatTRT, body: `{`, errHas: "JSON decode error", plain: true},
		{name: "TRT-LLM: chat fields are not completion fields",
			format: FormatTRT, body: `{"model":"m","prompt":[1],"messages":[]}`, errHas: "messages", plain: true},
		{name: "chat: messages count template tokens and content",
			ep: endpointChat, body: `{"messages":[{"role":"system","content":"abcd"},{"role":"user","content":[{"type":"text","text":"abcdefgh"}]}]}`,
			prompts: []int{1 + 3 + 2*4 + 1 + 2}},
		{name: "chat: max_completion_tokens is read",
			ep: endpointChat, body: `{"messages":[{"role":"user","content":"x"}],"max_completion_tokens":9}`, prompts: []int{1 + 3 + 4 + 1},
			check: func(t *testing.T, r *request) {
				if r.maxTokens != 9 || !r.chat {
					t.Errorf("max tokens %d chat %v", r.maxTokens, r.chat)
				}
			}},
		{name: "chat: no messages is refused", ep: endpointChat, body: `{"messages":[]}`, errHas: "at least 1"},
		{name: "chat: a message without a role is refused", ep: endpointChat, body: `{"messages":[{"content":"x"}]}`, errHas: "role"},
		{name: "chat: TRT-LLM accepts its chat fields",
			format: FormatTRT, ep: endpointChat, body: `{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":2}`, prompts: []int{9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			format := tt.format
			if format == "" {
				format = FormatVLLM
			}
			r, err := decodeRequest([]byte(tt.body), tt.ep, format)
			if tt.errHas != "" {
				if err == nil {
					t.Fatalf("accepted %s, want an error containing %q", tt.body, tt.errHas)
				}
				if err.status != 400 || !strings.Contains(err.msg, tt.errHas) {
					t.Errorf("error %d %q, want 400 containing %q", err.status, err.msg, tt.errHas)
				}
				if err.plain != tt.plain {
					t.Errorf("plain form = %v, want %v", err.plain, tt.plain)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused %s: %v", tt.body, err)
			}
			if !slices.Equal(r.prompts, tt.prompts) {
				t.Errorf("prompt lengths = %v, want %v", r.prompts, tt.prompts)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestCheckLength(t *testing.T) {
	tests := []struct {
		name    string
		format  Format
		chat    bool
		prompt  int
		max     int
		want    int
		errHas  string
		errCode int
	}{
		{name: "completions default to 16 tokens", prompt: 10, want: 16},
		{name: "the default shrinks to the context left", prompt: 95, want: 5},
		{name: "chat defaults to the context left", chat: true, prompt: 40, want: 60},
		{name: "an explicit max_tokens is kept", prompt: 10, max: 90, want: 90},
		{name: "vLLM: a prompt filling the context is refused", prompt: 100, errHas: "maximum context length is 100 tokens"},
		{name: "vLLM: prompt plus max_tokens over the limit is refused", prompt: 50, max: 51, errHas: "maximum context length is 100"},
		{name: "SGLang says it its way", format: FormatSGLang, prompt: 120, errHas: "The input (120 tokens) is longer than the model's context length (100 tokens)."},
		{name: "TRT-LLM refuses too", format: FormatTRT, prompt: 120, errHas: "maximum context length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			format := tt.format
			if format == "" {
				format = FormatVLLM
			}
			s, err := New(Config{Format: format, MaxModelLen: 100, Timing: TimingFixed})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, aerr := s.checkLength(&request{chat: tt.chat, prompts: []int{tt.prompt}, maxTokens: tt.max})
			if tt.errHas != "" {
				if aerr == nil || aerr.status != 400 || !strings.Contains(aerr.msg, tt.errHas) || aerr.plain {
					t.Fatalf("got %d, %v; want a 400 error object containing %q", got, aerr, tt.errHas)
				}
				return
			}
			if aerr != nil || got != tt.want {
				t.Errorf("got %d, %v; want %d", got, aerr, tt.want)
			}
		})
	}
}
