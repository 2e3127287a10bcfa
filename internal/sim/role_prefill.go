package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// kvBlockTokens is the KV block size a prefill reports block ids in
// (vLLM's default block size).
const kvBlockTokens = 16

// heldKV is a finished prompt's KV that a prefill keeps for a decode.
type heldKV struct {
	tokens int   // prompt tokens: what a decode moves
	taken  int64 // KV reserved under KVCapacityTokens, freed on release
	pulled bool
	timer  *time.Timer
}

// kvHolder is a prefill's table of KV waiting for decodes, keyed by the
// vLLM request id or the SGLang bootstrap room.
type kvHolder struct {
	s       *Server
	mu      sync.Mutex
	held    map[string]*heldKV
	changed chan struct{} // closed and replaced whenever KV is added
	nextBlk int
}

func newKVHolder(s *Server) *kvHolder {
	return &kvHolder{s: s, held: map[string]*heldKV{}, changed: make(chan struct{})}
}

// hold files KV under id until it is released or the hold timeout passes;
// it returns the block ids it lives in.
func (h *kvHolder) hold(id string, tokens int, taken int64) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.held[id]; ok {
		// The same id twice (a retried phase 1): the newer KV wins.
		h.dropLocked(id, old)
	}
	nb := (tokens + kvBlockTokens - 1) / kvBlockTokens
	blocks := make([]int, nb)
	for i := range blocks {
		blocks[i] = h.nextBlk + i
	}
	h.nextBlk += nb
	e := &heldKV{tokens: tokens, taken: taken}
	e.timer = time.AfterFunc(h.s.cfg.KVHoldTimeout, func() {
		if h.release(id) {
			h.s.cfg.Logger.Warn("freed KV no decode released in time", "request", id, "timeout", h.s.cfg.KVHoldTimeout)
		}
	})
	h.held[id] = e
	close(h.changed)
	h.changed = make(chan struct{})
	return blocks
}

// pull marks id's KV in flight, waiting up to wait for it to appear.
func (h *kvHolder) pull(ctx context.Context, id string, wait time.Duration) (int, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		e, ok := h.held[id]
		if ok && !e.pulled {
			e.pulled = true
			h.mu.Unlock()
			return e.tokens, nil
		}
		changed := h.changed
		h.mu.Unlock()
		if ok {
			return 0, errors.New("already pulled")
		}
		select {
		case <-changed:
		case <-deadline.C:
			return 0, errors.New("no KV held for this request")
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// release frees id's KV and reports whether there was any.
func (h *kvHolder) release(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.held[id]
	if ok {
		h.dropLocked(id, e)
	}
	return ok
}

func (h *kvHolder) dropLocked(id string, e *heldKV) {
	e.timer.Stop()
	delete(h.held, id)
	if e.taken > 0 && h.s.eng != nil {
		h.s.eng.releaseKV(e.taken)
	}
}

// count is the number of requests whose KV is held.
func (h *kvHolder) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held)
}

// BootstrapHandler answers the prefill side of the KV bootstrap protocol
// (decodes pull and release KV here) and GET /health.
func (s *Server) BootstrapHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	reply := func(w http.ResponseWriter, status int, r kvPullReply) {
		writeJSON(w, status, marshal(r))
	}
	read := func(w http.ResponseWriter, r *http.Request) (kvPullRequest, bool) {
		var req kvPullRequest
		body, err := io.ReadAll(io.LimitReader(r.Body, maxKVReply))
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		if err != nil || req.ID == "" {
			reply(w, http.StatusBadRequest, kvPullReply{Error: "want a JSON object with an id"})
			return req, false
		}
		return req, true
	}
	mux.HandleFunc("POST "+pathKVPull, func(w http.ResponseWriter, r *http.Request) {
		req, ok := read(w, r)
		if !ok {
			return
		}
		wait := time.Duration(max(0, min(req.WaitMS, int64(s.cfg.KVHoldTimeout/time.Millisecond)))) * time.Millisecond
		tokens, err := s.holder.pull(r.Context(), req.ID, wait)
		if err != nil {
			reply(w, http.StatusNotFound, kvPullReply{Error: err.Error()})
			return
		}
		reply(w, http.StatusOK, kvPullReply{Tokens: tokens, EngineID: s.engineID})
	})
	mux.HandleFunc("POST "+pathKVRelease, func(w http.ResponseWriter, r *http.Request) {
		req, ok := read(w, r)
		if !ok {
			return
		}
		if !s.holder.release(req.ID) {
			reply(w, http.StatusNotFound, kvPullReply{Error: "no KV held for this request"})
			return
		}
		reply(w, http.StatusOK, kvPullReply{EngineID: s.engineID})
	})
	return mux
}

// ServeBootstrap answers the bootstrap protocol on ln until ctx ends.
func (s *Server) ServeBootstrap(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.BootstrapHandler(), ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
		_ = hs.Close()
		<-errc
		return nil
	case err := <-errc:
		return err
	}
}

// prefillHand is how a prefill answers a request whose KV a decode will
// pull: vLLM's phase 1 (do_remote_decode) or SGLang's pair-send (a room).
// It returns "" when the request is an ordinary one.
func (s *Server) prefillHandoff(req *request, id string) string {
	if s.cfg.Role != RolePrefill {
		return ""
	}
	switch {
	case req.kv != nil && req.kv.DoRemoteDecode && !req.stream:
		return id
	case req.bootstrap != nil:
		return req.bootstrap.key()
	}
	return ""
}

// holdForDecode files a finished prompt's KV for its decode and returns the
// kv_transfer_params a vLLM prefill answers with.
func (g *generation) holdForDecode() *kvParams {
	s := g.s
	var taken int64
	for i := range g.choices {
		taken += g.choices[i].kvTaken.Swap(0)
	}
	blocks := s.holder.hold(g.handoff, g.promptTotal, taken)
	if g.req.kv == nil {
		return nil
	}
	host, portStr, _ := net.SplitHostPort(s.cfg.BootstrapAddr) // checked by New
	port, _ := strconv.Atoi(portStr)
	engine := s.engineID
	return &kvParams{
		DoRemotePrefill: true, RemoteBlockIDs: blocks, RemoteEngineID: &engine,
		RemoteHost: &host, RemotePort: &port, RemoteRequestID: g.handoff, TPSize: 1,
	}
}

// serverInfo answers GET /server_info with what SGLang's router reads from
// a prefill: its disaggregation mode and bootstrap port.
func (s *Server) serverInfo(w http.ResponseWriter, _ *http.Request) {
	port := 0
	if _, p, err := net.SplitHostPort(s.cfg.BootstrapAddr); err == nil {
		port, _ = strconv.Atoi(p)
	}
	mode := "null"
	if s.cfg.Role != RoleAgg {
		mode = string(s.cfg.Role)
	}
	writeJSON(w, http.StatusOK, marshal(struct {
		Mode string `json:"disaggregation_mode"`
		Port int    `json:"disaggregation_bootstrap_port"`
	}{mode, port}))
}
