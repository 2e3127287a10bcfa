#!/usr/bin/env bash
# dynamo-sglang.sh: one process of a multi-node Dynamo job with SGLang
# workers (InferenceX's dynamo-sglang), in the job's runtime
# (scripts/lib/runtime.sh); infra and router as scripts/lib/dynamo.sh
# says. A worker (prefill, decode, agg) is
#   python3 -m dynamo.sglang --model-path MODEL --trust-remote-code
#     --tp-size TP --dp-size 1 (TP and --enable-dp-attention with
#     DP_ATTN) --ep-size EP --context-length MAX_MODEL_LEN
#     --max-running-requests CONC --disable-radix-cache
#   prefill and decode add --disaggregation-mode ROLE
#     --disaggregation-transfer-backend KV_TRANSFER (nixl when empty, as
#     Dynamo's recipes use), prefill --disaggregation-bootstrap-port
#     BOOTSTRAP_PORT; a worker spanning nodes adds --dist-init-addr
#     WORKER_LEADER --nnodes WORKER_NODES --node-rank WORKER_RANK.
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
fleet_offload dynamo-sglang >/dev/null || exit
fleet_dynamo_start dynamo-sglang
fleet_require MODEL TP CONC
fleet_agentic || fleet_require MAX_MODEL_LEN
roleargs=(--model-path "$MODEL" --trust-remote-code --tp-size "$TP")
if [ "${DP_ATTN:-false}" = true ]; then
	roleargs+=(--dp-size "$TP" --enable-dp-attention)
else
	roleargs+=(--dp-size 1)
fi
roleargs+=(--ep-size "${EP:-1}")
fleet_agentic || roleargs+=(--context-length "$MAX_MODEL_LEN")
roleargs+=(--max-running-requests "$CONC")
fleet_agentic || roleargs+=(--disable-radix-cache)
fleet_dynamo_mode
case "$ROLE" in
prefill | decode) roleargs+=(--disaggregation-transfer-backend "${KV_TRANSFER:-nixl}") ;;
esac
if [ "$ROLE" = prefill ]; then
	fleet_require BOOTSTRAP_PORT
	roleargs+=(--disaggregation-bootstrap-port "$BOOTSTRAP_PORT")
fi
if fleet_role_spans; then
	fleet_require WORKER_LEADER WORKER_RANK
	roleargs+=(--dist-init-addr "$WORKER_LEADER" --nnodes "$WORKER_NODES" --node-rank "$WORKER_RANK")
fi
fleet_serve python3 -m dynamo.sglang "${roleargs[@]}" "$@"
