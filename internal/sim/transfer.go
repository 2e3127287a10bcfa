package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// link models the decode side's network path for KV: transfers queue FIFO
// for the wire, each occupying it for bytes/bandwidth, and every transfer
// also pays a fixed latency (setup, handshake) that does not hold the wire.
type link struct {
	mu        sync.Mutex
	busyUntil time.Time
	cfg       *Config

	bytes atomic.Int64 // KV bytes moved
	nanos atomic.Int64 // modelled transfer time spent, queueing included
	count atomic.Int64 // transfers completed
}

// schedule books a transfer of n bytes starting no earlier than now and
// returns when its KV has landed.
func (l *link) schedule(now time.Time, n int64) time.Time {
	wire := l.cfg.scaled(time.Duration(float64(n) / l.cfg.LinkBandwidth * float64(time.Second)))
	l.mu.Lock()
	start := now
	if l.busyUntil.After(start) {
		start = l.busyUntil
	}
	l.busyUntil = start.Add(wire)
	done := l.busyUntil.Add(l.cfg.scaled(l.cfg.LinkLatency))
	l.mu.Unlock()
	return done
}

// The bootstrap protocol between a decode and a prefill. A decode pulls a
// request's KV by id (the prefill marks it in flight), moves it over its
// link, then releases it so the prefill frees the blocks. A dead prefill
// fails the pull or the release, and so the request. The bodies are tiny
// JSON objects.
const (
	pathKVPull    = "/kv/pull"
	pathKVRelease = "/kv/release"
	maxKVReply    = 64 << 10
)

type kvPullRequest struct {
	ID string `json:"id"`
	// WaitMS is how long the prefill may wait for the KV to exist: 0 for
	// vLLM (the prefill answered first), SGLang's decode waits for its
	// room to be filled.
	WaitMS int64 `json:"wait_ms,omitempty"`
}

type kvPullReply struct {
	Tokens   int    `json:"tokens"`
	EngineID string `json:"engine_id"`
	Error    string `json:"error,omitempty"`
}

// kvClient is a decode's side of the bootstrap protocol.
type kvClient struct{ hc *http.Client }

func (c *kvClient) call(ctx context.Context, addr, path string, body any) (kvPullReply, error) {
	var reply kvPullReply
	b, err := json.Marshal(body)
	if err != nil {
		return reply, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(b))
	if err != nil {
		return reply, fmt.Errorf("kv %s at %s: %w", path, addr, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply, fmt.Errorf("kv %s at %s: %w", path, addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxKVReply))
	if err != nil {
		return reply, fmt.Errorf("kv %s at %s: reading the reply: %w", path, addr, err)
	}
	_ = json.Unmarshal(data, &reply) // an unreadable reply still has its status
	if resp.StatusCode != http.StatusOK {
		if reply.Error == "" {
			reply.Error = http.StatusText(resp.StatusCode)
		}
		return reply, fmt.Errorf("kv %s at %s: %d %s", path, addr, resp.StatusCode, reply.Error)
	}
	return reply, nil
}

// kvSource says where a decode finds a request's KV.
type kvSource struct {
	addr string // the prefill's bootstrap host:port
	id   string
	wait time.Duration
}

// fetchKV pulls a request's KV from its prefill: pull, the modelled
// transfer of the prompt's bytes over the link, release. It returns when
// the KV has landed, or the first failure.
func (s *Server) fetchKV(ctx context.Context, src kvSource, promptTokens int) error {
	pullCtx := ctx
	if src.wait > 0 {
		var cancel context.CancelFunc
		pullCtx, cancel = context.WithTimeout(ctx, src.wait+5*time.Second)
		defer cancel()
	}
	if _, err := s.kvc.call(pullCtx, src.addr, pathKVPull, kvPullRequest{ID: src.id, WaitMS: src.wait.Milliseconds()}); err != nil {
		return err
	}
	n := int64(promptTokens) * s.cfg.KVBytesPerToken
	start := time.Now()
	done := s.link.schedule(start, n)
	t := time.NewTimer(time.Until(done))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		s.releaseLater(src)
		return ctx.Err()
	case <-s.closed:
		return errDropped
	}
	s.link.bytes.Add(n)
	s.link.nanos.Add(int64(time.Since(start)))
	s.link.count.Add(1)
	if _, err := s.kvc.call(ctx, src.addr, pathKVRelease, kvPullRequest{ID: src.id}); err != nil {
		return err
	}
	return nil
}

// releaseLater tells the prefill to free KV the decode no longer wants,
// without holding up the caller; a prefill that does not answer frees it at
// its hold timeout anyway.
func (s *Server) releaseLater(src kvSource) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = s.kvc.call(ctx, src.addr, pathKVRelease, kvPullRequest{ID: src.id})
	}()
}
