#!/usr/bin/env bash
# trt.sh: TensorRT-LLM's OpenAI server (`trtllm-serve`, PyTorch backend)
# for one job, on NVIDIA GPUs, in the job's runtime
# (scripts/lib/runtime.sh). TensorRT-LLM has no ROCm build: on AMD the
# launcher stops with a message. Extra arguments (the sweep's
# server_args) go last on the command line.
#
# Command line: --tp_size TP --ep_size EP --pp_size PP, --max_seq_len
# MAX_MODEL_LEN, --max_batch_size CONC, --max_num_tokens (gpt-oss 20000;
# otherwise CONC + ISL + 64 rounded up to 64, at least 8192), and the
# extra options in trtllm-extra.yaml in the work dir:
#   cuda_graph_config: padding on, graphs for batch sizes up to CONC;
#   enable_attention_dp: DP_ATTN, with attention_dp_config (balance on,
#     no batching wait, timeout 60 iterations) when true;
#   kv_cache_config: block reuse off (random prompts share nothing);
#     dtype fp8 except gpt-oss on Hopper (auto) and bf16/fp16 weights;
#     free_gpu_memory_fraction DeepSeek fp8 0.75, DeepSeek fp4 0.8,
#     gpt-oss 0.85, others 0.9;
#   stream_interval 10 (gpt-oss 20);
#   Llama 1k/1k below TP 8: batch_wait_max_tokens_ratio 0.9 and
#     batch_wait_timeout_iters 20;
#   moe_config.backend for mixture-of-experts models, the rule of
#     InferenceMAX's TensorRT-LLM 1.1 scripts (benchmarks/dsr1_fp4_b200_trt.sh,
#     dsr1_fp8_h200_trt_slurm.sh, gptoss_fp4_{b200,h200}_trt.sh):
#       DeepSeek fp4: CUTLASS when 1k/1k or 1k/8k at concurrency >= 256, or
#         8k/1k above concurrency 32; TRTLLM otherwise. (So DeepSeek-R1
#         fp4 on B200 tp8 ep8 dp-attn at conc 256 gets attention DP and
#         CUTLASS.)
#       DeepSeek fp8: CUTLASS.
#       gpt-oss: TRTLLM on Blackwell, TRITON on Hopper (TRTLLM's MoE
#         kernels are Blackwell-only).
#   speculative decoding (SPEC_DECODING other than none, scripts/lib/spec.sh):
#     speculative_config with decoding_type MTP and num_nextn_predict_layers
#     NUM_SPEC_TOKENS (mtp), or Eagle3 / DraftTarget with max_draft_len
#     NUM_SPEC_TOKENS and speculative_model_dir DRAFT_MODEL; a whole
#     SPEC_ACCEPT_LENGTH L sets TLLM_SPEC_DECODE_FORCE_NUM_ACCEPTED_TOKENS
#     to L-1 (a fractional one stops the launcher, exit 14).
# An agentic job (AGENTIC=true, scripts/README.md "Agentic jobs"): no
# --max_seq_len (native context), --max_num_tokens 8192 with
# enable_chunked_prefill (ISL and OSL are not set), and kv_cache_config
# with enable_block_reuse true, tokens_per_block 128 and, with
# KV_OFFLOADING=dram and KV_OFFLOAD_BACKEND native, host_cache_size
# TOTAL_CPU_DRAM_GB/(TP*PP) GB in bytes (each rank's); other backends
# stop the launcher (exit 14).
# Inside a Slurm job the server runs under `mpirun -n 1` as InferenceMAX
# does: MPI would otherwise take the Slurm step for its own world.
#
# With ROLE set (a process of a multi-node job, scripts/README.md
# "Multi-node jobs"), on HOST:PORT, the options in
# trtllm-extra-<ROLE_NAME>.yaml, given by --config:
#   prefill (a context server), decode (a generation server): the options
#     above plus cache_transceiver_config (backend by KV_TRANSFER: nixl
#     NIXL, ucx UCX, mpi MPI, empty DEFAULT; max_tokens_in_buffer
#     MAX_MODEL_LEN, 131072 for an agentic job); context servers disable
#     the overlap scheduler;
#   agg  the options above;
#   router  `trtllm-serve disaggregated -c trtllm-disagg-<ROLE_NAME>.yaml`
#     with the context and generation servers' urls from
#     PREFILL_ENDPOINTS and DECODE_ENDPOINTS, round robin among each.
# A worker spanning nodes needs one MPI job across them, which fleet does
# not start: WORKER_NODES > 1 is an error, as are an aggregated job's
# router and router policies other than round_robin.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/gpu.sh
. "$here/lib/gpu.sh"
# shellcheck source=scripts/lib/runtime.sh
. "$here/lib/runtime.sh"
# shellcheck source=scripts/lib/roles.sh
. "$here/lib/roles.sh"
# shellcheck source=scripts/lib/agentic.sh
. "$here/lib/agentic.sh"
# shellcheck source=scripts/lib/trt.sh
. "$here/lib/trt.sh"
# shellcheck source=scripts/lib/spec.sh
. "$here/lib/spec.sh"

host=127.0.0.1
if [ -n "${ROLE:-}" ]; then
	fleet_role_check trt prefill decode agg router
	host=${HOST:-0.0.0.0}
fi
export PYTHONNOUSERSITE=1
if [ "${ROLE:-}" = router ]; then
	fleet_router_needs
	if [ "${DISAGG:-false}" != true ]; then
		fleet_log "TensorRT-LLM's disaggregated server routes between context and generation servers only: an aggregated multi-node job has no trt router"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	if [ "$(fleet_role_policy)" != round_robin ]; then
		fleet_log "TensorRT-LLM's disaggregated server has no $ROUTER_POLICY policy: want round_robin"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	fleet_router_needs PREFILL_ENDPOINTS DECODE_ENDPOINTS
	read -ra ctx <<<"$PREFILL_ENDPOINTS"
	read -ra gen <<<"$DECODE_ENDPOINTS"
	cfg=$(fleet_role_file trtllm-disagg yaml)
	{
		echo "# TensorRT-LLM disaggregated server of job ${FLEET_JOB_ID:-?}, written by scripts/server/trt.sh"
		echo "hostname: $host"
		echo "port: $PORT"
		echo "backend: pytorch"
		echo "context_servers:"
		echo "  num_instances: ${#ctx[@]}"
		echo "  router:"
		echo "    type: round_robin"
		echo "  urls:"
		for a in "${ctx[@]}"; do echo "    - \"$a\""; done
		echo "generation_servers:"
		echo "  num_instances: ${#gen[@]}"
		echo "  router:"
		echo "    type: round_robin"
		echo "  urls:"
		for a in "${gen[@]}"; do echo "    - \"$a\""; done
	} >"$cfg"
	fleet_log "TensorRT-LLM disaggregated server config $cfg:"
	cat "$cfg" >&2
	fleet_serve trtllm-serve disaggregated -c "$cfg"
	exit
fi

fleet_require MODEL TP CONC PORT
fleet_agentic || fleet_require ISL OSL MAX_MODEL_LEN
offload=$(fleet_offload trt native) || exit
vendor=$(fleet_gpu_vendor)
if [ "$vendor" != nvidia ]; then
	fleet_log "TensorRT-LLM runs on NVIDIA GPUs only; this machine has $vendor GPUs"
	exit "$FLEET_EXIT_BAD_ENV"
fi
arch=$(fleet_gpu_arch)
family=$(fleet_model_family)
seq="${ISL:-0}x${OSL:-0}"
dp_attn=${DP_ATTN:-false}

kv=fp8 mem=0.9 stream=10 moe=""
case "${PRECISION:-}" in bf16 | fp16) kv=auto ;; esac
case "$family" in
deepseek)
	if [ "${PRECISION:-}" = fp4 ]; then
		mem=0.8 moe=TRTLLM
		if { [ "$seq" = 1024x1024 ] || [ "$seq" = 1024x8192 ]; } && [ "$CONC" -ge 256 ]; then moe=CUTLASS; fi
		if [ "$seq" = 8192x1024 ] && [ "$CONC" -gt 32 ]; then moe=CUTLASS; fi
	else
		mem=0.75 moe=CUTLASS
	fi
	;;
gptoss)
	mem=0.85 stream=20 moe=TRTLLM
	if [ "$arch" = hopper ]; then moe=TRITON kv=auto; fi
	;;
esac
if [ "$family" = gptoss ]; then
	tokens=20000
elif fleet_agentic; then
	tokens=8192
else
	tokens=$(((CONC + ISL + 64 + 63) / 64 * 64))
	[ "$tokens" -lt 8192 ] && tokens=8192
fi

if [ -n "${ROLE:-}" ] && fleet_role_spans; then
	fleet_log "a TensorRT-LLM worker spanning nodes needs one MPI job across them, which fleet does not start: keep each $ROLE worker on one node (tp $TP, $WORKER_NODES nodes)"
	exit "$FLEET_EXIT_BAD_ENV"
fi
transceiver=$(fleet_trt_transceiver) || exit

spec=false
if fleet_spec_on; then
	spec=true
	fleet_spec_trt_env
fi
extra=$(fleet_role_file trtllm-extra yaml)
{
	echo "# TensorRT-LLM options of job ${FLEET_JOB_ID:-?}, written by scripts/server/trt.sh"
	echo "cuda_graph_config:"
	echo "  enable_padding: true"
	echo "  max_batch_size: $CONC"
	echo "enable_attention_dp: $dp_attn"
	if [ "$dp_attn" = true ]; then
		echo "attention_dp_config:"
		echo "  batching_wait_iters: 0"
		echo "  enable_balance: true"
		echo "  timeout_iters: 60"
	fi
	echo "kv_cache_config:"
	echo "  dtype: $kv"
	echo "  free_gpu_memory_fraction: $mem"
	if fleet_agentic; then
		echo "  enable_block_reuse: true"
		echo "  tokens_per_block: 128"
		[ "$offload" != native ] || echo "  host_cache_size: $(fleet_offload_bytes_per $((TP * ${PP:-1})))"
	else
		echo "  enable_block_reuse: false"
	fi
	echo "stream_interval: $stream"
	# Prompts of 10^4 to 10^6 tokens go in chunks of max_num_tokens.
	! fleet_agentic || echo "enable_chunked_prefill: true"
	if [ -n "$moe" ]; then
		echo "moe_config:"
		echo "  backend: $moe"
	fi
	if [ "$family" = llama ] && [ "$seq" = 1024x1024 ] && [ "$TP" -lt 8 ]; then
		echo "batch_wait_max_tokens_ratio: 0.9"
		echo "batch_wait_timeout_iters: 20"
	fi
	fleet_trt_disagg_yaml "$transceiver"
	[ "$spec" = false ] || fleet_spec_trt_yaml
} >"$extra"
fleet_log "TensorRT-LLM extra options $extra:"
cat "$extra" >&2

# Newer trtllm-serve names the options file --config; a multi-node job's
# images (with disaggregated serving) have it.
opt=--extra_llm_api_options
[ -z "${ROLE:-}" ] || opt=--config
cmd=(trtllm-serve "$MODEL" --host "$host" --port "$PORT" --backend pytorch --trust_remote_code
	--tp_size "$TP" --ep_size "${EP:-1}" --pp_size "${PP:-1}")
fleet_agentic || cmd+=(--max_seq_len "$MAX_MODEL_LEN")
cmd+=(--max_batch_size "$CONC" --max_num_tokens "$tokens" "$opt" "$extra")
if [ -n "${SLURM_JOB_ID:-}" ]; then
	cmd=(mpirun -n 1 --oversubscribe --allow-run-as-root "${cmd[@]}")
fi
fleet_serve "${cmd[@]}" "$@"
