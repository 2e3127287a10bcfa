package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Tokenization without a tokenizer. The simulator has no vocabulary, so it
// counts tokens the way a server would for the common cases:
//   - a prompt of token ids has exactly as many tokens as ids (servers add
//     nothing to pre-tokenized prompts);
//   - a string prompt counts one BOS token plus one token per 4 bytes,
//     rounded up (about what BPE tokenizers give for English text);
//   - a chat request counts one BOS token, 4 template tokens per message
//     plus its content at 4 bytes per token, and 3 tokens for the
//     assistant header the generation prompt adds.
const (
	bytesPerToken       = 4
	chatTokensPerMsg    = 4
	chatGenPromptTokens = 3
	maxChoices          = 1024 // prompts x n, to bound the work one request can ask for
)

func stringTokens(s string) int { return 1 + (len(s)+bytesPerToken-1)/bytesPerToken }

type endpoint int

const (
	endpointCompletions endpoint = iota
	endpointChat
)

// request is a decoded completions or chat request: only what the
// simulator acts on.
type request struct {
	chat            bool
	model           string         // as the client named it; "" when absent
	prompts         []int          // prompt length in tokens, one per prompt
	sources         []promptSource // what each prompt is made of (prefix caching)
	n               int            // choices per prompt
	maxTokens       int            // 0 when the client did not say
	minTokens       int
	ignoreEOS       bool
	stream          bool
	usage           bool // send the usage chunk at the end of a stream
	continuousUsage bool // usage in every chunk (vLLM, TRT-LLM)
	unknown         []string

	// Disaggregated serving: vLLM's kv_transfer_params, or SGLang's
	// bootstrap fields; nil when absent.
	kv        *kvParams
	bootstrap *bootstrapInfo
}

// apiError is a request the server refuses; how it is rendered depends on
// the format (see writeError).
type apiError struct {
	status int
	typ    string // e.g. BadRequestError
	param  string // "" prints as null
	msg    string
	// plain marks TRT-LLM's request validation errors, which it renders as
	// {"error":"<message>"} rather than as an error object.
	plain bool
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.typ, e.msg) }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "BadRequestError", msg: fmt.Sprintf(format, args...)}
}

// decodeRequest parses a request body as the given server would. It checks
// the request on its own; limits that depend on the server (context length,
// model name) are checked by the caller.
func decodeRequest(body []byte, ep endpoint, format Format) (*request, *apiError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		msg := "JSON decode error: the request body must be a JSON object"
		if err != nil {
			msg = "JSON decode error: " + err.Error()
		}
		e := badRequest("%s", msg)
		e.plain = format == FormatTRT
		return nil, e
	}
	req := &request{chat: ep == endpointChat, n: 1}
	var fail *apiError
	// invalid records the first validation failure; TRT-LLM answers those
	// in its plain form.
	invalid := func(msg string, args ...any) {
		if fail == nil {
			fail = badRequest(msg, args...)
			fail.plain = format == FormatTRT
		}
	}
	if format == FormatTRT {
		var extra []string
		for k := range fields {
			if !trtAccepts(req.chat, k) {
				extra = append(extra, k)
			}
		}
		if len(extra) > 0 {
			sort.Strings(extra)
			invalid("%d validation error for %s\n%s\n  Extra inputs are not permitted", len(extra), trtModel(req.chat), strings.Join(extra, "\n  Extra inputs are not permitted\n"))
			return nil, fail
		}
	}

	str := func(name string) (string, bool) {
		raw, ok := fields[name]
		if !ok || isNull(raw) {
			return "", false
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			invalid("%s: Input should be a valid string", name)
			return "", false
		}
		return s, true
	}
	integer := func(name string) (int, bool) {
		raw, ok := fields[name]
		if !ok || isNull(raw) {
			return 0, false
		}
		v, err := parseInt(raw)
		if err != nil {
			invalid("%s: Input should be a valid integer", name)
			return 0, false
		}
		return v, true
	}
	boolean := func(m map[string]json.RawMessage, name string) (bool, bool) {
		raw, ok := m[name]
		if !ok || isNull(raw) {
			return false, false
		}
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			invalid("%s: Input should be a valid boolean", name)
			return false, false
		}
		return b, true
	}

	var hasModel bool
	req.model, hasModel = str("model")
	if !hasModel && format == FormatTRT {
		invalid("1 validation error for %s\nmodel\n  Field required", trtModel(req.chat))
	}
	req.stream, _ = boolean(fields, "stream")
	req.ignoreEOS, _ = boolean(fields, "ignore_eos")
	if v, ok := integer("n"); ok {
		req.n = v
	}
	if v, ok := integer("min_tokens"); ok {
		req.minTokens = v
	}
	maxTokens, hasMax := integer("max_tokens")
	if req.chat {
		if v, ok := integer("max_completion_tokens"); ok {
			maxTokens, hasMax = v, true
		}
	}

	if raw, ok := fields["stream_options"]; ok && !isNull(raw) {
		var opts map[string]json.RawMessage
		if err := json.Unmarshal(raw, &opts); err != nil || opts == nil {
			invalid("stream_options: Input should be a valid dictionary")
		} else {
			if format == FormatTRT {
				for k := range opts {
					if k != "include_usage" && k != "continuous_usage_stats" {
						invalid("1 validation error for StreamOptions\n%s\n  Extra inputs are not permitted", k)
					}
				}
			}
			include, set := boolean(opts, "include_usage")
			switch format {
			case FormatSGLang:
				// SGLang sends usage only when asked explicitly.
				req.usage = set && include
			default:
				// vLLM and TRT-LLM default include_usage to true once
				// stream_options is present.
				req.usage = !set || include
			}
			req.continuousUsage, _ = boolean(opts, "continuous_usage_stats")
			if format == FormatSGLang {
				req.continuousUsage = false
			}
			if format == FormatVLLM && !req.stream {
				invalid("Stream options can only be defined when `stream=True`.")
			}
		}
	}
	if format == FormatTRT && !req.chat {
		if s, ok := str("suffix"); ok && s != "" {
			invalid("suffix is not supported")
		}
	}

	if req.chat {
		req.decodeMessages(fields["messages"], invalid)
	} else {
		req.decodePrompt(fields["prompt"], invalid)
	}
	req.decodeDisagg(fields, format, invalid)
	if fail != nil {
		return nil, fail
	}

	if format == FormatVLLM {
		for k := range fields {
			if !vllmKnows(k) {
				req.unknown = append(req.unknown, k)
			}
		}
		sort.Strings(req.unknown)
	}

	switch {
	case req.n < 1:
		return nil, badRequest("n must be at least 1, got %d.", req.n)
	case req.n*len(req.prompts) > maxChoices:
		return nil, badRequest("the simulator serves at most %d choices per request (prompts x n), got %d", maxChoices, req.n*len(req.prompts))
	case hasMax && maxTokens < 1:
		e := badRequest("max_tokens must be at least 1, got %d.", maxTokens)
		if format == FormatTRT {
			e.plain = true
		}
		return nil, e
	case req.minTokens < 0:
		return nil, badRequest("min_tokens must be greater than or equal to 0, got %d.", req.minTokens)
	case hasMax && req.minTokens > maxTokens:
		return nil, badRequest("min_tokens must be less than or equal to max_tokens=%d, got %d.", maxTokens, req.minTokens)
	}
	if hasMax {
		req.maxTokens = maxTokens
	}
	return req, nil
}

func (req *request) decodePrompt(raw json.RawMessage, invalid func(string, ...any)) {
	if len(raw) == 0 || isNull(raw) {
		invalid("prompt: Field required")
		return
	}
	switch raw = bytes.TrimLeft(raw, " \t\r\n"); raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			invalid("prompt: %v", err)
			return
		}
		req.prompts = []int{stringTokens(s)}
		req.sources = []promptSource{{kind: promptText, text: s}}
		return
	case '[':
	default:
		invalid("prompt: Input should be a valid string or a list of strings or token ids")
		return
	}
	// A list: of token ids, of strings, or of token id lists. Try the
	// common case (one prompt of ids) first.
	var ids []int64
	if err := json.Unmarshal(raw, &ids); err == nil {
		if n := checkIDs(ids, invalid); n > 0 {
			req.prompts = []int{n}
			req.sources = []promptSource{{kind: promptIDs, ids: ids}}
		}
		return
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		if len(strs) == 0 {
			invalid("prompt: the prompt list must not be empty")
			return
		}
		for _, s := range strs {
			req.prompts = append(req.prompts, stringTokens(s))
			req.sources = append(req.sources, promptSource{kind: promptText, text: s})
		}
		return
	}
	var lists [][]int64
	if err := json.Unmarshal(raw, &lists); err == nil {
		if len(lists) == 0 {
			invalid("prompt: the prompt list must not be empty")
			return
		}
		for _, ids := range lists {
			n := checkIDs(ids, invalid)
			if n == 0 {
				return
			}
			req.prompts = append(req.prompts, n)
			req.sources = append(req.sources, promptSource{kind: promptIDs, ids: ids})
		}
		return
	}
	invalid("prompt: Input should be a valid string, a list of strings, a list of token ids or a list of token id lists")
}

func checkIDs(ids []int64, invalid func(string, ...any)) int {
	if len(ids) == 0 {
		invalid("prompt: the prompt cannot be empty")
		return 0
	}
	for _, id := range ids {
		if id < 0 {
			invalid("Token id %d is out of vocabulary", id)
			return 0
		}
	}
	return len(ids)
}

func (req *request) decodeMessages(raw json.RawMessage, invalid func(string, ...any)) {
	if len(raw) == 0 || isNull(raw) {
		invalid("messages: Field required")
		return
	}
	var msgs []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(raw, &msgs); err != nil {
		invalid("messages: Input should be a valid list of messages")
		return
	}
	if len(msgs) == 0 {
		invalid("messages: List should have at least 1 item")
		return
	}
	tokens := 1 + chatGenPromptTokens
	rendered := make([]chatMsg, 0, len(msgs))
	for i, m := range msgs {
		if m.Role == "" {
			invalid("messages.%d.role: Field required", i)
			return
		}
		tokens += chatTokensPerMsg
		rendered = append(rendered, chatMsg{role: m.Role})
		if len(m.Content) == 0 || isNull(m.Content) {
			continue
		}
		var s string
		if err := json.Unmarshal(m.Content, &s); err == nil {
			tokens += (len(s) + bytesPerToken - 1) / bytesPerToken
			rendered[i].parts = []string{s}
			continue
		}
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(m.Content, &parts); err != nil {
			invalid("messages.%d.content: Input should be a valid string or a list of content parts", i)
			return
		}
		for _, p := range parts {
			tokens += (len(p.Text) + bytesPerToken - 1) / bytesPerToken
			rendered[i].parts = append(rendered[i].parts, p.Text)
		}
	}
	req.prompts = []int{tokens}
	req.sources = []promptSource{{kind: promptChat, msgs: rendered}}
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// parseInt accepts what pydantic's lax mode accepts for an int field from
// JSON: an integer, or a float with no fractional part.
func parseInt(raw json.RawMessage) (int, error) {
	s := string(bytes.TrimSpace(raw))
	if v, err := strconv.ParseInt(s, 10, 32); err == nil {
		return int(v), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int32(f)) {
		return 0, fmt.Errorf("not an integer: %s", s)
	}
	return int(f), nil
}

func trtModel(chat bool) string {
	if chat {
		return "ChatCompletionRequest"
	}
	return "CompletionRequest"
}

// trtAccepts says whether trtllm-serve accepts a request field: its
// pydantic models forbid extra fields, so anything else is a 400.
func trtAccepts(chat bool, field string) bool {
	switch field {
	case "model", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens",
		"n", "presence_penalty", "seed", "stop", "stream", "stream_options", "temperature", "top_p",
		"user", "lora_request", "use_beam_search", "top_k", "top_p_min", "min_p", "repetition_penalty",
		"length_penalty", "early_stopping", "stop_token_ids", "include_stop_str_in_output",
		"ignore_eos", "min_tokens", "skip_special_tokens", "spaces_between_special_tokens",
		"truncate_prompt_tokens", "add_special_tokens", "response_format", "disaggregated_params":
		return true
	case "prompt", "suffix", "return_context_logits", "detokenize":
		return !chat
	case "messages", "top_logprobs", "max_completion_tokens", "tools", "tool_choice",
		"add_generation_prompt", "documents", "chat_template", "chat_template_kwargs", "reasoning_effort":
		return chat
	}
	return false
}

// vllmKnows says whether vLLM knows a request field; it accepts the others
// too but logs them as ignored, and so does the simulator.
func vllmKnows(field string) bool {
	switch field {
	case "model", "prompt", "messages", "best_of", "echo", "frequency_penalty", "logit_bias",
		"logprobs", "top_logprobs", "max_tokens", "max_completion_tokens", "n", "presence_penalty",
		"seed", "stop", "stream", "stream_options", "suffix", "temperature", "top_p", "user",
		"use_beam_search", "top_k", "min_p", "repetition_penalty", "length_penalty", "stop_token_ids",
		"include_stop_str_in_output", "ignore_eos", "min_tokens", "skip_special_tokens",
		"spaces_between_special_tokens", "truncate_prompt_tokens", "allowed_token_ids",
		"prompt_logprobs", "add_special_tokens", "response_format", "structured_outputs",
		"guided_json", "guided_regex", "guided_choice", "guided_grammar", "priority", "request_id",
		"return_tokens_as_token_ids", "return_token_ids", "cache_salt", "kv_transfer_params",
		"vllm_xargs", "tools", "tool_choice", "chat_template", "chat_template_kwargs",
		"add_generation_prompt", "continue_final_message", "documents", "reasoning_effort",
		"include_reasoning", "mm_processor_kwargs", "parallel_tool_calls", "metadata":
		return true
	}
	return false
}
