#!/usr/bin/env bash
# sglang.sh: SGLang's server (`python3 -m sglang.launch_server`) for one
# job, on NVIDIA or AMD GPUs, in the job's runtime (scripts/lib/runtime.sh).
# Extra arguments (the sweep's server_args) go last and override these.
#
# Settings, after InferenceMAX's SGLang scripts:
#   --tp-size TP --ep-size EP; with DP_ATTN, --dp-size TP and
#     --enable-dp-attention (one attention replica per GPU), else --dp-size 1;
#   --context-length MAX_MODEL_LEN; --disable-radix-cache (random prompts
#     share no prefix); --stream-interval 10;
#   --cuda-graph-max-bs CONC and --max-running-requests max(CONC, dp): the
#     batch never grows past the client's concurrency;
#   --mem-fraction-static 0.82 Hopper, 0.85 Blackwell, 0.8 AMD;
#   --chunked-prefill-size and --max-prefill-tokens 32768 Hopper, 16384
#     Blackwell, 196608 AMD (32768 for 8k/1k above concurrency 32);
#   DeepSeek: --attention-backend flashinfer (Hopper), trtllm_mla
#     (Blackwell), aiter (AMD);
#   fp4 weights: --kv-cache-dtype fp8_e4m3; on NVIDIA also
#     --quantization modelopt_fp4 and, on Blackwell, --moe-runner-backend
#     flashinfer_trtllm;
#   AMD: SGLANG_USE_AITER=1, ROCM_QUICK_REDUCE_QUANTIZATION=INT4,
#     --num-continuous-decode-steps 4, HSA_NO_SCRATCH_RECLAIM (lib/rocm.sh).
#   an agentic job (AGENTIC=true, scripts/README.md "Agentic jobs"): the
#     radix cache on (no --disable-radix-cache) and no --context-length
#     (native context); with KV_OFFLOADING=dram and KV_OFFLOAD_BACKEND
#     hicache, --enable-hierarchical-cache --hicache-size
#     TOTAL_CPU_DRAM_GB/TP (GB per rank, one host pool)
#     --page-size 64 --hicache-io-backend kernel --hicache-mem-layout
#     page_first --hicache-write-policy write_through; other backends stop
#     the launcher (exit 14).
#   speculative decoding (SPEC_DECODING other than none, scripts/lib/spec.sh):
#     --speculative-algorithm NEXTN (mtp), EAGLE3 or STANDALONE
#     (draft_model) with --speculative-draft-model-path DRAFT_MODEL,
#     --speculative-num-steps NUM_SPEC_TOKENS --speculative-eagle-topk 1
#     --speculative-num-draft-tokens NUM_SPEC_TOKENS+1, and
#     SGLANG_SIMULATE_ACC_LEN=SPEC_ACCEPT_LENGTH when it is set.
#
# With ROLE set (a process of a multi-node job, scripts/README.md
# "Multi-node jobs"), on HOST:PORT:
#   prefill, decode  the server above with --disaggregation-mode ROLE and
#     --disaggregation-transfer-backend KV_TRANSFER (mooncake when empty);
#     prefill adds --disaggregation-bootstrap-port BOOTSTRAP_PORT; decode
#     keeps --disable-radix-cache unless the server args ask for
#     --disaggregation-decode-enable-radix-cache;
#   agg  the server above;
#   a worker spanning nodes adds --dist-init-addr WORKER_LEADER --nnodes
#     WORKER_NODES --node-rank WORKER_RANK;
#   router  sglang_router's launch_router: --pd-disaggregation with one
#     --prefill http://ADDR BOOTSTRAP_PORT per prefill worker and one
#     --decode http://ADDR per decode worker, or --worker-urls for agg
#     workers; --policy round_robin, random, or consistent_hashing for
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
	fleet_role_check sglang prefill decode agg router
	host=${HOST:-0.0.0.0}
fi
export PYTHONNOUSERSITE=1
if [ "${ROLE:-}" = router ]; then
	fleet_router_needs
	case "$(fleet_role_policy)" in
	session) policy=consistent_hashing ;;
	*) policy=$(fleet_role_policy) ;;
	esac
	args=(-m sglang_router.launch_router)
	if [ "${DISAGG:-false}" = true ]; then
		fleet_router_needs PREFILL_ENDPOINTS DECODE_ENDPOINTS PREFILL_BOOTSTRAP_PORTS
		args+=(--pd-disaggregation)
		read -ra boots <<<"$PREFILL_BOOTSTRAP_PORTS"
		read -ra prefills <<<"$PREFILL_ENDPOINTS"
		if [ "${#boots[@]}" != "${#prefills[@]}" ]; then
			fleet_log "PREFILL_BOOTSTRAP_PORTS ($PREFILL_BOOTSTRAP_PORTS) does not pair with PREFILL_ENDPOINTS ($PREFILL_ENDPOINTS)"
			exit "$FLEET_EXIT_BAD_ENV"
		fi
		i=0
		for a in "${prefills[@]}"; do
			args+=(--prefill "http://$a" "${boots[$i]}")
			i=$((i + 1))
		done
		for a in $DECODE_ENDPOINTS; do args+=(--decode "http://$a"); done
	else
		fleet_router_needs AGG_ENDPOINTS
		args+=(--worker-urls)
		for a in $AGG_ENDPOINTS; do args+=("http://$a"); done
	fi
	args+=(--host "$host" --port "$PORT" --policy "$policy")
	fleet_serve python3 "${args[@]}"
	exit
fi

fleet_require MODEL TP CONC PORT
fleet_agentic || fleet_require MAX_MODEL_LEN
offload=$(fleet_offload sglang hicache) || exit
vendor=$(fleet_gpu_vendor)
arch=$(fleet_gpu_arch)
family=$(fleet_model_family)

dp=1
args=(-m sglang.launch_server
	--model-path "$MODEL" --host "$host" --port "$PORT" --trust-remote-code
	--tp-size "$TP")
if [ "${DP_ATTN:-false}" = true ]; then
	dp=$TP
	args+=(--dp-size "$dp" --enable-dp-attention)
else
	args+=(--dp-size 1)
fi
args+=(--ep-size "${EP:-1}")

case "$arch" in
blackwell) mem=0.85 prefill=16384 backend=trtllm_mla ;;
cdna3 | cdna4) mem=0.8 prefill=196608 backend=aiter ;;
*) mem=0.82 prefill=32768 backend=flashinfer ;;
esac
if [ "$vendor" = amd ] && [ "${ISL:-}" = 8192 ] && [ "${OSL:-}" = 1024 ] && [ "$CONC" -gt 32 ]; then
	prefill=32768
fi
running=$((CONC > dp ? CONC : dp))
fleet_agentic || args+=(--context-length "$MAX_MODEL_LEN")
args+=(--mem-fraction-static "$mem"
	--cuda-graph-max-bs "$CONC"
	--max-running-requests "$running"
	--chunked-prefill-size "$prefill"
	--max-prefill-tokens "$prefill")
# Decode keeps the prefix cache off unless the server args turn on
# SGLang's decode-side cache; an agentic job's prefixes are what it
# measures.
if fleet_agentic; then
	:
elif [ "${ROLE:-}" != decode ] || [[ " $* " != *" --disaggregation-decode-enable-radix-cache "* ]]; then
	args+=(--disable-radix-cache)
fi
if [ "$offload" = hicache ]; then
	args+=(--enable-hierarchical-cache --hicache-size "$(fleet_offload_gb_per "$TP")" --page-size 64
		--hicache-io-backend kernel --hicache-mem-layout page_first --hicache-write-policy write_through)
fi
args+=(--stream-interval 10)
[ "$family" = deepseek ] && args+=(--attention-backend "$backend")
if [ "${PRECISION:-}" = fp4 ]; then
	args+=(--kv-cache-dtype fp8_e4m3)
	if [ "$vendor" = nvidia ]; then
		args+=(--quantization modelopt_fp4)
		[ "$arch" = blackwell ] && args+=(--moe-runner-backend flashinfer_trtllm)
	fi
fi
if [ "$vendor" = amd ]; then
	fleet_rocm_env
	export SGLANG_USE_AITER=${SGLANG_USE_AITER:-1}
	export ROCM_QUICK_REDUCE_QUANTIZATION=${ROCM_QUICK_REDUCE_QUANTIZATION:-INT4}
	args+=(--num-continuous-decode-steps 4)
fi
case "${ROLE:-}" in
prefill | decode)
	args+=(--disaggregation-mode "$ROLE" --disaggregation-transfer-backend "${KV_TRANSFER:-mooncake}")
	if [ "$ROLE" = prefill ]; then
		fleet_require BOOTSTRAP_PORT
		args+=(--disaggregation-bootstrap-port "$BOOTSTRAP_PORT")
	fi
	;;
esac
if [ -n "${ROLE:-}" ] && fleet_role_spans; then
	fleet_require WORKER_LEADER WORKER_RANK
	args+=(--dist-init-addr "$WORKER_LEADER" --nnodes "$WORKER_NODES" --node-rank "$WORKER_RANK")
fi
if fleet_spec_on; then fleet_spec_sglang_args; fi

fleet_serve python3 "${args[@]}" "$@"
