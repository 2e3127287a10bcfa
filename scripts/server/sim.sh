#!/usr/bin/env bash
# sim.sh: fleet's own inference-server simulator, for machines without a
# GPU (tests, the demo sweep). Extra arguments are sim flags from the
# sweep's server_args (e.g. --profile h200-llama70b-tp8 --time-scale 0.05).
#
# With ROLE set (a process of a multi-node job, scripts/README.md
# "Multi-node jobs") the simulator plays that role on HOST:PORT:
#   prefill, decode  --role R --bootstrap-port BOOTSTRAP_PORT (prefill also
#                    --advertise-host NODE_ADDR), and for a
#                    worker spanning nodes --nnodes WORKER_NODES
#                    --node-rank WORKER_RANK --dist-init-addr WORKER_LEADER
#   agg              --role agg (the same multi-node flags)
#   router           --role router, one --prefill/--decode/--agg http://ADDR
#                    per entry of PREFILL_/DECODE_/AGG_ENDPOINTS, --policy
#                    ROUTER_POLICY (round_robin when empty)
# The simulator needs no infra process: ROLE=infra is an error.
#
# An agentic job (AGENTIC=true, scripts/README.md "Agentic jobs") gets the
# simulator's KV cache: --max-model-len 1048576 (no cap short of the
# 1M-context models), --kv-cache-tokens SIM_KV_CACHE_TOKENS (1048576),
# and with KV_OFFLOADING=dram a CPU tier of --kv-cpu-cache-tokens
# TOTAL_CPU_DRAM_GB x 10^9 / bytes per token, the bytes being the server
# args' --kv-bytes-per-token or 327680 (Llama-70B's bf16 KV). The
# simulator models one generic CPU tier: every KV_OFFLOAD_BACKEND maps
# to it. Server args go last and override any of these.
#
# Speculative decoding (SPEC_DECODING other than none, scripts/lib/spec.sh):
# --spec-method SPEC_DECODING --spec-tokens NUM_SPEC_TOKENS, and
# --spec-accept-length SPEC_ACCEPT_LENGTH when it is set (the golden
# mode); the acceptance otherwise is the simulator's default
# (--spec-acceptance 0.7) or the server args'.
# A job that evals with fleet's built-in runner has its dataset at
# evals/dataset.jsonl: the simulator answers the questions there that
# carry a sim_answer (--answers), so that a sim sweep's score is known.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/runtime.sh
. "$here/lib/runtime.sh"
# shellcheck source=scripts/lib/agentic.sh
. "$here/lib/agentic.sh"
# shellcheck source=scripts/lib/spec.sh
. "$here/lib/spec.sh"

# kvargs: the agentic KV flags, from the environment and the server args.
kvargs=()
if fleet_agentic; then
	offload=$(fleet_offload sim hicache vllm-simple vllm-native lmcache mooncake native) || exit
	kvargs+=(--kv-cache-tokens "${SIM_KV_CACHE_TOKENS:-1048576}")
	if [ -n "$offload" ]; then
		bpt=327680 prev=""
		for a in "$@"; do
			case "$a" in
			--kv-bytes-per-token=*) bpt=${a#*=} ;;
			*) [ "$prev" != --kv-bytes-per-token ] || bpt=$a ;;
			esac
			prev=$a
		done
		if ! [[ "$bpt" =~ ^[1-9][0-9]*$ ]]; then
			fleet_log "--kv-bytes-per-token $bpt in the server args is not a positive whole number"
			exit "$FLEET_EXIT_BAD_ENV"
		fi
		kvargs+=(--kv-cpu-cache-tokens $((TOTAL_CPU_DRAM_GB * 1000000000 / bpt)))
	fi
fi
ctx=${MAX_MODEL_LEN:-}
if fleet_agentic; then ctx=1048576; fi
args=()
if fleet_spec_on; then fleet_spec_sim_args; fi
specargs=("${args[@]}")

# A job that evals with fleet's runner has its dataset here: its
# questions with a sim_answer are answered so (fleet sim --answers).
answers=()
if [ -f evals/dataset.jsonl ]; then answers=(--answers evals/dataset.jsonl); fi

if [ -z "${ROLE:-}" ]; then
	fleet_require PORT MODEL
	[ -n "$ctx" ] || fleet_require MAX_MODEL_LEN
	exec "$FLEET_BIN" sim \
		--host 127.0.0.1 \
		--port "$PORT" \
		--model "$MODEL" \
		--max-model-len "$ctx" \
		"${kvargs[@]}" "${specargs[@]}" "${answers[@]}" "$@"
fi

# shellcheck source=scripts/lib/roles.sh
. "$here/lib/roles.sh"

fleet_role_check sim prefill decode agg router
fleet_require FLEET_BIN HOST PORT
args=(sim --role "$ROLE" --host "$HOST" --port "$PORT")
case "$ROLE" in
router)
	for a in ${PREFILL_ENDPOINTS:-}; do args+=(--prefill "http://$a"); done
	for a in ${DECODE_ENDPOINTS:-}; do args+=(--decode "http://$a"); done
	for a in ${AGG_ENDPOINTS:-}; do args+=(--agg "http://$a"); done
	args+=(--policy "$(fleet_role_policy)")
	# The server args are the workers'.
	exec "$FLEET_BIN" "${args[@]}"
	;;
*)
	fleet_require MODEL
	[ -n "$ctx" ] || fleet_require MAX_MODEL_LEN
	args+=(--model "$MODEL" --max-model-len "$ctx" "${kvargs[@]}" "${specargs[@]}")
	if [ "$ROLE" != agg ]; then
		fleet_require BOOTSTRAP_PORT
		args+=(--bootstrap-port "$BOOTSTRAP_PORT")
	fi
	# Decodes on other nodes pull a prompt's KV from where the prefill
	# says it is: this node's address, not the wildcard it listens on.
	if [ "$ROLE" = prefill ] && [ -n "${NODE_ADDR:-}" ]; then
		args+=(--advertise-host "$NODE_ADDR")
	fi
	if fleet_role_spans; then
		fleet_require WORKER_RANK WORKER_LEADER
		args+=(--nnodes "$WORKER_NODES" --node-rank "$WORKER_RANK" --dist-init-addr "$WORKER_LEADER")
	fi
	;;
esac
exec "$FLEET_BIN" "${args[@]}" "$@"
