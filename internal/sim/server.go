package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrExitAfter is what Serve returns when Config.ExitAfter requests have
// completed and the simulated server "crashed".
var ErrExitAfter = errors.New("sim: exiting after the configured number of requests (--exit-after)")

const (
	maxBodyBytes  = 64 << 20
	shutdownGrace = 5 * time.Second
	// crashGrace lets the response that triggered --exit-after reach the
	// client whole before every connection is cut.
	crashGrace = 50 * time.Millisecond
	vocabWords = 1000
)

// Stats are the server's counters, for tests and logs.
type Stats struct {
	Received     int64 // generation requests received (completions and chat)
	Completed    int64 // answered in full
	Rejected     int64 // refused with a 4xx, or 503 while starting
	Failed       int64 // answered 500 by --fail-ratio
	Dropped      int64 // connection cut mid-response by --drop-ratio (or by the crash of --exit-after)
	Cancelled    int64 // the client went away first
	InFlight     int64 // being answered now
	PeakInFlight int64
	Running      int64 // sequences in the engine's batch now (engine timing)
	Waiting      int64 // sequences queued for a batch slot now (engine timing)
	PeakBatch    int64 // most sequences ever in one batch (engine timing)
	PeakWaiting  int64
	Steps        int64 // engine steps run
	PromptTokens int64 // prompt tokens of accepted requests
	OutputTokens int64 // tokens sent (completion_tokens of answered choices)

	// Prefix caching (engine timing with Config.PrefixCaching), in tokens
	// unless named blocks. Queries and hits count each sequence's prompt
	// once, when the engine admits it.
	PrefixQueries, PrefixHits          int64 // prompt tokens looked up; found on the GPU
	ExternalQueries, ExternalHits      int64 // the same for the CPU tier (only when there is one)
	PromptLocalHit, PromptExternal     int64 // prompt tokens by source: GPU cache hit; CPU tier or pulled from a prefill
	PromptComputed                     int64 // prompt tokens computed
	KVCacheBlocksUsed, KVCPUBlocksUsed int64 // GPU blocks held by running sequences; CPU blocks filled
	KVOffloadedBlocks, KVLoadedBlocks  int64 // blocks copied GPU->CPU, CPU->GPU
	KVLoadSeconds                      float64

	// Disaggregated serving.
	KVUsedTokens    int64 // KV reserved under KVCapacityTokens now (engine timing)
	KVHeld          int64 // prefill: requests whose KV waits for a decode
	TransferBytes   int64 // decode: KV bytes moved over the link
	TransferSeconds float64
	Transfers       int64 // decode: transfers completed
	TransferErrors  int64 // decode: pulls or releases that failed
}

// Server is the simulated inference server.
type Server struct {
	cfg   Config
	words [][]byte // the text of token k is words[(offset+k)%vocabWords]

	spec *drafter // nil without speculative decoding

	eng      *engine // nil with fixed timing
	engOnce  sync.Once
	engStop  context.CancelFunc
	engDone  chan struct{}
	closed   chan struct{}
	closeMux sync.Once

	ready      chan struct{}
	readyTimer *time.Timer

	crash     chan struct{}
	crashOnce sync.Once
	crashed   atomic.Bool

	reqNo   atomic.Uint64
	started time.Time

	// Disaggregated serving (role_prefill.go, role_decode.go, transfer.go).
	engineID string
	holder   *kvHolder // prefill: KV waiting for decodes
	link     *link     // decode: the KV link
	kvc      *kvClient // decode: the bootstrap protocol client

	received, completed, rejected, failed, dropped, cancelled atomic.Int64
	inFlight, peakInFlight, promptTokens, outputTokens        atomic.Int64
	transferErrors                                            atomic.Int64
}

// New checks cfg, fills its defaults and makes a server. The startup delay
// runs from here. Call Close when done if you use Handler without Serve.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("sim: config: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		closed:  make(chan struct{}),
		ready:   make(chan struct{}),
		crash:   make(chan struct{}),
		engDone: make(chan struct{}),
		started: cfg.Now(),
	}
	s.words = make([][]byte, vocabWords)
	for i := range s.words {
		s.words[i] = []byte(" tok" + strconv.Itoa(i))
	}
	s.spec = newDrafter(cfg.Spec, cfg.Seed)
	if cfg.Timing == TimingEngine {
		s.eng = newEngine(&s.cfg, &realClock{})
		s.eng.spec = s.spec
	}
	if cfg.Role == RolePrefill {
		if _, port, err := net.SplitHostPort(cfg.BootstrapAddr); err != nil || port == "0" {
			return nil, fmt.Errorf("sim: config: bootstrap address %q: want host:port with a real port", cfg.BootstrapAddr)
		}
	}
	s.engineID = hexID(rand.New(rand.NewPCG(uint64(cfg.Seed), 0xe6_1d)))
	s.holder = newKVHolder(s)
	s.link = &link{cfg: &s.cfg}
	s.kvc = &kvClient{hc: &http.Client{}}
	if d := cfg.scaled(cfg.StartupDelay); d > 0 {
		s.readyTimer = time.AfterFunc(d, func() { close(s.ready) })
	} else {
		close(s.ready)
	}
	return s, nil
}

// Config returns the configuration in effect, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Ready is closed once the server serves (after the startup delay).
func (s *Server) Ready() <-chan struct{} { return s.ready }

func (s *Server) isReady() bool {
	select {
	case <-s.ready:
		if s.cfg.Joined != nil {
			select {
			case <-s.cfg.Joined:
			default:
				return false
			}
		}
		return !s.crashed.Load()
	default:
		return false
	}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Received: s.received.Load(), Completed: s.completed.Load(), Rejected: s.rejected.Load(),
		Failed: s.failed.Load(), Dropped: s.dropped.Load(), Cancelled: s.cancelled.Load(),
		InFlight: s.inFlight.Load(), PeakInFlight: s.peakInFlight.Load(),
		PromptTokens: s.promptTokens.Load(), OutputTokens: s.outputTokens.Load(),
	}
	if s.eng != nil {
		st.Running = s.eng.nRunning.Load()
		st.Waiting = s.eng.nWaiting.Load()
		st.PeakBatch = s.eng.peakBatch.Load()
		st.PeakWaiting = s.eng.peakWaiting.Load()
		st.Steps = s.eng.steps.Load()
		st.KVUsedTokens = s.eng.kvUsed.Load()
		cs := &s.eng.cs
		st.PrefixQueries, st.PrefixHits = cs.queries.Load(), cs.hits.Load()
		st.ExternalQueries, st.ExternalHits = cs.extQueries.Load(), cs.extHits.Load()
		st.PromptLocalHit, st.PromptExternal, st.PromptComputed = cs.srcLocalHit.Load(), cs.srcExternal.Load(), cs.srcComp.Load()
		st.KVCacheBlocksUsed, st.KVCPUBlocksUsed = cs.gpuBlocks.Load(), cs.cpuBlocks.Load()
		st.KVOffloadedBlocks, st.KVLoadedBlocks = cs.offloaded.Load(), cs.loaded.Load()
		st.KVLoadSeconds = float64(cs.loadNanos.Load()) / 1e9
	}
	st.KVHeld = int64(s.holder.count())
	st.TransferBytes = s.link.bytes.Load()
	st.TransferSeconds = float64(s.link.nanos.Load()) / 1e9
	st.Transfers = s.link.count.Load()
	st.TransferErrors = s.transferErrors.Load()
	return st
}

// Close stops the engine and the startup timer; requests still streaming
// end at once. It is safe to call more than once.
func (s *Server) Close() {
	s.closeMux.Do(func() {
		close(s.closed)
		if s.readyTimer != nil {
			s.readyTimer.Stop()
		}
		s.engOnce.Do(func() { close(s.engDone) }) // never started: nothing to stop
		if s.engStop != nil {
			s.engStop()
			<-s.engDone
		}
	})
}

// startEngine starts the scheduler on first use, so that a Server used
// only through Handler needs no separate start call.
func (s *Server) startEngine() {
	s.engOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.engStop = cancel
		go func() {
			defer close(s.engDone)
			s.eng.run(ctx)
		}()
	})
}

// Serve answers HTTP on ln until ctx ends (then it shuts down gracefully,
// giving streams in flight a few seconds) or until ExitAfter requests have
// completed (then it drops every connection and returns ErrExitAfter). It
// closes the server on return.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.Close()
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
		s.cfg.Logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			_ = hs.Close() // the grace ran out: cut the remaining streams
		}
		<-errc
		return nil
	case <-s.crash:
		// Refuse new connections at once, as a dead process would.
		_ = ln.Close()
		time.Sleep(crashGrace)
		_ = hs.Close()
		<-errc
		return ErrExitAfter
	case err := <-errc:
		return fmt.Errorf("sim: serve on %s: %w", ln.Addr(), err)
	}
}

// Handler returns the HTTP handler: the OpenAI-compatible API plus /health.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.route) }

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	var allow string
	var h func(http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case "/v1/completions":
		allow, h = http.MethodPost, func(w http.ResponseWriter, r *http.Request) { s.generate(w, r, endpointCompletions) }
	case "/v1/chat/completions":
		allow, h = http.MethodPost, func(w http.ResponseWriter, r *http.Request) { s.generate(w, r, endpointChat) }
	case "/v1/models":
		allow, h = http.MethodGet, s.models
	case "/health":
		allow, h = http.MethodGet, s.health
	case "/metrics":
		allow, h = http.MethodGet, s.metrics
	case "/server_info":
		allow, h = http.MethodGet, s.serverInfo
	default:
		// FastAPI's answer to an unknown path.
		writeJSON(w, http.StatusNotFound, []byte(`{"detail":"Not Found"}`))
		return
	}
	if r.Method != allow && !(allow == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, []byte(`{"detail":"Method Not Allowed"}`))
		return
	}
	h(w, r)
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	if !s.isReady() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	id := s.cfg.ServedModelName
	rng := rand.New(rand.NewPCG(uint64(s.cfg.Seed), math.MaxUint64))
	writeJSON(w, http.StatusOK, modelsBody(s.cfg.Format, id, s.cfg.Model, s.started.Unix(), s.cfg.MaxModelLen, "modelperm-"+hexID(rng)))
}

// refuse answers a request the server will not serve.
func (s *Server) refuse(w http.ResponseWriter, e *apiError) {
	s.rejected.Add(1)
	writeJSON(w, e.status, errorBody(s.cfg.Format, e))
}

// hexID is 32 hex digits, like Python's uuid4().hex.
func hexID(rng *rand.Rand) string {
	const digits = "0123456789abcdef"
	var b [32]byte
	hi, lo := rng.Uint64(), rng.Uint64()
	for i := range 16 {
		b[i] = digits[hi>>(60-4*i)&0xf]
		b[16+i] = digits[lo>>(60-4*i)&0xf]
	}
	return string(b[:])
}

// choice is one sequence of a request being answered.
type choice struct {
	seq
	index  int
	offset int  // where its words start in the vocabulary
	eos    bool // it ends at the end-of-sequence token (finish_reason "stop")
	sent   int  // tokens already written
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request, ep endpoint) {
	arrival := time.Now()
	s.received.Add(1)
	if !s.isReady() {
		s.refuse(w, &apiError{status: http.StatusServiceUnavailable, typ: "ServiceUnavailableError", msg: "the server is starting up"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		s.refuse(w, badRequest("reading the request body: %v", err))
		return
	}
	req, aerr := decodeRequest(body, ep, s.cfg.Format)
	if aerr != nil {
		s.refuse(w, aerr)
		return
	}
	if len(req.unknown) > 0 {
		s.cfg.Logger.Warn("The following fields were present in the request but ignored", "fields", req.unknown)
	}
	model, aerr := s.checkModel(req.model)
	if aerr != nil {
		s.refuse(w, aerr)
		return
	}
	maxTokens, aerr := s.checkLength(req)
	if aerr != nil {
		s.refuse(w, aerr)
		return
	}
	if text, ok := s.cfg.Answers.lookup(body); ok {
		s.answer(w, req, model, text)
		return
	}

	// Every random choice about this request comes from its own stream,
	// seeded by the server seed and the request's number, so that a run
	// replays exactly for a given arrival order. The draws are always
	// made, in this order, whatever is enabled.
	no := s.reqNo.Add(1)
	rng := rand.New(rand.NewPCG(uint64(s.cfg.Seed), no))
	fail := rng.Float64() < s.cfg.FailRatio
	drop := rng.Float64() < s.cfg.DropRatio
	dropFrac := rng.Float64()
	id := s.requestID(req.chat, no, rng)

	if fail {
		s.failed.Add(1)
		writeJSON(w, http.StatusInternalServerError, errorBody(s.cfg.Format, &apiError{
			status: http.StatusInternalServerError, typ: "InternalServerError",
			msg: "simulated failure (fleet sim --fail-ratio)",
		}))
		return
	}

	notify := make(chan struct{}, 1)
	choices := make([]choice, 0, len(req.prompts)*req.n)
	var promptTotal int
	caching := s.eng != nil && s.eng.cache != nil && len(req.sources) == len(req.prompts)
	for i, p := range req.prompts {
		promptTotal += p
		var keys []uint64
		if caching {
			keys = blockKeys(req.sources[i].tokens(), s.cfg.KVBlockSize)
		}
		for range req.n {
			choices = append(choices, choice{})
			c := &choices[len(choices)-1]
			c.index, c.offset = len(choices)-1, rng.IntN(vocabWords)
			c.promptLen, c.outLen, c.notify, c.keys = p, maxTokens, notify, keys
			if !req.ignoreEOS {
				// A natural answer ends at the end-of-sequence token,
				// never before min_tokens (vLLM's rule).
				natural := req.minTokens + 1 + int(rng.ExpFloat64()*float64(s.cfg.MeanOutputLen))
				if natural <= maxTokens {
					c.outLen, c.eos = natural, true
				}
			}
		}
	}
	handoff := s.prefillHandoff(req, id)
	if handoff != "" {
		// A prefill computes the prompt and samples one token; the decode
		// generates the answer.
		for i := range choices {
			choices[i].outLen, choices[i].eos, choices[i].holdKV = 1, false, true
		}
	}
	if limit := s.cfg.KVCapacityTokens; limit > 0 {
		for i := range choices {
			if need := kvNeed(&choices[i].seq); need > int64(limit) {
				s.refuse(w, badRequest("the request needs %d tokens of KV cache (prompt plus max_tokens), more than this worker's %d", need, limit))
				return
			}
		}
	}
	if caching && s.eng.cache.gpuCap > 0 {
		for i := range choices {
			c := &choices[i]
			if need := s.eng.cache.blocksFor(c.promptLen + c.outLen); need > s.eng.cache.gpuCap {
				s.refuse(w, badRequest("the request needs %d tokens of KV cache (prompt plus max_tokens, in blocks of %d), more than this worker's %d", need*s.cfg.KVBlockSize, s.cfg.KVBlockSize, s.cfg.KVCacheTokens))
				return
			}
		}
	}
	src, aerr := s.decodeSource(req)
	if aerr != nil {
		s.refuse(w, aerr)
		return
	}
	s.promptTokens.Add(int64(promptTotal))
	// The drop point: after some tokens of the first choice, at least one
	// chunk in when it has more than one token.
	dropAt := -1
	if drop {
		dropAt = int(dropFrac * float64(choices[0].outLen))
		if choices[0].outLen > 1 {
			dropAt = max(1, min(dropAt, choices[0].outLen-1))
		}
	}

	n := s.inFlight.Add(1)
	storeMax(&s.peakInFlight, n)
	defer s.inFlight.Add(-1)

	if src != nil {
		if err := s.fetchKV(r.Context(), *src, promptTotal); err != nil {
			s.transferFailed(w, r, *src, err)
			return
		}
		for i := range choices {
			choices[i].computed = choices[i].promptLen
		}
	}

	g := &generation{
		s: s, w: w, ctx: r.Context(), req: req, choices: choices, arrival: arrival,
		dropAt: dropAt, promptTotal: promptTotal, handoff: handoff,
		enc: newEncoder(s.cfg.Format, req.chat, id, s.cfg.Now().Unix(), model),
	}
	defer g.abortAll()
	if s.eng != nil {
		s.startEngine()
		seqs := make([]*seq, len(choices))
		for i := range choices {
			seqs[i] = &choices[i].seq
		}
		s.eng.submit(seqs...)
	}
	var outcome error
	if req.stream {
		outcome = g.stream()
	} else {
		outcome = g.respond(id, model)
	}
	switch {
	case outcome == nil:
		s.outputTokens.Add(int64(g.outputTokens()))
		if c := s.completed.Add(1); s.cfg.ExitAfter > 0 && c == int64(s.cfg.ExitAfter) {
			s.crashOnce.Do(func() {
				s.crashed.Store(true)
				s.cfg.Logger.Error("exiting after completed requests (--exit-after)", "completed", c)
				close(s.crash)
			})
		}
	case errors.Is(outcome, errDropped):
		s.dropped.Add(1)
		// Abort the response mid-body: net/http closes the connection
		// without finishing the chunked encoding, as a dead server would.
		panic(http.ErrAbortHandler)
	default:
		s.cancelled.Add(1)
	}
}

// requestID draws the request's id in the format's style.
func (s *Server) requestID(chat bool, no uint64, rng *rand.Rand) string {
	hex := hexID(rng)
	switch {
	case chat:
		return "chatcmpl-" + hex
	case s.cfg.Format == FormatSGLang:
		return hex
	case s.cfg.Format == FormatTRT:
		return "cmpl-" + strconv.FormatUint(no, 10)
	}
	return "cmpl-" + hex
}

// checkModel resolves the model a response names.
func (s *Server) checkModel(asked string) (string, *apiError) {
	switch s.cfg.Format {
	case FormatSGLang:
		if asked == "" {
			return "default", nil
		}
		return asked, nil
	case FormatTRT:
		return asked, nil
	}
	if asked == "" {
		return s.cfg.ServedModelName, nil
	}
	if asked != s.cfg.ServedModelName {
		return "", &apiError{status: http.StatusNotFound, typ: "NotFoundError", param: "model",
			msg: fmt.Sprintf("The model `%s` does not exist.", asked)}
	}
	return asked, nil
}

// checkLength applies the context length and returns max_tokens in effect.
func (s *Server) checkLength(req *request) (int, *apiError) {
	limit := s.cfg.MaxModelLen
	maxTokens := req.maxTokens
	for _, p := range req.prompts {
		if p >= limit {
			if s.cfg.Format == FormatSGLang {
				return 0, badRequest("The input (%d tokens) is longer than the model's context length (%d tokens).", p, limit)
			}
			return 0, badRequest("This model's maximum context length is %d tokens. However, your request has %d input tokens. Please reduce the length of the input messages.", limit, p)
		}
		if maxTokens == 0 {
			continue
		}
		if p+maxTokens > limit {
			if s.cfg.Format == FormatSGLang {
				return 0, badRequest("Requested token count exceeds the model's maximum context length of %d tokens. You requested a total of %d tokens: %d tokens from the input messages and %d tokens for the completion. Please reduce the number of tokens in the input messages or the completion to fit within the limit.", limit, p+maxTokens, p, maxTokens)
			}
			return 0, badRequest("'max_tokens' or 'max_completion_tokens' is too large: %d. This model's maximum context length is %d tokens and your request has %d input tokens (%d > %d - %d).", maxTokens, limit, p, maxTokens, limit, p)
		}
	}
	if maxTokens > 0 {
		return maxTokens, nil
	}
	if !req.chat {
		// The completions API's default, in all three servers.
		return min(16, limit-maxPrompt(req.prompts)), nil
	}
	// Chat without a limit: whatever context is left.
	return limit - maxPrompt(req.prompts), nil
}

func maxPrompt(prompts []int) int {
	m := 0
	for _, p := range prompts {
		m = max(m, p)
	}
	return m
}
