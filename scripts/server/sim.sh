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
set -euo pipefail
if [ -z "${ROLE:-}" ]; then
	exec "$FLEET_BIN" sim \
		--host 127.0.0.1 \
		--port "$PORT" \
		--model "$MODEL" \
		--max-model-len "$MAX_MODEL_LEN" \
		"$@"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/runtime.sh
. "$here/lib/runtime.sh"
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
	fleet_require MODEL MAX_MODEL_LEN
	args+=(--model "$MODEL" --max-model-len "$MAX_MODEL_LEN")
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
