#!/usr/bin/env bash
# dynamo-trt.sh: one process of a multi-node Dynamo job with TensorRT-LLM
# workers (InferenceX's dynamo-trt), on NVIDIA GPUs, in the job's runtime
# (scripts/lib/runtime.sh); infra and router as scripts/lib/dynamo.sh
# says. A worker (prefill, decode, agg) is
#   python3 -m dynamo.trtllm --model-path MODEL [--disaggregation-mode
#     ROLE] --extra-engine-args trtllm-engine-<ROLE_NAME>.yaml
# (under `mpirun -n 1` inside a Slurm job, as trt.sh), with the engine
# options in that file: tensor_parallel_size TP,
# moe_expert_parallel_size EP, enable_attention_dp DP_ATTN,
# max_batch_size CONC, max_num_tokens (as trt.sh), max_seq_len
# MAX_MODEL_LEN, kv_cache_config (free_gpu_memory_fraction 0.8, no block
# reuse); prefill and decode add cache_transceiver_config (backend by
# KV_TRANSFER: nixl NIXL, ucx UCX, mpi MPI, empty DEFAULT;
# max_tokens_in_buffer MAX_MODEL_LEN, 131072 for an agentic job),
# prefill disable_overlap_scheduler.
# A worker spanning nodes (one MPI job across them) is not supported.
# Extra arguments (the sweep's server_args) go last on the workers'.
# An agentic job (AGENTIC=true, scripts/README.md "Agentic jobs") keeps
# the prefix cache on and the context uncapped; the Dynamo launchers
# render no KV offload: KV_OFFLOADING=dram stops them (exit 14).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/gpu.sh
. "$here/lib/gpu.sh"
# shellcheck source=scripts/lib/runtime.sh
. "$here/lib/runtime.sh"
# shellcheck source=scripts/lib/roles.sh
. "$here/lib/roles.sh"
# shellcheck source=scripts/lib/dynamo.sh
. "$here/lib/dynamo.sh"
# shellcheck source=scripts/lib/agentic.sh
. "$here/lib/agentic.sh"
# shellcheck source=scripts/lib/trt.sh
. "$here/lib/trt.sh"

# Refused before the infra and router roles start anything.
fleet_offload dynamo-trt >/dev/null || exit
fleet_dynamo_start dynamo-trt
fleet_require MODEL TP CONC
fleet_agentic || fleet_require ISL MAX_MODEL_LEN
if [ "$(fleet_gpu_vendor)" != nvidia ]; then
	fleet_log "TensorRT-LLM runs on NVIDIA GPUs only"
	exit "$FLEET_EXIT_BAD_ENV"
fi
if fleet_role_spans; then
	fleet_log "a TensorRT-LLM worker spanning nodes needs one MPI job across them, which fleet does not start: keep each $ROLE worker on one node (tp $TP, $WORKER_NODES nodes)"
	exit "$FLEET_EXIT_BAD_ENV"
fi
transceiver=$(fleet_trt_transceiver) || exit
tokens=$(((CONC + ${ISL:-0} + 64 + 63) / 64 * 64))
[ "$tokens" -ge 8192 ] || tokens=8192

engine=$(fleet_role_file trtllm-engine yaml)
{
	echo "# TensorRT-LLM engine options of job ${FLEET_JOB_ID:-?}, written by scripts/server/dynamo-trt.sh"
	echo "tensor_parallel_size: $TP"
	echo "moe_expert_parallel_size: ${EP:-1}"
	echo "enable_attention_dp: ${DP_ATTN:-false}"
	echo "max_batch_size: $CONC"
	echo "max_num_tokens: $tokens"
	fleet_agentic || echo "max_seq_len: $MAX_MODEL_LEN"
	echo "kv_cache_config:"
	echo "  free_gpu_memory_fraction: 0.8"
	if fleet_agentic; then
		echo "  enable_block_reuse: true"
		echo "enable_chunked_prefill: true"
	else
		echo "  enable_block_reuse: false"
	fi
	fleet_trt_disagg_yaml "$transceiver"
} >"$engine"
fleet_log "TensorRT-LLM engine options $engine:"
cat "$engine" >&2

roleargs=(--model-path "$MODEL")
fleet_dynamo_mode
roleargs+=(--extra-engine-args "$engine")
cmd=(python3 -m dynamo.trtllm "${roleargs[@]}")
if [ -n "${SLURM_JOB_ID:-}" ]; then
	cmd=(mpirun -n 1 --oversubscribe --allow-run-as-root "${cmd[@]}")
fi
fleet_serve "${cmd[@]}" "$@"
