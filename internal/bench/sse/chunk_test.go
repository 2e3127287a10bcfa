package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseChunk(t *testing.T) {
	type want struct {
		choices int
		text    string // decoded; "<nil>" when absent
		tokens  int
		usage   int64
		isErr   bool
		errMsg  string
	}
	tests := []struct {
		name string
		in   string
		want want
	}{
		{"vLLM 0.11 token chunk",
			`{"id":"cmpl-8f3a","object":"text_completion","created":1760000000,"model":"Qwen/Qwen2.5-0.5B-Instruct","choices":[{"index":0,"text":" Paris","logprobs":null,"finish_reason":null,"stop_reason":null,"prompt_token_ids":null,"token_ids":null}],"usage":null}`,
			want{1, " Paris", -1, -1, false, ""}},
		{"vLLM usage chunk",
			`{"id":"cmpl-8f3a","object":"text_completion","created":1760000000,"model":"m","choices":[],"usage":{"prompt_tokens":5,"total_tokens":21,"completion_tokens":16}}`,
			want{0, "<nil>", -1, 16, false, ""}},
		{"vLLM with token ids and continuous usage",
			`{"id":"cmpl-1","choices":[{"index":0,"text":" a b","token_ids":[264,293]}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`,
			want{1, " a b", 2, 2, false, ""}},
		{"SGLang token chunk",
			`{"id":"5f0c3b9e","object":"text_completion","created":1760000000,"model":"default","choices":[{"index":0,"text":" Paris","logprobs":null,"finish_reason":null,"matched_stop":null}],"usage":null}`,
			want{1, " Paris", -1, -1, false, ""}},
		{"SGLang usage chunk with reasoning tokens",
			`{"id":"5f0c","choices":[],"usage":{"prompt_tokens":5,"total_tokens":21,"completion_tokens":16,"reasoning_tokens":0}}`,
			want{0, "<nil>", -1, 16, false, ""}},
		{"TRT-LLM token chunk",
			`{"id":"cmpl-7","object":"text_completion","created":1760000000,"model":"Qwen/Qwen2.5-0.5B-Instruct","choices":[{"index":0,"text":" Paris","token_ids":null,"logprobs":null,"finish_reason":null,"stop_reason":null,"avg_decoded_tokens_per_iter":1.0}],"usage":null}`,
			want{1, " Paris", -1, -1, false, ""}},
		{"TRT-LLM usage chunk with details",
			`{"id":"cmpl-7","choices":[],"usage":{"prompt_tokens":5,"total_tokens":21,"completion_tokens":16,"prompt_tokens_details":{"cached_tokens":0}}}`,
			want{0, "<nil>", -1, 16, false, ""}},
		{"an empty-text chunk still has choices",
			`{"choices":[{"index":0,"finish_reason":"length","text":""}]}`,
			want{1, "", -1, -1, false, ""}},
		{"escapes and unicode in the text",
			`{"choices":[{"text":"a\"b\\c\nd\u00e9\ud83d\ude00/"}]}`,
			want{1, "a\"b\\c\nd\u00e9\U0001F600/", -1, -1, false, ""}},
		{"raw UTF-8 in the text",
			`{"choices":[{"text":"日本"}]}`,
			want{1, "日本", -1, -1, false, ""}},
		{"chat role delta",
			`{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
			want{1, "", -1, -1, false, ""}},
		{"chat content delta",
			`{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":" Paris"}}]}`,
			want{1, " Paris", -1, -1, false, ""}},
		{"chat reasoning delta",
			`{"choices":[{"index":0,"delta":{"reasoning_content":"think","content":null}}]}`,
			want{1, "think", -1, -1, false, ""}},
		{"mid-stream error with Python spacing",
			`{"error": {"message": "The engine died", "type": "InternalServerError", "param": null, "code": 500}}`,
			want{0, "<nil>", -1, -1, true, "The engine died"}},
		{"flat error object",
			`{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}`,
			want{0, "<nil>", -1, -1, true, "This model's maximum context length is 4096 tokens."}},
		{"TRT-LLM plain string error",
			`{"error":"Unknown field: request_id"}`,
			want{0, "<nil>", -1, -1, true, "Unknown field: request_id"}},
		{"a null error is no error",
			`{"choices":[{"text":"x"}],"error":null}`,
			want{1, "x", -1, -1, false, ""}},
		{"unknown nested members are skipped",
			`{"metrics":{"a":[1,{"b":"]}"}]},"choices":[{"logprobs":{"tokens":["}"]},"text":"ok"},{"text":"second"}],"system_fingerprint":"fp"}`,
			want{2, "ok", -1, -1, false, ""}},
		{"whitespace between everything",
			" { \"choices\" : [ { \"text\" : \"w\" , \"token_ids\" : [ 1 , 2 , 3 ] } ] , \"usage\" : { \"completion_tokens\" : 3 } } ",
			want{1, "w", 3, 3, false, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Chunk
			if err := ParseChunk([]byte(tt.in), &c); err != nil {
				t.Fatalf("ParseChunk: %v", err)
			}
			text := "<nil>"
			if c.Text != nil {
				text = string(AppendUnescaped(nil, c.Text))
			}
			got := want{c.Choices, text, c.TokenIDs, c.CompletionTokens, c.IsError, string(AppendUnescaped(nil, c.ErrorMessage))}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseChunkRejectsMalformedInput(t *testing.T) {
	for _, in := range []string{``, `[DONE]`, `{"choices":[`, `{"choices":[{"text":"x"}]`, `{"a" 1}`, `{"a":1}x`, `"str"`, `{"usage":{"completion_tokens":}}`} {
		var c Chunk
		if err := ParseChunk([]byte(in), &c); err == nil {
			t.Errorf("ParseChunk(%q): no error", in)
		}
	}
}

func TestParseChunkAllocatesNothing(t *testing.T) {
	data := []byte(`{"id":"cmpl-8f3a","object":"text_completion","created":1760000000,"model":"Qwen/Qwen2.5-0.5B-Instruct","choices":[{"index":0,"text":" Par\u00e9is","logprobs":null,"finish_reason":null,"stop_reason":null,"prompt_token_ids":null,"token_ids":[1,2]}],"usage":{"completion_tokens":7}}`)
	var c Chunk
	allocs := testing.AllocsPerRun(100, func() {
		_ = ParseChunk(data, &c)
	})
	if allocs != 0 {
		t.Errorf("ParseChunk allocates %.1f times per chunk, want 0", allocs)
	}
}

func BenchmarkParseChunk(b *testing.B) {
	data := []byte(`{"id":"cmpl-8f3a","object":"text_completion","created":1760000000,"model":"Qwen/Qwen2.5-0.5B-Instruct","choices":[{"index":0,"text":" Paris","logprobs":null,"finish_reason":null,"stop_reason":null,"prompt_token_ids":null,"token_ids":null}],"usage":null}`)
	b.Run("scanner", func(b *testing.B) {
		var c Chunk
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			_ = ParseChunk(data, &c)
		}
	})
	// encoding/json into a reused struct, for comparison: why the scanner exists.
	b.Run("encoding-json", func(b *testing.B) {
		type choice struct {
			Text     *string `json:"text"`
			TokenIDs []int   `json:"token_ids"`
		}
		var v struct {
			Choices []choice `json:"choices"`
			Usage   *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			_ = json.Unmarshal(data, &v)
		}
	})
}

func BenchmarkReader(b *testing.B) {
	event := `data: {"id":"cmpl-8f3a","object":"text_completion","created":1760000000,"model":"m","choices":[{"index":0,"text":" Paris","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}` + "\n\n"
	stream := []byte(strings.Repeat(event, 1000) + "data: [DONE]\n\n")
	r := NewReader(nil, nil)
	br := bytes.NewReader(stream)
	var c Chunk
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		br.Reset(stream)
		r.Reset(br)
		for {
			p, err := r.Next()
			if err != nil || Done(p) {
				break
			}
			_ = ParseChunk(p, &c)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
}

// TestParseChunkAgreesWithEncodingJSON reads the shapes servers send, and
// a few they should not, with the scanner and with encoding/json.
func TestParseChunkAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{"choices":[{"index":0,"text":" Paris","finish_reason":null}],"usage":null}`,
		`{"choices":[{"index":0,"delta":{}}]}`,
		`{"choices":[{"index":0,"delta":{"role":"assistant"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"think"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"x","reasoning_content":"think"}}]}`,
		`{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":16,"total_tokens":21}}`,
		`{"choices":[{"index":0,"delta":{"content":"\u00e9\ud83d\ude00 \"quoted\" \\ back\/slash"}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":[1,{\"b\":\"]}\"}]}"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"stop","stop_reason":null}],"usage":{"completion_tokens":7}}`,
		`{"choices":[{"index":0,"text":"","finish_reason":"length"}]}`,
		`{"choices":[{"index":0,"text":"a"},{"index":1,"text":"b"}]}`,
		`{"choices":[{"text":"a","text":"b"}],"usage":{"completion_tokens":1},"usage":null}`,
		` { "choices" : [ { "text" : "spaced" } ] , "usage" : { "completion_tokens" : 3 } } `,
		`{"error":{"message":"boom","code":500}}`,
		`{"error":null,"choices":[{"text":"ok"}]}`,
		`{"choices":[{"text":"cut`,
		`{"choices":[{"text":"a"}]}}`,
		`{"choices":[{"text":"a"}],}`,
		`{"usage":{"completion_tokens":1.5}}`,
		`[1,2]`,
		``,
	} {
		var c Chunk
		err := ParseChunk([]byte(in), &c)
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(in))
		d.UseNumber()
		jerr := d.Decode(&m)
		if jerr == nil && !json.Valid([]byte(in)) {
			jerr = errors.New("trailing data")
		}
		if (err == nil) != (jerr == nil) {
			t.Errorf("%q: scanner error %v, encoding/json %v", in, err, jerr)
			continue
		}
		if err == nil {
			checkAgainstReference(t, []byte(in), m, &c)
		}
	}
}

// FuzzParseChunk compares the scanner with encoding/json on every
// well-formed input, and checks it never panics on the others.
func FuzzParseChunk(f *testing.F) {
	for _, s := range []string{
		`{"choices":[{"index":0,"text":" Paris","token_ids":null}],"usage":null}`,
		`{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":16}}`,
		`{"choices":[{"delta":{"role":"assistant","content":""}}]}`,
		`{"choices":[{"delta":{"reasoning_content":"r"}}]}`,
		`{"error": {"message": "boom", "code": 500}}`,
		`{"object":"error","message":"too long","code":400}`,
		`{"error":"Unknown field"}`,
		`{"choices":[{"text":"\ud83d\ude00\u00e9\n","token_ids":[1,2,3]}]}`,
		`{"usage":{"completion_tokens":-9223372036854775808}}`,
		`{"usage":{"completion_tokens":9223372036854775808}}`,
		`{"te\u0078t":1,"choices":[{"te\u0078t":"esc key"}]}`,
		`{"choices":[1,2]}`,
		`{"choices":"x","usage":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var c Chunk
		err := ParseChunk(in, &c)
		if !json.Valid(in) {
			return
		}
		var top any
		d := json.NewDecoder(bytes.NewReader(in))
		d.UseNumber()
		if d.Decode(&top) != nil {
			return
		}
		m, isObj := top.(map[string]any)
		if !isObj {
			if err == nil {
				t.Fatalf("accepted a non-object %q", in)
			}
			return
		}
		if err != nil {
			t.Fatalf("rejected well-formed %q: %v", in, err)
		}
		checkAgainstReference(t, in, m, &c)
	})
}

func checkAgainstReference(t *testing.T, in []byte, m map[string]any, c *Chunk) {
	t.Helper()
	choices, _ := m["choices"].([]any)
	if c.Choices != len(choices) {
		t.Fatalf("%q: choices %d, want %d", in, c.Choices, len(choices))
	}
	wantTokens := -1
	if len(choices) > 0 {
		if ch, ok := choices[0].(map[string]any); ok {
			if ids, ok := ch["token_ids"].([]any); ok {
				wantTokens = len(ids)
			}
			_, hasText := ch["text"]
			_, hasDelta := ch["delta"]
			if !(hasText && hasDelta) { // the scanner keeps the later of the two
				want, wantOK := "", false
				if s, ok := ch["text"].(string); ok {
					want, wantOK = s, true
				}
				if d, ok := ch["delta"].(map[string]any); ok {
					content, hasContent := d["content"].(string)
					reasoning, hasReasoning := d["reasoning_content"].(string)
					switch {
					case content != "" || (hasContent && !hasReasoning):
						want, wantOK = content, true
					case hasReasoning:
						want, wantOK = reasoning, true
					}
				}
				got := string(AppendUnescaped(nil, c.Text))
				if wantOK != (c.Text != nil) || got != want {
					t.Fatalf("%q: text %q (present %v), want %q (present %v)", in, got, c.Text != nil, want, wantOK)
				}
			}
		}
	}
	if c.TokenIDs != wantTokens {
		t.Fatalf("%q: token ids %d, want %d", in, c.TokenIDs, wantTokens)
	}
	wantUsage := int64(-1)
	if u, ok := m["usage"].(map[string]any); ok {
		if n, ok := u["completion_tokens"].(json.Number); ok {
			if v, err := n.Int64(); err == nil {
				wantUsage = v
			}
		}
	}
	if c.CompletionTokens != wantUsage {
		t.Fatalf("%q: completion tokens %d, want %d", in, c.CompletionTokens, wantUsage)
	}
	e, hasErr := m["error"]
	wantErr := hasErr && e != nil
	if !wantErr {
		obj, _ := m["object"].(string)
		wantErr = obj == "error"
	}
	if c.IsError != wantErr {
		t.Fatalf("%q: error %v, want %v", in, c.IsError, wantErr)
	}
	if s, ok := e.(string); ok && string(AppendUnescaped(nil, c.ErrorMessage)) != s {
		t.Fatalf("%q: error message %q, want %q", in, AppendUnescaped(nil, c.ErrorMessage), s)
	}
}
