package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Policy is how a Router picks a worker of a pool.
type Policy string

// The router policies.
const (
	PolicyRoundRobin Policy = "round_robin"
	PolicyRandom     Policy = "random"
	// PolicySession pins a conversation: requests with the same session
	// header (SessionHeaders) go to the same workers; others go round robin.
	PolicySession Policy = "session"
)

// SessionHeaders are the request headers PolicySession pins by, first
// present wins.
var SessionHeaders = []string{"X-Session-ID", "X-Correlation-ID", "X-Dynamo-Session-ID", "X-SMG-Routing-Key"}

// ParsePolicy turns a flag value into a Policy ("" is round robin).
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case "":
		return PolicyRoundRobin, nil
	case PolicyRoundRobin, PolicyRandom, PolicySession:
		return p, nil
	}
	return "", fmt.Errorf("policy %q: want round_robin, random or session", s)
}

// Limits on what a router reads from a client or a worker.
const (
	maxPhase1Body  = 1 << 20  // a prefill's one-token answer
	maxRelayBody   = 64 << 20 // a non-streaming answer relayed to the client
	maxRelayLine   = 1 << 20  // one line of a relayed stream
	healthTimeout  = 5 * time.Second
	bootstrapCache = time.Minute
)

// RouterConfig is what a Router is told.
type RouterConfig struct {
	// Worker base URLs (http://host:port). Prefill and Decode together make
	// a disaggregated deployment; Agg alone an aggregated one.
	Prefill, Decode, Agg []string
	// PrefillBootstrapPorts, aligned with Prefill, name each prefill's
	// bootstrap port for SGLang's pair-send; a missing or zero entry is
	// asked of the prefill's GET /server_info.
	PrefillBootstrapPorts []int
	Policy                Policy // "" means round robin
	// Format selects the disaggregated flow: vllm (the default) runs the
	// two-phase proxy flow, sglang the pair-send flow.
	Format Format
	Seed   int64
	Logger *slog.Logger
	Client *http.Client // nil means a client of its own
}

// Router is an OpenAI-compatible front end that runs requests through
// prefill and decode workers, or proxies them to aggregated ones.
type Router struct {
	cfg RouterConfig
	hc  *http.Client

	rr       [3]atomic.Uint64 // round-robin counters per pool
	rngMu    sync.Mutex
	rng      *rand.Rand
	bootMu   sync.Mutex
	bootPort map[string]bootPortEntry

	requests, errors atomic.Int64
}

type bootPortEntry struct {
	port int
	at   time.Time
}

type pool int

const (
	poolPrefill pool = iota
	poolDecode
	poolAgg
)

// NewRouter checks cfg and makes a router.
func NewRouter(cfg RouterConfig) (*Router, error) {
	var errs []error
	for _, list := range [][]string{cfg.Prefill, cfg.Decode, cfg.Agg} {
		for i, u := range list {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				errs = append(errs, fmt.Errorf("worker %q: want http://host:port", u))
			}
			list[i] = strings.TrimRight(u, "/")
		}
	}
	switch {
	case len(cfg.Prefill) > 0 && len(cfg.Decode) == 0, len(cfg.Decode) > 0 && len(cfg.Prefill) == 0:
		errs = append(errs, errors.New("a disaggregated router needs both prefill and decode workers"))
	case len(cfg.Prefill) == 0 && len(cfg.Agg) == 0:
		errs = append(errs, errors.New("no workers: give prefill and decode workers, or aggregated ones"))
	}
	if len(cfg.PrefillBootstrapPorts) > len(cfg.Prefill) {
		errs = append(errs, errors.New("more prefill bootstrap ports than prefill workers"))
	}
	var err error
	if cfg.Policy, err = ParsePolicy(string(cfg.Policy)); err != nil {
		errs = append(errs, err)
	}
	if cfg.Format == "" {
		cfg.Format = FormatVLLM
	}
	if cfg.Format != FormatVLLM && cfg.Format != FormatSGLang {
		errs = append(errs, fmt.Errorf("router format %q: want vllm or sglang", cfg.Format))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sim router: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	hc := cfg.Client
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy: nil, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second,
			DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		}}
	}
	return &Router{
		cfg: cfg, hc: hc, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x707e)),
		bootPort: map[string]bootPortEntry{},
	}, nil
}

// Handler returns the router's HTTP handler.
func (rt *Router) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/completions", rt.generate)
	mux.HandleFunc("POST /v1/chat/completions", rt.generate)
	mux.HandleFunc("GET /v1/models", rt.models)
	mux.HandleFunc("GET /health", rt.health)
	mux.HandleFunc("GET /metrics", rt.metrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, []byte(`{"detail":"Not Found"}`))
	})
	return mux
}

// Serve answers HTTP on ln until ctx ends.
func (rt *Router) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: rt.Handler(), ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			_ = hs.Close()
		}
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("sim router: serve on %s: %w", ln.Addr(), err)
	}
}

// pick chooses a worker of a pool for a request.
func (rt *Router) pick(p pool, r *http.Request) string {
	list := rt.workers(p)
	n := uint64(len(list))
	switch rt.cfg.Policy {
	case PolicyRandom:
		rt.rngMu.Lock()
		i := rt.rng.Uint64N(n)
		rt.rngMu.Unlock()
		return list[i]
	case PolicySession:
		if key := sessionKey(r); key != "" {
			h := fnv.New64a()
			_, _ = h.Write([]byte(key))
			return list[h.Sum64()%n]
		}
	}
	return list[(rt.rr[p].Add(1)-1)%n]
}

func (rt *Router) workers(p pool) []string {
	switch p {
	case poolPrefill:
		return rt.cfg.Prefill
	case poolDecode:
		return rt.cfg.Decode
	}
	return rt.cfg.Agg
}

func sessionKey(r *http.Request) string {
	for _, h := range SessionHeaders {
		if v := r.Header.Get(h); v != "" {
			return v
		}
	}
	return ""
}

// routerError answers in OpenAI's error shape.
func (rt *Router) routerError(w http.ResponseWriter, status int, typ, msg string) {
	rt.errors.Add(1)
	writeJSON(w, status, errorBody(FormatVLLM, &apiError{status: status, typ: typ, msg: msg}))
}

func (rt *Router) badGateway(w http.ResponseWriter, worker string, err error) {
	rt.cfg.Logger.Warn("worker failed", "worker", worker, "err", err)
	rt.routerError(w, http.StatusBadGateway, "BadGatewayError", fmt.Sprintf("worker %s: %v", worker, err))
}

func (rt *Router) generate(w http.ResponseWriter, r *http.Request) {
	rt.requests.Add(1)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		rt.routerError(w, http.StatusBadRequest, "BadRequestError", "reading the request body: "+err.Error())
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		rt.routerError(w, http.StatusBadRequest, "BadRequestError", "the request body must be a JSON object")
		return
	}
	switch {
	case len(rt.cfg.Prefill) == 0:
		worker := rt.pick(poolAgg, r)
		rt.forward(w, r, worker, body)
	case rt.cfg.Format == FormatSGLang:
		rt.pairSend(w, r, fields)
	default:
		rt.twoPhase(w, r, fields)
	}
}

// twoPhase is vLLM's proxy flow: the request with max_tokens 1 and
// do_remote_decode to a prefill, then the original request with the
// prefill's kv_transfer_params to a decode, whose answer is relayed.
func (rt *Router) twoPhase(w http.ResponseWriter, r *http.Request, fields map[string]json.RawMessage) {
	prefill, decode := rt.pick(poolPrefill, r), rt.pick(poolDecode, r)
	p1 := make(map[string]json.RawMessage, len(fields)+1)
	for k, v := range fields {
		p1[k] = v
	}
	p1["max_tokens"] = json.RawMessage("1")
	if _, ok := p1["max_completion_tokens"]; ok {
		p1["max_completion_tokens"] = json.RawMessage("1")
	}
	p1["stream"] = json.RawMessage("false")
	delete(p1, "stream_options")
	delete(p1, "min_tokens")
	p1["kv_transfer_params"] = json.RawMessage(`{"do_remote_decode":true,"do_remote_prefill":false,"remote_engine_id":null,"remote_block_ids":null,"remote_host":null,"remote_port":null}`)
	resp, err := rt.post(r.Context(), prefill+r.URL.Path, mustMarshal(p1), r.Header)
	if err != nil {
		if r.Context().Err() == nil {
			rt.badGateway(w, prefill, err)
		}
		return
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPhase1Body+1))
	resp.Body.Close()
	switch {
	case err != nil:
		if r.Context().Err() == nil {
			rt.badGateway(w, prefill, fmt.Errorf("reading its answer: %w", err))
		}
		return
	case len(data) > maxPhase1Body:
		rt.badGateway(w, prefill, fmt.Errorf("its answer is over %d bytes", maxPhase1Body))
		return
	case resp.StatusCode != http.StatusOK:
		// The prefill refused the request (a bad request, a busy
		// worker): the client sees its answer.
		rt.errors.Add(1)
		copyHeader(w, resp.Header, "Content-Type")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(data)
		return
	}
	var answer struct {
		KV json.RawMessage `json:"kv_transfer_params"`
	}
	if err := json.Unmarshal(data, &answer); err != nil || len(answer.KV) == 0 || isNull(answer.KV) {
		rt.badGateway(w, prefill, errors.New("its answer has no kv_transfer_params (is it a prefill worker?)"))
		return
	}
	fields["kv_transfer_params"] = answer.KV
	rt.forward(w, r, decode, mustMarshal(fields))
}

// forward posts body to worker and relays its answer.
func (rt *Router) forward(w http.ResponseWriter, r *http.Request, worker string, body []byte) {
	resp, err := rt.post(r.Context(), worker+r.URL.Path, body, r.Header)
	if err != nil {
		if r.Context().Err() == nil {
			rt.badGateway(w, worker, err)
		}
		return
	}
	rt.relay(w, r, worker, resp)
}

// relay copies a worker's answer to the client byte for byte, flushing
// each event of a stream as it comes; a line or body over the limits, or
// a worker that dies mid-answer, cuts the client's connection as the
// worker's was cut.
func (rt *Router) relay(w http.ResponseWriter, r *http.Request, worker string, resp *http.Response) {
	defer resp.Body.Close()
	copyHeader(w, resp.Header, "Content-Type")
	w.WriteHeader(resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		rt.errors.Add(1)
	}
	rc := http.NewResponseController(w)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		n, err := io.Copy(w, io.LimitReader(resp.Body, maxRelayBody+1))
		if err != nil || n > maxRelayBody {
			rt.cut(r, worker, fmt.Errorf("relaying its answer (%d bytes): %v", n, err))
		}
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	br := bufio.NewReaderSize(resp.Body, maxRelayLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if _, werr := w.Write(line); werr != nil {
				return // the client went away; its context cancels the worker's request
			}
			if len(bytes.TrimSpace(line)) == 0 {
				_ = rc.Flush() // an event ends at a blank line
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			_ = rc.Flush()
			return
		case errors.Is(err, bufio.ErrBufferFull):
			rt.cut(r, worker, fmt.Errorf("a stream line is over %d bytes", maxRelayLine))
		default:
			rt.cut(r, worker, err)
		}
	}
}

// cut aborts the client's response after a failure mid-answer.
func (rt *Router) cut(r *http.Request, worker string, err error) {
	if r.Context().Err() == nil {
		rt.errors.Add(1)
		rt.cfg.Logger.Warn("worker answer cut short", "worker", worker, "err", err)
	}
	panic(http.ErrAbortHandler)
}

func (rt *Router) post(ctx context.Context, u string, body []byte, in http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range append([]string{"Authorization", "Accept"}, SessionHeaders...) {
		if v := in.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	return rt.hc.Do(req)
}

func copyHeader(w http.ResponseWriter, from http.Header, names ...string) {
	for _, n := range names {
		if v := from.Get(n); v != "" {
			w.Header().Set(n, v)
		}
	}
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("sim router: encode: " + err.Error()) // raw JSON and plain values always encode
	}
	return b
}
