package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fleetbench/fleet/internal/bench/sse"
)

// RequestResult is what one request measured. Times are monotonic
// durations since the run's start (Start, End) or since the request's own
// start (the rest).
type RequestResult struct {
	InputLen  int // recorded prompt length
	OutputLen int // max_tokens asked for
	OK        bool
	Err       string // why it failed; empty on success

	Start time.Duration // just before the POST, after the semaphore
	End   time.Duration // when the request finished, failed or not

	TTFT    time.Duration // first chunk with choices
	Latency time.Duration // last chunk with choices (E2EL)
	// ChunkAt is when each chunk with choices arrived, since Start.
	ChunkAt []time.Duration
	// ChunkTokens is how many tokens each chunk carried: from token_ids or
	// a continuous usage counter when the server sends them, otherwise 1
	// per chunk with non-empty text (0 for empty-text chunks).
	ChunkTokens []int32
	// CountsExact is set when every chunk's token count came from the
	// server (token_ids or continuous usage), not from the 1-per-chunk rule.
	CountsExact bool
	// OutputTokens is usage.completion_tokens, or when the server sent no
	// usage, the sum of ChunkTokens (then Estimated is set).
	OutputTokens int
	Estimated    bool
	Text         []byte // generated text, kept only for detailed results
}

// requester sends requests and reads their streams.
type requester struct {
	client    *http.Client
	url       string
	backend   Backend
	chat      bool // chat completions body and stream
	model     string
	ignoreEOS bool
	extra     []member
	apiKey    string
	keepText  bool
	timeout   time.Duration
	// headerTimeout bounds the wait for response headers (0: none).
	headerTimeout time.Duration
	// maxTokens, when positive, is the most tokens a request may generate
	// because --extra-body sets max_tokens over the dataset's lengths.
	maxTokens int
	// choices is how many completions one request streams (extra body "n").
	choices int
	t0      time.Time // the run's monotonic origin

	bufs sync.Pool // *reqBuffers
	// onChunk, when set, is told the tokens of each chunk (progress).
	onChunk func(tokens int)
}

type reqBuffers struct {
	body []byte
	sse  []byte
}

// buildBody renders the request body for the backend: only fields every
// target accepts (trtllm-serve rejects unknown ones), then the extra-body
// members, which replace base fields of the same name.
func (q *requester) buildBody(dst []byte, req Request) []byte {
	has := func(k string) bool {
		return slices.ContainsFunc(q.extra, func(m member) bool { return m.key == k })
	}
	dst = append(dst, '{')
	field := func(k string) bool {
		if has(k) {
			return false
		}
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
		return true
	}
	if field("model") {
		dst = appendJSONString(dst, q.model)
	}
	if q.chat {
		if field("messages") {
			dst = append(dst, `[{"role":"user","content":`...)
			dst = req.Prompt.AppendText(dst)
			dst = append(dst, "}]"...)
		}
		if field("max_completion_tokens") {
			dst = strconv.AppendInt(dst, int64(req.OutputLen), 10)
		}
	} else {
		if field("prompt") {
			dst = req.Prompt.AppendCompletionPrompt(dst)
		}
		if field("max_tokens") {
			dst = strconv.AppendInt(dst, int64(req.OutputLen), 10)
		}
	}
	if field("temperature") {
		dst = append(dst, "0.0"...)
	}
	if field("stream") {
		dst = append(dst, "true"...)
	}
	// SGLang's include_usage defaults to false: always say it.
	if field("stream_options") {
		dst = append(dst, `{"include_usage":true}`...)
	}
	if q.ignoreEOS && field("ignore_eos") {
		dst = append(dst, "true"...)
	}
	for _, m := range q.extra {
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, m.key)
		dst = append(dst, ':')
		dst = append(dst, m.value...)
	}
	return append(dst, '}')
}

// do sends one request and reads its stream into res. The request's clock
// starts here, after the caller took the concurrency semaphore.
func (q *requester) do(ctx context.Context, req Request, res *RequestResult) {
	res.InputLen, res.OutputLen = req.InputLen, req.OutputLen
	bufs, _ := q.bufs.Get().(*reqBuffers)
	if bufs == nil {
		bufs = &reqBuffers{}
	}
	defer q.bufs.Put(bufs)
	bufs.body = q.buildBody(bufs.body[:0], req)

	if q.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, q.timeout, errRequestTimeout)
		defer cancel()
	}
	// The header limit is a cause on the request's own context, not
	// http.Transport's ResponseHeaderTimeout, so that the failure says
	// which limit it was without reading error strings.
	var headerTimer *time.Timer
	if q.headerTimeout > 0 {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		headerTimer = time.AfterFunc(q.headerTimeout, func() { cancel(errNoHeaders) })
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url, bytes.NewReader(bufs.body))
	if err != nil {
		res.Err = fmt.Sprintf("build request: %v", err)
		return
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	if q.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+q.apiKey)
	}
	// Preallocate per request, never per token: one slot per expected chunk.
	res.ChunkAt = make([]time.Duration, 0, req.OutputLen+2)
	res.ChunkTokens = make([]int32, 0, req.OutputLen+2)

	start := time.Since(q.t0)
	res.Start = start
	defer func() { res.End = time.Since(q.t0) }()
	resp, err := q.client.Do(hreq)
	if headerTimer != nil {
		headerTimer.Stop()
	}
	if err != nil {
		res.Err = q.failure(ctx, "send request", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		res.Err = httpFailure(resp)
		return
	}
	q.readStream(ctx, resp.Body, bufs, start, res)
	if res.OK {
		// Drain what follows [DONE] so the connection can be reused.
		// After a failure the body is closed unread, which closes the
		// connection: a server that floods is not read any further.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	}
}

var (
	errRequestTimeout = errors.New("request timeout")
	errNoHeaders      = errors.New("response header timeout")
)

// Chunk limits: a request may receive at most ChunkLimit(max_tokens)
// chunks. Servers send at most one chunk per token (fewer when they batch
// tokens or decode speculatively), plus a role chunk, a finish chunk, a
// usage chunk and the odd keep-alive; four per token and a floor of 1024
// leave room for every server seen, while a server that floods chunks is
// cut off after a bounded amount of memory and time.
const (
	chunksPerToken = 4
	minChunkLimit  = 1024
	chunkAllowance = 64
	// unknownMaxTokens stands for max_tokens when --extra-body sets it to
	// something other than a number (null: up to the context length).
	unknownMaxTokens = 1 << 17
	// maxTokensCap keeps the arithmetic far from overflow.
	maxTokensCap = 1 << 24
)

// ChunkLimit is how many chunks a request for maxTokens tokens may
// receive before it fails.
func ChunkLimit(maxTokens int) int {
	maxTokens = min(max(maxTokens, 0), maxTokensCap)
	return max(chunksPerToken*maxTokens, minChunkLimit) + chunkAllowance
}

// chunkLimit is the limit for one request of outputLen tokens, with the
// extra body's max_tokens and n taken into account.
func (q *requester) chunkLimit(outputLen int) (limit, maxTokens int) {
	maxTokens = outputLen
	if q.maxTokens > 0 {
		maxTokens = q.maxTokens
	}
	return ChunkLimit(maxTokens) * max(q.choices, 1), maxTokens
}

// streamHints reads from the extra body what changes how long a stream
// may be: a max_tokens (or max_completion_tokens) over the dataset's, and
// "n" completions per request.
func streamHints(extra []member) (maxTokens, choices int) {
	choices = 1
	for _, m := range extra {
		switch m.key {
		case "max_tokens", "max_completion_tokens":
			n, err := strconv.Atoi(string(m.value))
			if err != nil || n <= 0 {
				n = unknownMaxTokens
			}
			maxTokens = max(maxTokens, min(n, maxTokensCap))
		case "n":
			if n, err := strconv.Atoi(string(m.value)); err == nil && n > 1 {
				choices = min(n, 1024)
			}
		}
	}
	return maxTokens, choices
}

// readStream reads the event stream; it sets res.OK when the stream ended
// with [DONE] after at least one chunk with choices.
func (q *requester) readStream(ctx context.Context, body io.Reader, bufs *reqBuffers, start time.Duration, res *RequestResult) {
	rd := sse.NewReader(body, bufs.sse)
	defer func() { bufs.sse = rd.Buffer() }()
	limit, maxTokens := q.chunkLimit(res.OutputLen)
	// Each event is a data line and a blank one; four lines per allowed
	// chunk leave room for comments and other fields.
	rd.SetMaxLines(4 * limit)
	events := 0 // data payloads, with choices or not
	var c sse.Chunk
	usage := int64(-1)     // last usage.completion_tokens seen
	cumulative := int64(0) // running usage for continuous usage stats
	exact := true
	done := false
	for !done {
		data, err := rd.Next()
		now := time.Since(q.t0) - start
		if err != nil {
			switch {
			case err == io.EOF:
				res.Err = fmt.Sprintf("stream ended without [DONE] after %d chunks", len(res.ChunkAt))
			case errors.Is(err, sse.ErrLineTooLong):
				res.Err = fmt.Sprintf("stream cut off after %d chunks: the server sent a line over %d bytes", len(res.ChunkAt), sse.DefaultMaxLine)
			case errors.Is(err, sse.ErrTooManyLines):
				res.Err = fmt.Sprintf("stream cut off after %d chunks: the server sent over %d lines for max_tokens %d", len(res.ChunkAt), 4*limit, maxTokens)
			default:
				res.Err = q.failure(ctx, fmt.Sprintf("read stream after %d chunks", len(res.ChunkAt)), err)
			}
			break
		}
		if sse.Done(data) {
			done = true
			break
		}
		if events++; events > limit {
			res.Err = fmt.Sprintf("stream cut off: the server sent over %d chunks for max_tokens %d", limit, maxTokens)
			break
		}
		if perr := sse.ParseChunk(data, &c); perr != nil {
			res.Err = fmt.Sprintf("malformed chunk after %d chunks: %s", len(res.ChunkAt), clip(data, 200))
			break
		}
		if c.IsError {
			res.Err = "server error mid-stream: " + clip(sse.AppendUnescaped(nil, c.ErrorMessage), 500)
			break
		}
		if c.Choices > 0 {
			n := int32(0)
			switch {
			case c.TokenIDs >= 0:
				n = int32(c.TokenIDs)
			case c.CompletionTokens >= 0:
				n = int32(c.CompletionTokens - cumulative)
			default:
				exact = false
				if len(c.Text) > 0 {
					n = 1
				}
			}
			res.ChunkAt = append(res.ChunkAt, now)
			res.ChunkTokens = append(res.ChunkTokens, n)
			if q.keepText && c.Text != nil {
				if c.TextEscaped {
					res.Text = sse.AppendUnescaped(res.Text, c.Text)
				} else {
					res.Text = append(res.Text, c.Text...)
				}
			}
			if q.onChunk != nil {
				q.onChunk(int(n))
			}
		}
		if c.CompletionTokens >= 0 {
			usage, cumulative = c.CompletionTokens, c.CompletionTokens
		}
	}
	if len(res.ChunkAt) == 0 {
		if res.Err == "" {
			res.Err = "no chunk with choices: the server generated nothing"
		}
		return
	}
	res.TTFT = res.ChunkAt[0]
	res.Latency = res.ChunkAt[len(res.ChunkAt)-1]
	res.CountsExact = exact
	if usage >= 0 {
		res.OutputTokens = int(usage)
	} else {
		res.Estimated = true
		for _, n := range res.ChunkTokens {
			res.OutputTokens += int(n)
		}
	}
	if done && res.Err == "" {
		res.OK = true
	}
}

// failure describes a transport error, telling a timeout and a
// cancellation from a lost connection.
func (q *requester) failure(ctx context.Context, doing string, err error) string {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errNoHeaders):
		return fmt.Sprintf("%s: no response headers after %s (--response-header-timeout)", doing, q.headerTimeout)
	case errors.Is(cause, errRequestTimeout):
		return fmt.Sprintf("%s: request timed out after %s (--request-timeout)", doing, q.timeout)
	case ctx.Err() != nil:
		return doing + ": cancelled"
	}
	return fmt.Sprintf("%s: %v", doing, err)
}

// httpFailure reads the error body of a non-200 response and finds its
// message in the servers' error shapes.
func httpFailure(resp *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := ""
	var c sse.Chunk
	if sse.ParseChunk(bytes.TrimSpace(body), &c) == nil && c.IsError && c.ErrorMessage != nil {
		msg = string(sse.AppendUnescaped(nil, c.ErrorMessage))
	} else {
		msg = string(bytes.TrimSpace(body))
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return fmt.Sprintf("HTTP %d: %s", resp.StatusCode, clip([]byte(msg), 500))
}

// clip shortens b to about n bytes on a rune boundary, for messages.
func clip(b []byte, n int) string {
	if len(b) <= n {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return strings.ToValidUTF8(string(b[:n]), "\uFFFD") + "..."
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
