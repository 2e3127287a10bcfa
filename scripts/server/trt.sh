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
# Inside a Slurm job the server runs under `mpirun -n 1` as InferenceMAX
# does: MPI would otherwise take the Slurm step for its own world.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/gpu.sh
. "$here/lib/gpu.sh"
# shellcheck source=scripts/lib/runtime.sh
. "$here/lib/runtime.sh"

fleet_require MODEL TP CONC ISL OSL MAX_MODEL_LEN PORT
vendor=$(fleet_gpu_vendor)
if [ "$vendor" != nvidia ]; then
	fleet_log "TensorRT-LLM runs on NVIDIA GPUs only; this machine has $vendor GPUs"
	exit "$FLEET_EXIT_BAD_ENV"
fi
arch=$(fleet_gpu_arch)
family=$(fleet_model_family)
seq="${ISL}x${OSL}"
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
else
	tokens=$(((CONC + ISL + 64 + 63) / 64 * 64))
	[ "$tokens" -lt 8192 ] && tokens=8192
fi

extra=trtllm-extra.yaml
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
	echo "  enable_block_reuse: false"
	echo "stream_interval: $stream"
	if [ -n "$moe" ]; then
		echo "moe_config:"
		echo "  backend: $moe"
	fi
	if [ "$family" = llama ] && [ "$seq" = 1024x1024 ] && [ "$TP" -lt 8 ]; then
		echo "batch_wait_max_tokens_ratio: 0.9"
		echo "batch_wait_timeout_iters: 20"
	fi
} >"$extra"
fleet_log "TensorRT-LLM extra options $extra:"
cat "$extra" >&2

cmd=(trtllm-serve "$MODEL" --host 127.0.0.1 --port "$PORT" --backend pytorch --trust_remote_code
	--tp_size "$TP" --ep_size "${EP:-1}" --pp_size "${PP:-1}"
	--max_seq_len "$MAX_MODEL_LEN" --max_batch_size "$CONC" --max_num_tokens "$tokens"
	--extra_llm_api_options "$extra")
if [ -n "${SLURM_JOB_ID:-}" ]; then
	cmd=(mpirun -n 1 --oversubscribe --allow-run-as-root "${cmd[@]}")
fi
export PYTHONNOUSERSITE=1
fleet_serve "${cmd[@]}" "$@"
