package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// eosTokenID is what SGLang reports as matched_stop when a sequence ends at
// the end-of-sequence token (Llama 3's <|eot_id|>).
const eosTokenID = 128009

// usage is what the final usage chunk and non-streaming bodies report.
// details adds prompt_tokens_details {"cached_tokens": cached} where the
// format leaves it out by default (vLLM, SGLang): the simulator sends it
// whenever prefix caching is on, as those servers do with their flags
// for it (vLLM's --enable-prompt-tokens-details, SGLang's
// --enable-cache-report). TRT-LLM always sends it.
type usage struct {
	prompt, completion int
	cached             int
	details            bool
}

// encoder writes one request's bodies in one server's format. Streaming
// chunks are appended to a caller's buffer by hand rather than through
// encoding/json: they are the hot path at hundreds of streams, and their
// shape is fixed.
type encoder struct {
	format  Format
	chat    bool
	created int64
	// head is everything of a chunk up to and including `"choices":[`,
	// computed once per request.
	head []byte
}

func newEncoder(format Format, chat bool, id string, created int64, model string) *encoder {
	e := &encoder{format: format, chat: chat, created: created}
	object := "text_completion"
	if chat {
		object = "chat.completion.chunk"
	}
	h := []byte(`{"id":`)
	h = appendJSONString(h, id)
	h = append(h, `,"object":"`...)
	h = append(h, object...)
	h = append(h, `","created":`...)
	h = strconv.AppendInt(h, created, 10)
	h = append(h, `,"model":`...)
	h = appendJSONString(h, model)
	h = append(h, `,"choices":[`...)
	e.head = h
	return e
}

// appendRole appends the first chunk of a chat stream: the assistant role
// with empty content.
func (e *encoder) appendRole(b []byte, index int) []byte {
	b = append(b, "data: "...)
	b = append(b, e.head...)
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	switch e.format {
	case FormatVLLM:
		b = append(b, `,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`...)
	case FormatSGLang:
		b = append(b, `,"delta":{"role":"assistant","content":"","reasoning_content":null,"tool_calls":null},"logprobs":null,"finish_reason":null,"matched_stop":null}],"usage":null}`...)
	case FormatTRT:
		// trtllm-serve writes its first chat chunk with a stray space
		// before the blank line.
		b = append(b, `,"delta":{"role":"assistant","content":"","reasoning_content":null,"tool_calls":[]},"logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null} `...)
		return append(b, "\n\n"...)
	}
	return append(b, "\n\n"...)
}

// appendChunk appends one streamed chunk for choice index carrying text.
// finish is "" until the choice's last chunk; eos says the sequence ended
// at the end-of-sequence token. cont, when not nil, is the running usage
// for continuous_usage_stats.
func (e *encoder) appendChunk(b []byte, index int, text []byte, finish string, eos bool, cont *usage) []byte {
	b = append(b, "data: "...)
	b = append(b, e.head...)
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	if e.chat {
		b = append(b, `,"delta":{`...)
		if e.format == FormatSGLang {
			b = append(b, `"role":null,`...)
		}
		b = append(b, `"content":"`...)
		b = append(b, text...)
		b = append(b, '"')
		switch e.format {
		case FormatSGLang:
			b = append(b, `,"reasoning_content":null,"tool_calls":null`...)
		case FormatTRT:
			b = append(b, `,"reasoning_content":null,"tool_calls":[]`...)
		}
		b = append(b, `},"logprobs":null,"finish_reason":`...)
		b = appendFinish(b, finish)
		switch e.format {
		case FormatVLLM:
			// vLLM dumps chat chunks with exclude_unset: stop_reason
			// appears only once it is set, with the finish reason.
			if finish != "" {
				b = append(b, `,"stop_reason":null`...)
			}
			b = append(b, '}', ']')
			if cont != nil {
				b = append(b, `,"usage":`...)
				b = e.appendUsageObject(b, *cont)
			}
			b = append(b, '}')
		case FormatSGLang:
			b = append(b, `,"matched_stop":`...)
			b = appendMatchedStop(b, eos)
			b = append(b, `}],"usage":null}`...)
		case FormatTRT:
			b = append(b, `,"stop_reason":null}],"usage":`...)
			b = e.appendUsageOrNull(b, cont)
			b = append(b, '}')
		}
		return append(b, "\n\n"...)
	}
	switch e.format {
	case FormatVLLM:
		b = append(b, `,"text":"`...)
		b = append(b, text...)
		b = append(b, `","logprobs":null,"finish_reason":`...)
		b = appendFinish(b, finish)
		b = append(b, `,"stop_reason":null,"prompt_token_ids":null,"token_ids":null}],"usage":`...)
	case FormatSGLang:
		b = append(b, `,"text":"`...)
		b = append(b, text...)
		b = append(b, `","logprobs":null,"finish_reason":`...)
		b = appendFinish(b, finish)
		b = append(b, `,"matched_stop":`...)
		b = appendMatchedStop(b, eos)
		b = append(b, `}],"usage":`...)
		cont = nil
	case FormatTRT:
		b = append(b, `,"text":"`...)
		b = append(b, text...)
		b = append(b, `","token_ids":null,"logprobs":null,"finish_reason":`...)
		b = appendFinish(b, finish)
		b = append(b, `,"stop_reason":null,"avg_decoded_tokens_per_iter":1.0}],"usage":`...)
	}
	b = e.appendUsageOrNull(b, cont)
	return append(b, "}\n\n"...)
}

// appendUsageChunk appends the final chunk with empty choices and usage.
func (e *encoder) appendUsageChunk(b []byte, u usage) []byte {
	b = append(b, "data: "...)
	b = append(b, e.head...)
	b = append(b, `],"usage":`...)
	b = e.appendUsageObject(b, u)
	return append(b, "}\n\n"...)
}

func (e *encoder) appendUsageOrNull(b []byte, u *usage) []byte {
	if u == nil {
		return append(b, "null"...)
	}
	return e.appendUsageObject(b, *u)
}

func (e *encoder) appendUsageObject(b []byte, u usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.prompt), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.prompt+u.completion), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.completion), 10)
	if u.details || e.format == FormatTRT {
		b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
		b = strconv.AppendInt(b, int64(u.cached), 10)
		b = append(b, '}')
	}
	if e.format == FormatSGLang {
		b = append(b, `,"reasoning_tokens":0`...)
	}
	return append(b, '}')
}

func appendDone(b []byte) []byte { return append(b, "data: [DONE]\n\n"...) }

func appendFinish(b []byte, finish string) []byte {
	if finish == "" {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = append(b, finish...)
	return append(b, '"')
}

func appendMatchedStop(b []byte, eos bool) []byte {
	if !eos {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, eosTokenID, 10)
}

// appendJSONString appends s as a JSON string the way Python's json module
// does with ensure_ascii=False: raw UTF-8, no HTML escaping.
func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
}

// marshal renders v compactly with raw UTF-8 (Starlette's JSONResponse).
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only the simulator's own types reach here; failing to encode
		// them is a programming error.
		panic("sim: encode response: " + err.Error())
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// pyFloat prints like a Python float (1.0, not 1).
type pyFloat float64

func (f pyFloat) MarshalJSON() ([]byte, error) {
	b := strconv.AppendFloat(nil, float64(f), 'f', -1, 64)
	if !bytes.ContainsAny(b, ".eE") {
		b = append(b, '.', '0')
	}
	return b, nil
}

// choiceResult is one finished choice of a non-streaming response.
type choiceResult struct {
	index  int
	text   string
	finish string
	eos    bool
}

// responseBody renders a non-streaming completions or chat response.
// kv is the kv_transfer_params a vLLM prefill hands back (nil: null).
func responseBody(format Format, chat bool, id string, created int64, model string, choices []choiceResult, u usage, kv *kvParams) []byte {
	object := "text_completion"
	if chat {
		object = "chat.completion"
	}
	type cachedDetails struct {
		Cached int `json:"cached_tokens"`
	}
	var details any // null unless the usage carries details
	if u.details {
		details = cachedDetails{u.cached}
	}
	usageValue := func() any {
		switch format {
		case FormatSGLang:
			return struct {
				Prompt     int `json:"prompt_tokens"`
				Total      int `json:"total_tokens"`
				Completion int `json:"completion_tokens"`
				Details    any `json:"prompt_tokens_details"`
				Reasoning  int `json:"reasoning_tokens"`
			}{u.prompt, u.prompt + u.completion, u.completion, details, 0}
		case FormatTRT:
			return struct {
				Prompt     int           `json:"prompt_tokens"`
				Total      int           `json:"total_tokens"`
				Completion int           `json:"completion_tokens"`
				Details    cachedDetails `json:"prompt_tokens_details"`
			}{Prompt: u.prompt, Total: u.prompt + u.completion, Completion: u.completion, Details: cachedDetails{u.cached}}
		}
		return struct {
			Prompt     int `json:"prompt_tokens"`
			Total      int `json:"total_tokens"`
			Completion int `json:"completion_tokens"`
			Details    any `json:"prompt_tokens_details"`
		}{u.prompt, u.prompt + u.completion, u.completion, details}
	}()
	cs := make([]any, len(choices))
	for i, c := range choices {
		var matched any // SGLang's matched_stop
		if c.eos {
			matched = eosTokenID
		}
		switch {
		case format == FormatVLLM && !chat:
			cs[i] = struct {
				Index          int    `json:"index"`
				Text           string `json:"text"`
				Logprobs       any    `json:"logprobs"`
				Finish         string `json:"finish_reason"`
				StopReason     any    `json:"stop_reason"`
				TokenIDs       any    `json:"token_ids"`
				PromptLogprobs any    `json:"prompt_logprobs"`
				PromptTokenIDs any    `json:"prompt_token_ids"`
			}{Index: c.index, Text: c.text, Finish: c.finish}
		case format == FormatVLLM:
			type message struct {
				Role        string `json:"role"`
				Content     string `json:"content"`
				Refusal     any    `json:"refusal"`
				Annotations any    `json:"annotations"`
				Audio       any    `json:"audio"`
				Function    any    `json:"function_call"`
				ToolCalls   []any  `json:"tool_calls"`
				Reasoning   any    `json:"reasoning_content"`
			}
			cs[i] = struct {
				Index      int     `json:"index"`
				Message    message `json:"message"`
				Logprobs   any     `json:"logprobs"`
				Finish     string  `json:"finish_reason"`
				StopReason any     `json:"stop_reason"`
			}{Index: c.index, Message: message{Role: "assistant", Content: c.text, ToolCalls: []any{}}, Finish: c.finish}
		case format == FormatSGLang && !chat:
			cs[i] = struct {
				Index    int    `json:"index"`
				Text     string `json:"text"`
				Logprobs any    `json:"logprobs"`
				Finish   string `json:"finish_reason"`
				Matched  any    `json:"matched_stop"`
			}{c.index, c.text, nil, c.finish, matched}
		case format == FormatSGLang:
			type message struct {
				Role      string `json:"role"`
				Content   string `json:"content"`
				Reasoning any    `json:"reasoning_content"`
				ToolCalls any    `json:"tool_calls"`
			}
			cs[i] = struct {
				Index    int     `json:"index"`
				Message  message `json:"message"`
				Logprobs any     `json:"logprobs"`
				Finish   string  `json:"finish_reason"`
				Matched  any     `json:"matched_stop"`
			}{c.index, message{Role: "assistant", Content: c.text}, nil, c.finish, matched}
		case !chat: // TRT-LLM
			cs[i] = struct {
				Index      int     `json:"index"`
				Text       string  `json:"text"`
				TokenIDs   any     `json:"token_ids"`
				Logprobs   any     `json:"logprobs"`
				Context    any     `json:"context_logits"`
				Finish     string  `json:"finish_reason"`
				StopReason any     `json:"stop_reason"`
				Disagg     any     `json:"disaggregated_params"`
				AvgDecoded pyFloat `json:"avg_decoded_tokens_per_iter"`
			}{Index: c.index, Text: c.text, Finish: c.finish, AvgDecoded: 1}
		default: // TRT-LLM chat
			type message struct {
				Role      string `json:"role"`
				Content   string `json:"content"`
				Reasoning any    `json:"reasoning_content"`
				ToolCalls []any  `json:"tool_calls"`
			}
			cs[i] = struct {
				Index      int     `json:"index"`
				Message    message `json:"message"`
				Logprobs   any     `json:"logprobs"`
				Finish     string  `json:"finish_reason"`
				StopReason any     `json:"stop_reason"`
			}{Index: c.index, Message: message{Role: "assistant", Content: c.text, ToolCalls: []any{}}, Finish: c.finish}
		}
	}
	if format == FormatVLLM {
		return marshal(struct {
			ID          string `json:"id"`
			Object      string `json:"object"`
			Created     int64  `json:"created"`
			Model       string `json:"model"`
			Choices     []any  `json:"choices"`
			ServiceTier any    `json:"service_tier"`
			Fingerprint any    `json:"system_fingerprint"`
			Usage       any    `json:"usage"`
			KVTransfer  any    `json:"kv_transfer_params"`
		}{ID: id, Object: object, Created: created, Model: model, Choices: cs, Usage: usageValue, KVTransfer: kv})
	}
	return marshal(struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		Model   string `json:"model"`
		Choices []any  `json:"choices"`
		Usage   any    `json:"usage"`
	}{id, object, created, model, cs, usageValue})
}

// errorBody renders a refusal as the format's server does.
func errorBody(format Format, e *apiError) []byte {
	var param any
	if e.param != "" {
		param = e.param
	}
	switch {
	case format == FormatTRT && e.plain:
		return marshal(struct {
			Error string `json:"error"`
		}{e.msg})
	case format == FormatVLLM:
		type info struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Param   any    `json:"param"`
			Code    int    `json:"code"`
		}
		return marshal(struct {
			Error info `json:"error"`
		}{info{e.msg, e.typ, param, e.status}})
	}
	return marshal(struct {
		Object  string `json:"object"`
		Message string `json:"message"`
		Type    string `json:"type"`
		Param   any    `json:"param"`
		Code    int    `json:"code"`
	}{"error", e.msg, e.typ, param, e.status})
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client that went away needs no answer
}

// modelsBody renders GET /v1/models.
func modelsBody(format Format, id, root string, created int64, maxModelLen int, permID string) []byte {
	switch format {
	case FormatTRT:
		type card struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		}
		return marshal(struct {
			Object string `json:"object"`
			Data   []card `json:"data"`
		}{"list", []card{{id, "model", created, "tensorrt_llm"}}})
	case FormatSGLang:
		type card struct {
			ID          string `json:"id"`
			Object      string `json:"object"`
			Created     int64  `json:"created"`
			OwnedBy     string `json:"owned_by"`
			Root        string `json:"root"`
			Parent      any    `json:"parent"`
			MaxModelLen int    `json:"max_model_len"`
		}
		return marshal(struct {
			Object string `json:"object"`
			Data   []card `json:"data"`
		}{"list", []card{{ID: id, Object: "model", Created: created, OwnedBy: "sglang", Root: root, MaxModelLen: maxModelLen}}})
	}
	type permission struct {
		ID                 string `json:"id"`
		Object             string `json:"object"`
		Created            int64  `json:"created"`
		AllowCreateEngine  bool   `json:"allow_create_engine"`
		AllowSampling      bool   `json:"allow_sampling"`
		AllowLogprobs      bool   `json:"allow_logprobs"`
		AllowSearchIndices bool   `json:"allow_search_indices"`
		AllowView          bool   `json:"allow_view"`
		AllowFineTuning    bool   `json:"allow_fine_tuning"`
		Organization       string `json:"organization"`
		Group              any    `json:"group"`
		IsBlocking         bool   `json:"is_blocking"`
	}
	type card struct {
		ID          string       `json:"id"`
		Object      string       `json:"object"`
		Created     int64        `json:"created"`
		OwnedBy     string       `json:"owned_by"`
		Root        string       `json:"root"`
		Parent      any          `json:"parent"`
		MaxModelLen int          `json:"max_model_len"`
		Permission  []permission `json:"permission"`
	}
	return marshal(struct {
		Object string `json:"object"`
		Data   []card `json:"data"`
	}{"list", []card{{
		ID: id, Object: "model", Created: created, OwnedBy: "vllm", Root: root, MaxModelLen: maxModelLen,
		Permission: []permission{{
			ID: permID, Object: "model_permission", Created: created, AllowSampling: true,
			AllowLogprobs: true, AllowView: true, Organization: "*",
		}},
	}}})
}
