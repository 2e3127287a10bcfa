// Package sim is an OpenAI-compatible inference server that stands in for
// vLLM (and, with Config.Format, SGLang or TensorRT-LLM's trtllm-serve)
// wherever there is no GPU: tests, demo sweeps, CI.
//
// # Wire
//
// POST /v1/completions and /v1/chat/completions, streaming (SSE) or not;
// GET /v1/models and GET /health (503 until the startup delay is over).
// Bodies, chunks and errors follow shared/reference/wire-formats.md for
// each server: compact JSON with the server's keys in its order, the
// server's ids ("cmpl-<hex>", SGLang's bare hex, TRT-LLM's "cmpl-<n>"),
// its usage rules (vLLM and TRT-LLM send the usage chunk whenever
// stream_options is present, SGLang only with include_usage true), its
// error shapes, and TRT-LLM's strict request validation. The golden
// transcripts in testdata/ pin the exact bytes.
//
// # Tokens
//
// There is no tokenizer: a token-id prompt has as many tokens as ids; a
// string prompt counts one BOS token plus one token per 4 bytes, rounded
// up; a chat request counts 1 BOS + 4 per message + its content at 4 bytes
// per token + 3 for the assistant header. Generated text is one cheap word
// per token (" tok123"). max_tokens, min_tokens and ignore_eos are
// honoured: without ignore_eos a choice ends at a seeded, geometrically
// distributed end-of-sequence token (mean Config.MeanOutputLen) after
// min_tokens, with finish_reason "stop" and an empty last text.
//
// A request whose prompt plus max_tokens (or max_completion_tokens)
// exceeds MaxModelLen is refused 400 with the server's message (all say
// "maximum context length" but SGLang's for a prompt that alone is too
// long, which is SGLang's own wording); one that could never fit
// KVCapacityTokens or KVCacheTokens is refused 400 too.
//
// # Timing
//
// TimingEngine (the default) models a continuous-batching engine: one
// scheduler goroutine runs steps as vLLM's v1 scheduler does (running
// sequences first, then waiting ones while fewer than MaxNumSeqs run and
// the step's MaxNumBatchedTokens budget lasts, long prompts prefilled in
// chunks) and each step lasts as long as Config's cost model says.
// TimingFixed gives every request exactly TTFT to its first chunk and ITL
// between chunks, regardless of load, for checking a client's accuracy.
// Both keep absolute deadlines, so time spent writing never accumulates,
// and each request writes from its own handler goroutine. TimeScale
// multiplies every modelled duration. Named profiles (Profiles) hold
// synthetic numbers for GPU/model pairs. The decode term grows with the
// context of every decoding sequence (DecodePerKToken); PrefillPerKContext
// adds the attention cost of prefilling after a long context, cached
// tokens included.
//
// # Prefix caching
//
// Config.PrefixCaching (off by default, so that earlier runs keep their
// timing; engine timing only) gives the engine a block-granular KV cache
// after vLLM's (prefix.go, kvcache.go, engine_cache.go). Prompts become
// pseudo-tokens with exactly the counts above: token ids as they are, text
// as a BOS then one token per 4 bytes holding those bytes, chat messages
// through a fixed template (BOS, 4 role tokens and the content per
// message, 3 header tokens), so a conversation resent with one more turn
// shares every block before the old assistant header. Full blocks of
// KVBlockSize tokens are keyed by a chain hash (parent key, block tokens),
// so equal blocks after different prefixes never match. On admission a
// sequence's hit is the longest leading run of its keys cached on the GPU,
// continued on the CPU tier, never covering the last prompt token; it
// prefills only the rest. It holds blocks for its prompt and whole output
// until it ends (queueing, first come first served, when they do not fit
// in KVCacheTokens: nothing is preempted); its prompt blocks are filed
// once computed and stay cached with no user afterwards, freed tail first
// and evicted least recently freed first. With KVCPUCacheTokens, an
// evicted block is copied to a CPU tier (LRU; the copy costs no time), and
// a hit found there waits for its bytes (KVBytesPerToken each) over a
// KVH2DBandwidth link that carries one load at a time, plus KVLoadLatency,
// before the rest of its prefill. Usage then carries
// prompt_tokens_details {"cached_tokens": N} in every format (vLLM and
// SGLang send it only with a server flag; the simulator sends it whenever
// the cache is on), and /metrics counts queries and hits in tokens under
// vLLM's names: vllm:prefix_cache_queries_total and _hits_total (GPU),
// vllm:external_prefix_cache_* (CPU tier, only when there is one),
// vllm:prompt_tokens_by_source_total{source=local_cache_hit|
// external_kv_transfer|local_compute} (a decode's pulled prompt counts as
// external), vllm:kv_cache_usage_perc (blocks running sequences hold) and
// vllm:cpu_kv_cache_usage_perc.
//
// # Disaggregated prefill/decode
//
// Config.Role makes a server one half of a PD deployment (files
// role_prefill.go, role_decode.go, transfer.go); Router (router.go) is the
// front end, and Leader/RunFollower (dist.go) tie the ranks of a
// multi-node worker together.
//
// A prefill (RolePrefill) runs the same engine on prompt work only. A vLLM
// request with kv_transfer_params {do_remote_decode: true} (the proxy's
// phase 1), or an SGLang one with bootstrap_room, gets one token; the
// prompt's KV stays reserved (KVCapacityTokens) under the request id or
// room until a decode pulls and releases it on the prefill's bootstrap
// endpoint (BootstrapHandler: POST /kv/pull, /kv/release), or until
// KVHoldTimeout. The vLLM answer carries kv_transfer_params naming the
// engine, block ids, BootstrapAddr and the request id.
//
// A decode (RoleDecode) given those kv_transfer_params (or the bootstrap
// fields) pulls from the prefill, waits LinkLatency + prompt tokens x
// KVBytesPerToken / LinkBandwidth with transfers queueing FIFO for its
// link, releases, and submits the sequences with their prompts already
// computed: its steps carry no prefill chunks, so its inter-token latency
// does not move when prompt load rises, and the first token comes one
// decode step after the KV lands. A failed pull or release answers 500.
// Requests without transfer fields are served whole by either role.
//
// The Router runs vLLM's two-phase proxy flow (Format vllm) or SGLang's
// pair-send (Format sglang: bootstrap_host/port/room added, the request
// sent to both at once, the bootstrap port read from the prefill's GET
// /server_info), or proxies to aggregated workers; it picks workers round
// robin, at random or by session header, relays the decode's answer byte
// for byte within line and body limits, cancels upstream requests when
// the client goes, answers 502 when a worker is unreachable, and reports
// GET /health as Dynamo's frontend does (200 only when every worker is
// healthy, with the healthy ones as instances). Every worker also serves
// GET /metrics in Prometheus' format.
//
// # Faults
//
// FailRatio answers a seeded fraction of requests 500; DropRatio cuts a
// seeded fraction of connections mid-stream; StartupDelay keeps /health at
// 503 and refuses requests for a while; ExitAfter makes Serve drop every
// connection and return ErrExitAfter after that many completed requests.
package sim
