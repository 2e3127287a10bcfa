# shellcheck shell=bash
# roles.sh: what the launchers share for one process of a multi-node job
# (scripts/README.md, "Multi-node jobs"): ROLE and the rest of the
# environment jobspec.ProcessEnv gives. Sourced by scripts/server/*.sh
# after runtime.sh; defines functions only.

# fleet_role_check FRAMEWORK ROLE...: fail (FLEET_EXIT_BAD_ENV) unless
# ROLE is one of the roles FRAMEWORK's launcher starts.
fleet_role_check() {
	local fw=$1 r
	shift
	for r in "$@"; do
		[ "$ROLE" = "$r" ] && return 0
	done
	case "$ROLE" in
	infra) fleet_log "the $fw framework needs no infra process (only Dynamo's frameworks run etcd and NATS)" ;;
	prefill | decode | agg | router) fleet_log "the $fw framework has no $ROLE role here" ;;
	*) fleet_log "unknown ROLE $ROLE: want prefill, decode, agg, router or infra" ;;
	esac
	exit "$FLEET_EXIT_BAD_ENV"
}

# fleet_role_spans says whether this process's worker spans nodes
# (WORKER_NODES > 1): then WORKER_LEADER, WORKER_RANK and the leader's
# distributed-init port tie its nodes together.
fleet_role_spans() {
	[ "${WORKER_NODES:-1}" -gt 1 ]
}

# fleet_leader_host and fleet_leader_port split WORKER_LEADER
# (host:port, or [v6]:port) into its parts.
fleet_leader_host() {
	local h=${WORKER_LEADER%:*}
	h=${h#[}
	printf '%s\n' "${h%]}"
}
fleet_leader_port() { printf '%s\n' "${WORKER_LEADER##*:}"; }

# fleet_role_policy prints ROUTER_POLICY, round_robin when empty.
fleet_role_policy() {
	case "${ROUTER_POLICY:-}" in
	"") echo round_robin ;;
	*) echo "$ROUTER_POLICY" ;;
	esac
}

# fleet_role_file NAME EXT prints the name of a file the launcher writes
# into the work directory: NAME-ROLE_NAME.EXT for a process of a
# multi-node job (its node's other processes share the directory),
# NAME.EXT otherwise.
fleet_role_file() {
	if [ -n "${ROLE:-}" ]; then
		printf '%s-%s.%s\n' "$1" "${ROLE_NAME:-$ROLE}" "$2"
	else
		printf '%s.%s\n' "$1" "$2"
	fi
}

# fleet_router_needs VAR...: the router role fails without its endpoint
# lists (the rendezvous gives them).
fleet_router_needs() {
	fleet_require PORT HOST "$@"
}

# fleet_vllm_kv_args adds to roleargs a vLLM prefill or decode worker's
# --kv-transfer-config, by KV_TRANSFER: nixl (or empty) NixlConnector,
# kv_both; mooncake MooncakeConnector and mori MoRIIOConnector,
# kv_producer on prefill and kv_consumer on decode. It exports the NIXL
# side channel, where peers reach this worker: NODE_ADDR:BOOTSTRAP_PORT.
fleet_vllm_kv_args() {
	fleet_require NODE_ADDR BOOTSTRAP_PORT
	local side=kv_producer conf
	if [ "$ROLE" = decode ]; then side=kv_consumer; fi
	case "${KV_TRANSFER:-nixl}" in
	nixl) conf='{"kv_connector":"NixlConnector","kv_role":"kv_both"}' ;;
	mooncake) conf='{"kv_connector":"MooncakeConnector","kv_role":"'$side'"}' ;;
	mori) conf='{"kv_connector":"MoRIIOConnector","kv_role":"'$side'"}' ;;
	*)
		fleet_log "vLLM has no connector for KV_TRANSFER=$KV_TRANSFER: want nixl, mooncake or mori"
		exit "$FLEET_EXIT_BAD_ENV"
		;;
	esac
	roleargs+=(--kv-transfer-config "$conf")
	export VLLM_NIXL_SIDE_CHANNEL_HOST=$NODE_ADDR
	export VLLM_NIXL_SIDE_CHANNEL_PORT=$BOOTSTRAP_PORT
}

# fleet_vllm_span_args DP adds to roleargs what ties a vLLM worker that
# spans nodes together (nothing when it does not): vLLM spreads a worker
# over nodes by data parallelism (DP, the worker's data-parallel size,
# which needs dp_attn), GPU_COUNT ranks on each node, the leader's
# address and RPC port from WORKER_LEADER, and --headless on the nodes
# that serve no HTTP.
fleet_vllm_span_args() {
	fleet_role_spans || return 0
	if [ "$1" -le 1 ]; then
		fleet_log "a vLLM worker spans nodes by data parallelism: set dp_attn on the $ROLE pool (tp ${TP:-?} over $WORKER_NODES nodes)"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	fleet_require WORKER_LEADER WORKER_RANK GPU_COUNT
	roleargs+=(--data-parallel-size-local "$GPU_COUNT" --data-parallel-start-rank "$((WORKER_RANK * GPU_COUNT))"
		--data-parallel-address "$(fleet_leader_host)" --data-parallel-rpc-port "$(fleet_leader_port)")
	if [ "$WORKER_RANK" -gt 0 ]; then roleargs+=(--headless); fi
}
