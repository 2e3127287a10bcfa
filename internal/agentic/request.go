package agentic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fleetbench/fleet/internal/agentic/trace"
	"github.com/fleetbench/fleet/internal/bench"
	"github.com/fleetbench/fleet/internal/bench/sse"
)

// Record is one request as it was sent and measured. Times are since the
// run's start (Start, End) or since the request's own start.
type Record struct {
	Seq            int64  `json:"seq"`
	Lane           int    `json:"lane"`
	Pass           int    `json:"pass"`
	TraceID        string `json:"trace_id"`
	ConversationID string `json:"conversation_id"`
	Turn           int    `json:"turn_index"`
	Warmup         bool   `json:"warmup"`
	RequestID      string `json:"x_request_id"`
	CorrelationID  string `json:"x_correlation_id"`

	Start time.Duration `json:"request_start_ns"`
	End   time.Duration `json:"request_end_ns"` // the response ended (or failed)
	// TTFT is the first chunk with content (or reasoning) text, Last the
	// last one; 0 when there was none.
	TTFT time.Duration `json:"ttft_ns"`
	Last time.Duration `json:"request_latency_ns"`

	ISL         int `json:"input_sequence_length"`
	OSL         int `json:"output_sequence_length"`
	OSLExpected int `json:"output_expected"` // max_completion_tokens asked for
	// ServerISL, ServerOSL: the server's usage.prompt_tokens and
	// completion_tokens, -1 when it sent none; CachedTokens its
	// usage.prompt_tokens_details.cached_tokens, -1 when absent.
	ServerISL    int `json:"server_prompt_tokens"`
	ServerOSL    int `json:"server_completion_tokens"`
	CachedTokens int `json:"cached_tokens"`
	// HitBlocks of Blocks hash blocks were already sent earlier in the
	// same play (the theoretical prefix-cache hit).
	HitBlocks int `json:"hit_blocks"`
	Blocks    int `json:"blocks"`

	Err      string `json:"error,omitempty"`
	Overflow bool   `json:"context_overflow,omitempty"`
}

// OK reports whether the request succeeded.
func (r *Record) OK() bool { return r.Err == "" }

// sender builds, sends and measures requests.
type sender struct {
	client *http.Client
	url    string
	cfg    *Config
	chat   bool
	clock  Clock
	t0     time.Time
	bufs   sync.Pool // *buffers
}

type buffers struct {
	body, scratch []byte
	ids           []int
	sse           []byte
}

func (q *sender) since() time.Duration { return q.clock.Now().Sub(q.t0) }

// do sends j's request and reads its stream.
func (q *sender) do(ctx context.Context, j *job) (rec Record) {
	p := j.play
	conv := &p.tree.Convs[j.conv]
	turn := &conv.Turns[j.turn]
	rec = Record{Seq: j.seq, Lane: p.lane, Pass: p.pass, TraceID: p.tree.ID, ConversationID: conv.ID,
		Turn: j.turn, Warmup: j.warmup, OSLExpected: j.maxTokens, ServerISL: -1, ServerOSL: -1, CachedTokens: -1,
		HitBlocks: j.hit, Blocks: j.blocks}
	rec.RequestID = q.cfg.RunID + "-" + strconv.FormatInt(j.seq, 10)
	rec.CorrelationID = conv.ID + "@" + markerHex(p.marker)

	b, _ := q.bufs.Get().(*buffers)
	if b == nil {
		b = &buffers{}
	}
	defer q.bufs.Put(b)
	b.body = q.buildBody(b, p, conv, j.turn, j.maxTokens)

	if q.cfg.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, q.cfg.RequestTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url, bytes.NewReader(b.body))
	if err != nil {
		rec.Err = "build request: " + err.Error()
		return rec
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "text/event-stream")
	h.Set("X-Request-ID", rec.RequestID)
	h.Set("X-Correlation-ID", rec.CorrelationID)
	for k, v := range q.cfg.Headers {
		h.Set(k, v)
	}
	if q.cfg.APIKey != "" {
		h.Set("Authorization", "Bearer "+q.cfg.APIKey)
	}
	rec.Start = q.since()
	defer func() {
		rec.End = q.since()
		q.lengths(&rec, turn)
	}()
	resp, err := q.client.Do(req)
	if err != nil {
		rec.Err = failure(ctx, "send request", err)
		return rec
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		rec.Err = httpFailure(resp)
		rec.Overflow = isOverflow(rec.Err)
		return rec
	}
	q.readStream(ctx, resp.Body, b, &rec)
	if rec.Err == "" {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	}
	return rec
}

// lengths sets ISL and OSL: the server's counts when asked to and given,
// the trace's otherwise.
func (q *sender) lengths(rec *Record, turn *trace.Turn) {
	rec.ISL, rec.OSL = turn.In, rec.OSLExpected
	if q.cfg.UseServerTokenCount {
		if rec.ServerISL >= 0 {
			rec.ISL = rec.ServerISL
		}
		if rec.ServerOSL >= 0 {
			rec.OSL = rec.ServerOSL
		}
	}
}

// readStream reads the event stream into rec's timings and usage.
func (q *sender) readStream(ctx context.Context, body io.Reader, b *buffers, rec *Record) {
	rd := sse.NewReader(body, b.sse)
	defer func() { b.sse = rd.Buffer() }()
	// The bench client's bounds: a server that floods chunks costs a
	// bounded amount of memory and time.
	limit := bench.ChunkLimit(rec.OSLExpected)
	rd.SetMaxLines(4 * limit)
	var c sse.Chunk
	chunks, events := 0, 0
	for {
		data, err := rd.Next()
		now := q.since() - rec.Start
		if err != nil {
			if err == io.EOF {
				rec.Err = fmt.Sprintf("stream ended without [DONE] after %d chunks", chunks)
			} else {
				rec.Err = failure(ctx, fmt.Sprintf("read stream after %d chunks", chunks), err)
			}
			return
		}
		if sse.Done(data) {
			break
		}
		if events++; events > limit {
			rec.Err = fmt.Sprintf("stream cut off: over %d chunks for max_tokens %d", limit, rec.OSLExpected)
			return
		}
		if sse.ParseChunk(data, &c) != nil {
			rec.Err = "malformed chunk: " + clip(data, 200)
			return
		}
		if c.IsError {
			rec.Err = "server error mid-stream: " + clip(sse.AppendUnescaped(nil, c.ErrorMessage), 500)
			rec.Overflow = isOverflow(rec.Err)
			return
		}
		if c.Choices > 0 && len(c.Text) > 0 {
			chunks++
			if rec.TTFT == 0 {
				rec.TTFT = max(now, 1)
			}
			rec.Last = max(now, 1)
		}
		if c.CompletionTokens >= 0 {
			rec.ServerOSL = int(c.CompletionTokens)
			if c.Choices == 0 {
				readUsage(data, rec)
			}
		}
	}
	if chunks == 0 {
		rec.Err = "no chunk with content: the server generated nothing"
	}
}

// readUsage reads prompt_tokens and the cached tokens from the usage
// chunk (one per request, so the standard decoder is cheap enough).
func readUsage(data []byte, rec *Record) {
	var u struct {
		Usage struct {
			PromptTokens  *int `json:"prompt_tokens"`
			PromptDetails *struct {
				CachedTokens *int `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		} `json:"usage"`
	}
	if json.Unmarshal(data, &u) != nil {
		return
	}
	if u.Usage.PromptTokens != nil {
		rec.ServerISL = *u.Usage.PromptTokens
	}
	if d := u.Usage.PromptDetails; d != nil && d.CachedTokens != nil {
		rec.CachedTokens = *d.CachedTokens
	}
}

// overflowPhrases mark a context-length error in a server's answer.
var overflowPhrases = []string{"context length", "maximum context", "context window", "prompt is too long", "context_length_exceeded", "too many tokens"}

func isOverflow(msg string) bool {
	m := strings.ToLower(msg)
	for _, p := range overflowPhrases {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

func failure(ctx context.Context, doing string, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return doing + ": request timed out"
	case ctx.Err() != nil:
		return doing + ": cancelled"
	}
	return doing + ": " + err.Error()
}

func httpFailure(resp *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := string(bytes.TrimSpace(body))
	var c sse.Chunk
	if sse.ParseChunk(bytes.TrimSpace(body), &c) == nil && c.IsError && c.ErrorMessage != nil {
		msg = string(sse.AppendUnescaped(nil, c.ErrorMessage))
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return fmt.Sprintf("HTTP %d: %s", resp.StatusCode, clip([]byte(msg), 500))
}

func clip(b []byte, n int) string {
	if len(b) > n {
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		return strings.ToValidUTF8(string(b[:n]), "\uFFFD") + "..."
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// history returns the messages conversation conv sends at turn k: the
// turns' additions since the last reset.
func history(conv *trace.Conv, k int) []trace.Turn {
	r := 0
	for i := k; i >= 0; i-- {
		if conv.Turns[i].Reset {
			r = i
			break
		}
	}
	return conv.Turns[r : k+1]
}

// buildBody renders the request as AIPerf sends it: the whole history,
// the play's cache-bust marker before the first user message, streaming
// with usage, ignore_eos.
func (q *sender) buildBody(b *buffers, p *play, conv *trace.Conv, k, maxTokens int) []byte {
	dst := append(b.body[:0], `{"model":`...)
	dst = appendJSONString(dst, []byte(q.cfg.Model))
	turns := history(conv, k)
	if q.chat {
		dst = append(dst, `,"messages":[`...)
		marked, first := false, true
		for _, t := range turns {
			for _, m := range t.Add {
				if !first {
					dst = append(dst, ',')
				}
				first = false
				dst = append(dst, `{"role":`...)
				dst = appendJSONString(dst, []byte(m.Role))
				dst = append(dst, `,"content":`...)
				s := b.scratch[:0]
				if !marked && m.Role == "user" {
					s = append(s, p.marker...)
					marked = true
				}
				for _, blk := range m.Blocks {
					s = trace.AppendBlockText(s, p.tree.ID, blk)
				}
				dst = appendJSONString(dst, s)
				b.scratch = s
				dst = append(dst, '}')
			}
		}
		dst = append(dst, `],"max_completion_tokens":`...)
	} else {
		ids := markerTokens(b.ids[:0], p.marker)
		for _, t := range turns {
			for _, m := range t.Add {
				for _, blk := range m.Blocks {
					ids = trace.AppendBlockTokenIDs(ids, p.tree.ID, blk, tokenVocab)
				}
			}
		}
		b.ids = ids
		dst = append(dst, `,"prompt":[`...)
		for i, id := range ids {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, int64(id), 10)
		}
		dst = append(dst, `],"max_tokens":`...)
	}
	dst = strconv.AppendInt(dst, int64(maxTokens), 10)
	return append(dst, `,"stream":true,"stream_options":{"include_usage":true},"ignore_eos":true}`...)
}

// tokenVocab bounds synthesized token ids: below every current model's
// vocabulary size.
const tokenVocab = 32000

// markerTokens renders the cache-bust marker's hex as token ids for a
// token-id prompt, one per character, above the range the synthesized
// blocks use ([vocab/8, 3*vocab/4)).
func markerTokens(dst []int, marker string) []int {
	for _, c := range []byte(markerHex(marker)) {
		dst = append(dst, tokenVocab*3/4+100+int(c))
	}
	return dst
}

// markerHex is the hex of a cache-bust marker "[rid:<hex>]...".
func markerHex(marker string) string {
	h, _, _ := strings.Cut(strings.TrimPrefix(marker, "[rid:"), "]")
	return h
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
