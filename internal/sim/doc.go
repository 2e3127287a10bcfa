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
// # Faults
//
// FailRatio answers a seeded fraction of requests 500; DropRatio cuts a
// seeded fraction of connections mid-stream; StartupDelay keeps /health at
// 503 and refuses requests for a while; ExitAfter makes Serve drop every
// connection and return ErrExitAfter after that many completed requests.
package sim
