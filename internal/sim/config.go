package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Format selects whose wire format the simulator imitates.
type Format string

// The server flavours the simulator can imitate (see
// shared/reference/wire-formats.md for what each one sends).
const (
	FormatVLLM   Format = "vllm"   // vLLM 0.11 era
	FormatSGLang Format = "sglang" // SGLang 0.5 era
	FormatTRT    Format = "trt"    // TensorRT-LLM trtllm-serve 1.x era
)

// ParseFormat turns a flag value into a Format.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatVLLM, FormatSGLang, FormatTRT:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want vllm, sglang or trt", s)
}

// Role is the part a simulator plays in disaggregated prefill/decode (PD)
// serving; RoleAgg is an ordinary server that does both.
type Role string

// The roles of a worker. The router is a separate type (Router).
const (
	RoleAgg     Role = "agg"     // prefill and decode in one engine (today's server)
	RolePrefill Role = "prefill" // prompt work only; holds the KV until a decode pulls it
	RoleDecode  Role = "decode"  // pulls the KV over a modelled link, then decodes only
)

// ParseRole turns a flag value into a worker Role ("" is RoleAgg).
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case "":
		return RoleAgg, nil
	case RoleAgg, RolePrefill, RoleDecode:
		return r, nil
	}
	return "", fmt.Errorf("role %q: want agg, prefill or decode", s)
}

// Timing selects how long responses take.
type Timing string

const (
	// TimingEngine models a continuous-batching engine: one scheduler runs
	// steps whose duration grows with the batch, so requests slow each other
	// down and queue beyond MaxNumSeqs.
	TimingEngine Timing = "engine"
	// TimingFixed gives every request exactly TTFT to its first chunk and ITL
	// between chunks, independent of load: a known answer for checking the
	// accuracy of a benchmark client.
	TimingFixed Timing = "fixed"
)

// ParseTiming turns a flag value into a Timing.
func ParseTiming(s string) (Timing, error) {
	switch t := Timing(s); t {
	case TimingEngine, TimingFixed:
		return t, nil
	}
	return "", fmt.Errorf("timing %q: want engine or fixed", s)
}

// Config is everything the simulator can be told. Start from DefaultConfig
// or Profile and change what you need; New fills the zero values noted
// below with defaults.
type Config struct {
	Format Format // wire format; "" means vllm

	// Model is the model name or path the server "loads" ("" means "sim");
	// ServedModelName is the name requests must use (vLLM semantics: it
	// defaults to Model). SGLang and TRT-LLM flavours echo whatever model a
	// request names, as those servers do.
	Model           string
	ServedModelName string
	MaxModelLen     int // context length; 0 means 32768
	// Answers, when set, answers known questions with fixed text
	// (answers.go).
	Answers Answers

	Timing Timing // "" means engine

	// Fixed timing.
	TTFT time.Duration // request arrival to first chunk
	ITL  time.Duration // between consecutive chunks

	// Engine timing: the cost model of one scheduler step. A step's duration
	// is StepBase + StepPerSeq*(sequences in the step) +
	// PrefillPerToken*(prompt tokens prefilled in the step) +
	// DecodePerKToken*(context tokens of the decoding sequences)/1000 +
	// PrefillPerKContext*(sum over the prefilled tokens of the context
	// each attends to, cached tokens included)/1000, times a seeded jitter
	// factor. Zero costs are free; DefaultConfig and the profiles set
	// plausible ones (PrefillPerKContext is 0 unless set: the attention
	// term of long prompts).
	MaxNumSeqs          int // running sequences at most; more wait in a queue; 0 means 256
	MaxNumBatchedTokens int // token budget per step (chunked prefill); 0 means 8192
	StepBase            time.Duration
	StepPerSeq          time.Duration
	PrefillPerToken     time.Duration
	DecodePerKToken     time.Duration
	PrefillPerKContext  time.Duration
	Jitter              float64 // relative standard deviation of step durations, e.g. 0.03

	// StreamInterval is the number of tokens per streamed chunk (vLLM's
	// --stream-interval); the first and last chunks go out at once. 0 means 1.
	StreamInterval int

	// Spec models speculative decoding (specdecode.go); off when zero.
	Spec SpecDecode

	// MeanOutputLen is the mean length of a natural answer when a request
	// does not set ignore_eos: the end-of-sequence token comes at a seeded,
	// geometrically distributed position after min_tokens. 0 means 256.
	MeanOutputLen int

	// TimeScale multiplies every modelled duration (TTFT, ITL, step costs,
	// StartupDelay): 0.1 runs ten times faster. 0 means 1.
	TimeScale float64

	Seed int64 // seeds ids, jitter, EOS positions and fault injection

	// Prefix caching (engine timing only; see doc.go and kvcache.go). Off
	// by default so that runs made before it keep their timing. When on,
	// prompts are cut into blocks of KVBlockSize tokens; a prompt whose
	// leading blocks are cached computes only the rest, and
	// usage.prompt_tokens_details.cached_tokens reports the hit.
	PrefixCaching bool
	KVBlockSize   int // tokens per block; 0 means 16 (vLLM's default)
	// KVCacheTokens is the GPU KV capacity of the cache in tokens: running
	// sequences hold blocks for their prompt and whole output from
	// admission (a sequence that does not fit waits; nothing is
	// preempted), and cached blocks nobody uses are evicted least recently
	// freed first. 0 means unlimited. KVCapacityTokens, when set, applies
	// on top: a sequence needs room in both.
	KVCacheTokens int
	// KVCPUCacheTokens, when positive, adds a CPU tier of that many
	// tokens: blocks evicted from the GPU are copied there (LRU), and a
	// prompt whose next blocks are found only there loads them over a
	// link of KVH2DBandwidth bytes per second (one load at a time) plus
	// KVLoadLatency, moving prompt tokens x KVBytesPerToken bytes, before
	// prefilling the rest. Copies to the CPU are assumed to overlap with
	// compute: they cost no time, and are counted (at KVD2HBandwidth) in
	// /metrics. Time-scaled.
	KVCPUCacheTokens int
	KVH2DBandwidth   float64 // 0 means 25e9 (PCIe 5 x16, about half its peak)
	KVD2HBandwidth   float64 // 0 means 25e9
	KVLoadLatency    time.Duration

	// Disaggregated serving (see doc.go). Role "" means RoleAgg, which
	// ignores the rest of this block except KVCapacityTokens.
	Role Role
	// KVCapacityTokens bounds the tokens of KV a worker holds at once: a
	// sequence is admitted only when its prompt plus output fit, and a
	// prefill keeps a finished prompt's KV until a decode pulls it. 0 means
	// unlimited.
	KVCapacityTokens int
	// BootstrapAddr is the host:port a prefill names in kv_transfer_params
	// (remote_host, remote_port): where decodes pull and release its KV.
	BootstrapAddr string
	// KVHoldTimeout is how long a prefill keeps KV nobody pulls (vLLM's
	// VLLM_NIXL_ABORT_REQUEST_TIMEOUT). 0 means 480s. Not time-scaled.
	KVHoldTimeout time.Duration
	// The decode's link: a transfer of B bytes (prompt tokens x
	// KVBytesPerToken) takes LinkLatency + B/LinkBandwidth (bytes per
	// second), transfers queueing FIFO for the link. Time-scaled.
	KVBytesPerToken int64
	LinkBandwidth   float64 // 0 means 50e9 (one 400G NIC)
	LinkLatency     time.Duration
	// Joined, when not nil, keeps the server unready (/health 503, requests
	// refused) until it is closed: a multi-node leader waiting for its
	// followers (see Leader).
	Joined <-chan struct{}

	// Fault injection.
	FailRatio    float64       // fraction of requests answered 500
	DropRatio    float64       // fraction of requests whose connection is dropped mid-stream
	StartupDelay time.Duration // /health answers 503 and completions are refused until then
	ExitAfter    int           // Serve stops abruptly after this many completed requests (0: never)

	// Now gives the wall clock for "created" timestamps (tests pin it);
	// nil means time.Now. Durations are always measured on the real
	// monotonic clock.
	Now func() time.Time
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Trace, when set, is called by the engine scheduler after every step
	// (from the scheduler goroutine: keep it quick).
	Trace func(Step)
}

// Step describes one engine step, for Config.Trace.
type Step struct {
	Start         time.Time     // when the step began (on the modelled schedule)
	Duration      time.Duration // modelled duration, time scale applied
	Seqs          int           // sequences that took part
	Decodes       int           // of those, sequences that decoded one token
	PrefillTokens int           // prompt tokens prefilled in this step
	Waiting       int           // sequences left waiting for a slot
}

// DefaultConfig is a vLLM-flavoured server with a generic engine model
// (synthetic numbers, roughly a 70B model on eight current GPUs).
func DefaultConfig() Config {
	return Config{
		Format:              FormatVLLM,
		Model:               "sim",
		MaxModelLen:         32768,
		Timing:              TimingEngine,
		TTFT:                100 * time.Millisecond,
		ITL:                 10 * time.Millisecond,
		MaxNumSeqs:          256,
		MaxNumBatchedTokens: 8192,
		StepBase:            8 * time.Millisecond,
		StepPerSeq:          100 * time.Microsecond,
		PrefillPerToken:     25 * time.Microsecond,
		DecodePerKToken:     16 * time.Microsecond,
		Jitter:              0.03,
		StreamInterval:      1,
		MeanOutputLen:       256,
		TimeScale:           1,
		KVBlockSize:         16,
	}
}

// withDefaults fills the zero values New documents and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Format == "" {
		c.Format = FormatVLLM
	}
	if _, err := ParseFormat(string(c.Format)); err != nil {
		return c, err
	}
	if c.Timing == "" {
		c.Timing = TimingEngine
	}
	if _, err := ParseTiming(string(c.Timing)); err != nil {
		return c, err
	}
	if c.Model == "" {
		c.Model = "sim"
	}
	if c.ServedModelName == "" {
		c.ServedModelName = c.Model
	}
	if c.MaxModelLen == 0 {
		c.MaxModelLen = 32768
	}
	if c.MaxNumSeqs == 0 {
		c.MaxNumSeqs = 256
	}
	if c.MaxNumBatchedTokens == 0 {
		c.MaxNumBatchedTokens = 8192
	}
	if c.StreamInterval == 0 {
		c.StreamInterval = 1
	}
	if c.MeanOutputLen == 0 {
		c.MeanOutputLen = 256
	}
	if c.TimeScale == 0 {
		c.TimeScale = 1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Role == "" {
		c.Role = RoleAgg
	}
	if _, err := ParseRole(string(c.Role)); err != nil {
		return c, err
	}
	if c.KVHoldTimeout == 0 {
		c.KVHoldTimeout = 480 * time.Second
	}
	if c.LinkBandwidth == 0 {
		c.LinkBandwidth = 50e9
	}
	if c.KVBlockSize == 0 {
		c.KVBlockSize = 16
	}
	if c.KVH2DBandwidth == 0 {
		c.KVH2DBandwidth = 25e9
	}
	if c.KVD2HBandwidth == 0 {
		c.KVD2HBandwidth = 25e9
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	notNegative(&errs, "max model len", c.MaxModelLen)
	notNegative(&errs, "max num seqs", c.MaxNumSeqs)
	notNegative(&errs, "max num batched tokens", c.MaxNumBatchedTokens)
	notNegative(&errs, "stream interval", c.StreamInterval)
	notNegative(&errs, "mean output len", c.MeanOutputLen)
	notNegative(&errs, "exit after", c.ExitAfter)
	notNegative(&errs, "kv capacity tokens", c.KVCapacityTokens)
	notNegative(&errs, "kv block size", c.KVBlockSize)
	notNegative(&errs, "kv cache tokens", c.KVCacheTokens)
	notNegative(&errs, "kv cpu cache tokens", c.KVCPUCacheTokens)
	if c.PrefixCaching {
		if c.Timing != TimingEngine {
			errs = append(errs, errors.New("prefix caching needs engine timing (the cache lives in the engine's scheduler)"))
		}
		if c.KVCacheTokens > 0 && c.KVCacheTokens < c.KVBlockSize {
			errs = append(errs, fmt.Errorf("kv cache tokens %d hold no block of %d tokens", c.KVCacheTokens, c.KVBlockSize))
		}
		if c.KVCPUCacheTokens > 0 && c.KVCPUCacheTokens < c.KVBlockSize {
			errs = append(errs, fmt.Errorf("kv cpu cache tokens %d hold no block of %d tokens", c.KVCPUCacheTokens, c.KVBlockSize))
		}
	}
	if c.KVH2DBandwidth < 0 || c.KVD2HBandwidth < 0 {
		errs = append(errs, fmt.Errorf("kv offload bandwidths must be positive, got %v and %v", c.KVH2DBandwidth, c.KVD2HBandwidth))
	}
	notNegative(&errs, "kv bytes per token", c.KVBytesPerToken)
	if c.LinkBandwidth < 0 {
		errs = append(errs, fmt.Errorf("link bandwidth must be positive, got %v", c.LinkBandwidth))
	}
	if c.Role != RoleAgg && c.Format == FormatTRT {
		errs = append(errs, fmt.Errorf("role %s: the trt format has no disaggregated wire; use vllm or sglang", c.Role))
	}
	if c.Role == RolePrefill && c.BootstrapAddr == "" {
		errs = append(errs, errors.New("role prefill needs a bootstrap address (the host:port decodes pull KV from)"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ttft", c.TTFT}, {"itl", c.ITL}, {"step base", c.StepBase}, {"step per seq", c.StepPerSeq},
		{"prefill per token", c.PrefillPerToken}, {"decode per 1k tokens", c.DecodePerKToken},
		{"prefill per 1k context", c.PrefillPerKContext}, {"kv load latency", c.KVLoadLatency},
		{"startup delay", c.StartupDelay}, {"link latency", c.LinkLatency}, {"kv hold timeout", c.KVHoldTimeout},
	} {
		notNegative(&errs, d.name, d.v)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"fail ratio", c.FailRatio}, {"drop ratio", c.DropRatio}, {"jitter", c.Jitter}} {
		withinUnit(&errs, r.name, r.v)
	}
	if c.TimeScale < 0 {
		errs = append(errs, fmt.Errorf("time scale must be positive, got %v", c.TimeScale))
	}
	var err error
	if c.Spec, err = c.Spec.withDefaults(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// scaled applies the time scale to a modelled duration.
func (c *Config) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * c.TimeScale)
}
