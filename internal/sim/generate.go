package sim

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// errDropped ends a response abruptly: --drop-ratio, the crash of
// --exit-after, or the server closing under it.
var errDropped = errors.New("sim: connection dropped")

// generation writes one request's response as its tokens come.
type generation struct {
	s           *Server
	w           http.ResponseWriter
	ctx         context.Context
	req         *request
	choices     []choice
	arrival     time.Time
	dropAt      int // tokens of the first choice after which the connection drops; -1: never
	promptTotal int
	enc         *encoder
	handoff     string // prefill role: the id its KV is held under for a decode; "" otherwise

	buf, text []byte // reused for every chunk
	timer     *time.Timer
	tick      int // fixed timing: chunks released so far
}

// advance waits until more tokens may be available.
func (g *generation) advance() error {
	if g.s.eng != nil {
		select {
		case <-g.choices[0].notify:
			return nil
		case <-g.ctx.Done():
			return g.ctx.Err()
		case <-g.s.closed:
			return errDropped
		case <-g.s.crash:
			return errDropped
		}
	}
	// Fixed timing: chunk k is released at arrival + TTFT + k*ITL, on
	// absolute deadlines so that time spent writing never accumulates.
	cfg := &g.s.cfg
	deadline := g.arrival.Add(cfg.scaled(cfg.TTFT) + time.Duration(g.tick)*g.stepITL())
	if d := time.Until(deadline); d > 0 {
		if g.timer == nil {
			g.timer = time.NewTimer(d)
		} else {
			g.timer.Reset(d)
		}
		select {
		case <-g.timer.C:
		case <-g.ctx.Done():
			return g.ctx.Err()
		case <-g.s.closed:
			return errDropped
		case <-g.s.crash:
			return errDropped
		}
	}
	if g.s.spec != nil {
		g.specRelease()
		g.tick++
		return nil
	}
	released := 1 + g.tick*cfg.StreamInterval
	for i := range g.choices {
		c := &g.choices[i]
		c.produced.Store(int64(min(c.outLen, released)))
	}
	g.tick++
	return nil
}

// chunkEnd is where the chunk starting after sent tokens ends: the first
// token goes out alone and at once, then StreamInterval tokens per chunk,
// and the last chunk as soon as the sequence finishes.
func chunkEnd(sent, outLen, interval int) int {
	if sent == 0 {
		return 1
	}
	return min(sent+interval, outLen)
}

func (g *generation) stream() error {
	g.w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	g.w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(g.w)
	if err := rc.Flush(); err != nil {
		return err
	}
	if g.dropAt == 0 {
		return errDropped
	}
	interval := g.s.cfg.StreamInterval
	remaining := len(g.choices)
	for remaining > 0 {
		if err := g.advance(); err != nil {
			return err
		}
		if g.s.crashed.Load() {
			return errDropped
		}
		g.buf = g.buf[:0]
		dropping := false
		for i := range g.choices {
			c := &g.choices[i]
			produced := int(c.produced.Load())
			for c.sent < c.outLen && !dropping {
				end := chunkEnd(c.sent, c.outLen, interval)
				if g.s.spec != nil {
					end = specChunkEnd(c.sent, c.outLen, produced)
				}
				if end > produced {
					break
				}
				if g.req.chat && c.sent == 0 {
					g.buf = g.enc.appendRole(g.buf, c.index)
				}
				g.appendChunk(c, end)
				if c.sent == c.outLen {
					remaining--
				}
				dropping = i == 0 && g.dropAt > 0 && c.sent >= g.dropAt
			}
		}
		if len(g.buf) > 0 {
			if err := g.write(rc); err != nil {
				return err
			}
		}
		if dropping {
			return errDropped
		}
	}
	if g.handoff != "" {
		g.holdForDecode()
	}
	g.buf = g.buf[:0]
	if g.req.usage {
		g.buf = g.enc.appendUsageChunk(g.buf, g.usage())
	}
	g.buf = appendDone(g.buf)
	return g.write(rc)
}

func (g *generation) write(rc *http.ResponseController) error {
	if _, err := g.w.Write(g.buf); err != nil {
		return err
	}
	return rc.Flush()
}

// appendChunk appends the chunk of choice c that ends at token end.
func (g *generation) appendChunk(c *choice, end int) {
	g.text = g.appendText(g.text[:0], c, c.sent, end)
	finish := ""
	if end == c.outLen {
		finish = "length"
		if c.eos {
			finish = "stop"
		}
	}
	var cont *usage
	if g.req.continuousUsage {
		cont = &usage{prompt: c.promptLen, completion: end}
	}
	g.buf = g.enc.appendChunk(g.buf, c.index, g.text, finish, c.eos && finish != "", cont)
	c.sent = end
}

// appendText appends the words of tokens [from, to) of c; the
// end-of-sequence token decodes to nothing.
func (g *generation) appendText(b []byte, c *choice, from, to int) []byte {
	for k := from; k < to; k++ {
		if c.eos && k == c.outLen-1 {
			continue
		}
		b = append(b, g.s.words[(c.offset+k)%vocabWords]...)
	}
	return b
}

// respond waits for every choice to finish and writes one JSON body.
func (g *generation) respond(id, model string) error {
	for !g.finished() {
		if err := g.advance(); err != nil {
			return err
		}
	}
	if g.dropAt >= 0 {
		return errDropped
	}
	var kv *kvParams
	if g.handoff != "" {
		kv = g.holdForDecode()
	}
	results := make([]choiceResult, len(g.choices))
	for i := range g.choices {
		c := &g.choices[i]
		c.sent = c.outLen
		finish := "length"
		if c.eos {
			finish = "stop"
		}
		results[i] = choiceResult{index: c.index, text: string(g.appendText(nil, c, 0, c.outLen)), finish: finish, eos: c.eos}
	}
	body := responseBody(g.s.cfg.Format, g.req.chat, id, g.enc.created, model, results, g.usage(), kv)
	writeJSON(g.w, http.StatusOK, body)
	return nil
}

func (g *generation) finished() bool {
	for i := range g.choices {
		if int(g.choices[i].produced.Load()) < g.choices[i].outLen {
			return false
		}
	}
	return true
}

// usage is what the request's usage reports: cached_tokens sums the
// cached prompt tokens of one choice per prompt (the others share it).
func (g *generation) usage() usage {
	u := usage{prompt: g.promptTotal, completion: g.outputTokens(), details: g.s.cfg.PrefixCaching}
	for i := 0; i < len(g.choices); i += g.req.n {
		u.cached += int(g.choices[i].cached.Load())
	}
	return u
}

// outputTokens is completion_tokens: every token sent, the
// end-of-sequence token included (as vLLM counts it).
func (g *generation) outputTokens() int {
	n := 0
	for i := range g.choices {
		n += g.choices[i].sent
	}
	return n
}

// abortAll tells the engine to forget this request's sequences, whatever
// state they are in.
func (g *generation) abortAll() {
	for i := range g.choices {
		g.choices[i].aborted.Store(true)
		if g.handoff != "" && g.s.eng != nil {
			// KV never handed to the holder is freed here; after the
			// hand-off there is nothing left to swap.
			g.s.eng.freeKV(&g.choices[i].seq)
		}
	}
	if g.timer != nil {
		g.timer.Stop()
	}
}
