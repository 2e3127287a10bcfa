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
// synthetic numbers for GPU/model pairs.
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
