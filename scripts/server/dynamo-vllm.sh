#!/usr/bin/env bash
# dynamo-vllm.sh: one process of a multi-node Dynamo job with vLLM
# workers (InferenceX's dynamo-vllm), in the job's runtime
# (scripts/lib/runtime.sh); infra and router as scripts/lib/dynamo.sh
# says. A worker (prefill, decode, agg) is
#   python3 -m dynamo.vllm --model MODEL [--disaggregation-mode ROLE]
#     --tensor-parallel-size TP (1 with DP_ATTN) --data-parallel-size 1
#     (TP with DP_ATTN) [--enable-expert-parallel when EP > 1 or DP_ATTN]
#     --max-model-len MAX_MODEL_LEN --max-num-seqs CONC
#     --kv-cache-dtype (fp8 for fp8/fp4 weights except gpt-oss, as
#     vllm.sh) --no-enable-prefix-caching
#   with prefill and decode's --kv-transfer-config and NIXL side channel,
#   and a worker spanning nodes' data-parallel flags, as in vllm.sh.
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

# Refused before the infra and router roles start anything.
fleet_offload dynamo-vllm >/dev/null || exit
fleet_dynamo_start dynamo-vllm
fleet_require MODEL TP CONC
fleet_agentic || fleet_require MAX_MODEL_LEN
tp=$TP dp=1
if [ "${DP_ATTN:-false}" = true ]; then dp=$TP tp=1; fi
kv=auto
case "${PRECISION:-}" in
fp8 | fp4 | mxfp4 | nvfp4) [ "$(fleet_model_family)" = gptoss ] || kv=fp8 ;;
esac
roleargs=(--model "$MODEL")
fleet_dynamo_mode
roleargs+=(--tensor-parallel-size "$tp" --data-parallel-size "$dp")
if [ "${EP:-1}" -gt 1 ] || [ "$dp" -gt 1 ]; then roleargs+=(--enable-expert-parallel); fi
if fleet_agentic; then
	roleargs+=(--max-num-seqs "$CONC" --kv-cache-dtype "$kv" --enable-prefix-caching)
else
	roleargs+=(--max-model-len "$MAX_MODEL_LEN" --max-num-seqs "$CONC" --kv-cache-dtype "$kv" --no-enable-prefix-caching)
fi
case "$ROLE" in
prefill | decode) fleet_vllm_kv_args ;;
esac
fleet_vllm_span_args "$dp"
fleet_serve python3 -m dynamo.vllm "${roleargs[@]}" "$@"
