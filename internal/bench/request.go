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
	model     string
	ignoreEOS bool
	extra     []member
	apiKey    string
	keepText  bool
	timeout   time.Duration
	t0        time.Time // the run's monotonic origin

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
	if q.backend.Chat() {
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
		ctx, cancel = context.WithTimeout(ctx, q.timeout)
		defer cancel()
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
	// Drain what follows [DONE] so the connection can be reused.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
}

// readStream reads the event stream; it sets res.OK when the stream ended
// with [DONE] after at least one chunk with choices.
func (q *requester) readStream(ctx context.Context, body io.Reader, bufs *reqBuffers, start time.Duration, res *RequestResult) {
	rd := sse.NewReader(body, bufs.sse)
	defer func() { bufs.sse = rd.Buffer() }()
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
			default:
				res.Err = q.failure(ctx, fmt.Sprintf("read stream after %d chunks", len(res.ChunkAt)), err)
			}
			break
		}
		if sse.Done(data) {
			done = true
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
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("%s: request timed out after %s", doing, q.timeout)
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
