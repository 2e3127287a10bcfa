#!/usr/bin/env bash
# vllm.sh: vLLM's OpenAI server (`vllm serve`) for one job, on NVIDIA or
# AMD GPUs, in the job's runtime (scripts/lib/runtime.sh). Extra arguments
# (the sweep's server_args) go last on vLLM's command line, so they
# override anything below.
#
# Settings go into vllm-config.yaml in the work dir (vLLM's --config), as
# InferenceMAX's vLLM scripts do:
#   tensor-parallel-size TP; with DP_ATTN, data-parallel-size TP and
#     tensor-parallel-size 1 (vLLM's data-parallel attention: every GPU an
#     attention replica, the MoE layers spread by expert parallelism);
#   enable-expert-parallel when EP > 1 or DP_ATTN;
#   max-num-seqs CONC, max-model-len MAX_MODEL_LEN;
#   max-num-batched-tokens 8192 (131072 for Llama on AMD, ROCm's recipe);
#   gpu-memory-utilization 0.9 (AMD: 0.94 Llama, 0.95 otherwise);
#   kv-cache-dtype fp8 for fp8/fp4 weights except gpt-oss (its attention
#     sinks need a bf16 cache), auto otherwise;
#   async-scheduling, no-enable-prefix-caching (random prompts share
#     nothing; caching would only cost memory);
#   an agentic job (AGENTIC=true, scripts/README.md "Agentic jobs"):
#     enable-prefix-caching and no max-model-len (native context), and by
#     KV_OFFLOAD_BACKEND when KV_OFFLOADING=dram:
#       vllm-simple  kv-transfer-config SimpleCPUOffloadConnector, kv_both,
#         cpu_bytes_to_use_per_rank TOTAL_CPU_DRAM_GB/(TP*PP) GB in bytes,
#         lazy_offload false; PYTHONHASHSEED=0 so that ranks hash alike;
#       vllm-native  kv-offloading-backend native, kv-offloading-size
#         TOTAL_CPU_DRAM_GB (vLLM splits it among its ranks);
#         VLLM_USE_SIMPLE_KV_OFFLOAD unset;
#       lmcache  kv-transfer-config LMCacheConnectorV1, kv_both, with
#         LMCACHE_LOCAL_CPU=True, LMCACHE_CHUNK_SIZE=256 and
#         LMCACHE_MAX_LOCAL_CPU_SIZE its share per rank in GB (in-process
#         LMCache: no separate lmcache server);
#       mooncake  kv-transfer-config MooncakeStoreConnector, kv_both,
#         load_async, with MOONCAKE_CONFIG_PATH=mooncake-config.json in the
#         work dir (embedded mode, P2PHANDSHAKE metadata, the master at
#         MOONCAKE_MASTER, which must be running: fleet does not start
#         mooncake_master; global_segment_size the share per rank, local
#         buffer 4 GB, protocol MOONCAKE_PROTOCOL or tcp, device
#         MOONCAKE_DEVICE or none);
#     other backends stop the launcher (exit 14), as does offload on a
#     prefill or decode worker (its connector is the PD one).
#   speculative decoding (SPEC_DECODING other than none, scripts/lib/spec.sh):
#     speculative-config {"method":M,["model":DRAFT_MODEL,]
#     "num_speculative_tokens":NUM_SPEC_TOKENS}; SPEC_ACCEPT_LENGTH stops
#     the launcher (vLLM cannot pin the acceptance);
#   gpt-oss: cudagraph mode PIECEWISE with cuda-graph-sizes 2048 on NVIDIA,
#     FULL_AND_PIECEWISE with block size 64 on AMD.
# AMD environment (each kept when the sweep or node sets it):
# VLLM_ROCM_USE_AITER=1, VLLM_ROCM_QUICK_REDUCE_QUANTIZATION=INT4,
# HSA_NO_SCRATCH_RECLAIM=1 when the MEC firmware is older than 177 (RCCL
# cannot reclaim memory there); Llama: VLLM_ROCM_USE_AITER_MHA=1 only for
# 8k/1k; gpt-oss: VLLM_USE_AITER_UNIFIED_ATTENTION=1, VLLM_ROCM_USE_AITER_MHA=0.
#
# With ROLE set (a process of a multi-node job, scripts/README.md
# "Multi-node jobs"), on HOST:PORT, the settings in
# vllm-config-<ROLE_NAME>.yaml:
#   prefill, decode  --kv-transfer-config by KV_TRANSFER: nixl (or empty)
#     NixlConnector kv_both; mooncake MooncakeConnector and mori
#     MoRIIOConnector, kv_producer on prefill and kv_consumer on decode;
#     VLLM_NIXL_SIDE_CHANNEL_HOST=NODE_ADDR and
#     VLLM_NIXL_SIDE_CHANNEL_PORT=BOOTSTRAP_PORT;
#   agg  the server above;
#   a worker spanning nodes (data-parallel attention only) adds
#     --data-parallel-size-local GPU_COUNT --data-parallel-start-rank
#     WORKER_RANK*GPU_COUNT --data-parallel-address/--data-parallel-rpc-port
#     from WORKER_LEADER, and --headless on every node but the leader;
#   router  vllm-router (the vLLM project's router, which runs vLLM's
#     two-phase prefill-then-decode flow): --vllm-pd-disaggregation with
#     one --prefill/--decode http://ADDR per worker, or --worker-urls for
#     agg workers; --policy round_robin, random, or consistent_hash for
#     session.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/gpu.sh
. "$here/lib/gpu.sh"
# shellcheck source=scripts/lib/runtime.sh
. "$here/lib/runtime.sh"
# shellcheck source=scripts/lib/rocm.sh
. "$here/lib/rocm.sh"
# shellcheck source=scripts/lib/roles.sh
. "$here/lib/roles.sh"
# shellcheck source=scripts/lib/agentic.sh
. "$here/lib/agentic.sh"
# shellcheck source=scripts/lib/spec.sh
. "$here/lib/spec.sh"

host=127.0.0.1
if [ -n "${ROLE:-}" ]; then
	fleet_role_check vllm prefill decode agg router
	host=${HOST:-0.0.0.0}
fi
if [ "${ROLE:-}" = router ]; then
	fleet_router_needs
	export PYTHONNOUSERSITE=1
	case "$(fleet_role_policy)" in
	session) policy=consistent_hash ;;
	*) policy=$(fleet_role_policy) ;;
	esac
	args=()
	if [ "${DISAGG:-false}" = true ]; then
		fleet_router_needs PREFILL_ENDPOINTS DECODE_ENDPOINTS
		args+=(--vllm-pd-disaggregation)
		for a in $PREFILL_ENDPOINTS; do args+=(--prefill "http://$a"); done
		for a in $DECODE_ENDPOINTS; do args+=(--decode "http://$a"); done
	else
		fleet_router_needs AGG_ENDPOINTS
		args+=(--worker-urls)
		for a in $AGG_ENDPOINTS; do args+=("http://$a"); done
	fi
	args+=(--host "$host" --port "$PORT" --policy "$policy")
	fleet_serve vllm-router "${args[@]}"
	exit
fi

fleet_require MODEL TP CONC PORT
fleet_agentic || fleet_require MAX_MODEL_LEN
offload=$(fleet_offload vllm vllm-simple vllm-native lmcache mooncake) || exit
case "${ROLE:-}" in
prefill | decode)
	if [ -n "$offload" ]; then
		fleet_log "KV offload ($offload) on a vLLM $ROLE worker would need its PD connector and the offload one together, which fleet does not render: offload on aggregated workers only"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	;;
esac
vendor=$(fleet_gpu_vendor)
family=$(fleet_model_family)

tp=$TP dp=1 ep=${EP:-1}
if [ "${DP_ATTN:-false}" = true ]; then
	dp=$TP tp=1
fi
kv=auto
case "${PRECISION:-}" in
fp8 | fp4 | mxfp4 | nvfp4) [ "$family" = gptoss ] || kv=fp8 ;;
esac
batched=8192 mem=0.9
if [ "$vendor" = amd ]; then
	mem=0.95
	if [ "$family" = llama ]; then batched=131072 mem=0.94; fi
	fleet_rocm_env
	export VLLM_ROCM_USE_AITER=${VLLM_ROCM_USE_AITER:-1}
	export VLLM_ROCM_QUICK_REDUCE_QUANTIZATION=${VLLM_ROCM_QUICK_REDUCE_QUANTIZATION:-INT4}
	case "$family" in
	llama)
		mha=0
		[ "${ISL:-}" = 8192 ] && [ "${OSL:-}" = 1024 ] && mha=1
		export VLLM_ROCM_USE_AITER_MHA=${VLLM_ROCM_USE_AITER_MHA:-$mha}
		;;
	gptoss)
		export VLLM_USE_AITER_UNIFIED_ATTENTION=${VLLM_USE_AITER_UNIFIED_ATTENTION:-1}
		export VLLM_ROCM_USE_AITER_MHA=${VLLM_ROCM_USE_AITER_MHA:-0}
		;;
	esac
fi

# The offload tier's settings, per rank where the backend wants that.
ranks=$((TP * ${PP:-1}))
offload_conf=""
case "$offload" in
vllm-simple)
	export PYTHONHASHSEED=0
	offload_conf='{"kv_connector":"SimpleCPUOffloadConnector","kv_role":"kv_both","kv_connector_extra_config":{"cpu_bytes_to_use_per_rank":'$(fleet_offload_bytes_per "$ranks")',"lazy_offload":false}}'
	;;
vllm-native) unset VLLM_USE_SIMPLE_KV_OFFLOAD ;;
lmcache)
	export LMCACHE_LOCAL_CPU=True LMCACHE_CHUNK_SIZE=256
	LMCACHE_MAX_LOCAL_CPU_SIZE=$(fleet_offload_gb_per "$ranks")
	export LMCACHE_MAX_LOCAL_CPU_SIZE
	offload_conf='{"kv_connector":"LMCacheConnectorV1","kv_role":"kv_both"}'
	;;
mooncake)
	if [ -z "${MOONCAKE_MASTER:-}" ]; then
		fleet_log "mooncake KV offload needs a running mooncake_master: set MOONCAKE_MASTER=host:port in the config's env (fleet does not start one)"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	MOONCAKE_CONFIG_PATH=$PWD/$(fleet_role_file mooncake-config json)
	export MOONCAKE_CONFIG_PATH
	cat >"$MOONCAKE_CONFIG_PATH" <<-EOF
		{
		  "local_hostname": "${NODE_ADDR:-localhost}",
		  "metadata_server": "P2PHANDSHAKE",
		  "master_server_address": "$MOONCAKE_MASTER",
		  "global_segment_size": $(fleet_offload_bytes_per "$ranks"),
		  "local_buffer_size": 4000000000,
		  "protocol": "${MOONCAKE_PROTOCOL:-tcp}",
		  "device_name": "${MOONCAKE_DEVICE:-}"
		}
	EOF
	fleet_log "Mooncake config $MOONCAKE_CONFIG_PATH:"
	cat "$MOONCAKE_CONFIG_PATH" >&2
	offload_conf='{"kv_connector":"MooncakeStoreConnector","kv_role":"kv_both","kv_connector_extra_config":{"load_async":true}}'
	;;
esac

spec_conf=""
if fleet_spec_on; then spec_conf=$(fleet_spec_vllm_json) || exit; fi

config=$(fleet_role_file vllm-config yaml)
{
	echo "# vLLM settings of job ${FLEET_JOB_ID:-?}, written by scripts/server/vllm.sh"
	echo "tensor-parallel-size: $tp"
	echo "data-parallel-size: $dp"
	if [ "$ep" -gt 1 ] || [ "$dp" -gt 1 ]; then echo "enable-expert-parallel: true"; fi
	fleet_agentic || echo "max-model-len: $MAX_MODEL_LEN"
	echo "max-num-seqs: $CONC"
	echo "max-num-batched-tokens: $batched"
	echo "gpu-memory-utilization: $mem"
	echo "kv-cache-dtype: $kv"
	echo "async-scheduling: true"
	if fleet_agentic; then
		echo "enable-prefix-caching: true"
	else
		echo "no-enable-prefix-caching: true"
	fi
	[ -z "$offload_conf" ] || echo "kv-transfer-config: '$offload_conf'"
	[ -z "$spec_conf" ] || echo "speculative-config: '$spec_conf'"
	if [ "$offload" = vllm-native ]; then
		echo "kv-offloading-backend: native"
		echo "kv-offloading-size: $TOTAL_CPU_DRAM_GB"
	fi
	if [ "$family" = gptoss ]; then
		if [ "$vendor" = amd ]; then
			echo "compilation-config: '{\"cudagraph_mode\": \"FULL_AND_PIECEWISE\"}'"
			echo "block-size: 64"
		else
			echo "compilation-config: '{\"cudagraph_mode\": \"PIECEWISE\"}'"
			echo "cuda-graph-sizes: 2048"
		fi
	fi
} >"$config"
fleet_log "vLLM config $config:"
cat "$config" >&2

roleargs=()
case "${ROLE:-}" in
prefill | decode) fleet_vllm_kv_args ;;
esac
[ -z "${ROLE:-}" ] || fleet_vllm_span_args "$dp"

export PYTHONNOUSERSITE=1
fleet_serve vllm serve "$MODEL" --host "$host" --port "$PORT" --config "$config" "${roleargs[@]}" "$@"
