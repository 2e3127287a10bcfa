# shellcheck shell=bash
# dynamo.sh: what the Dynamo launchers (scripts/server/dynamo-vllm.sh,
# dynamo-sglang.sh, dynamo-trt.sh) share. Dynamo runs only the processes
# of a multi-node job (scripts/README.md, "Multi-node jobs"):
#   infra   etcd (clients on HOST:ETCD_PORT, its peer port on 127.0.0.1:
#           DIST_PORT, or ETCD_PORT+1 when that is 0) and nats-server
#           with JetStream (HOST:NATS_PORT), both from the job's image,
#           data under etcd-<ROLE_NAME>/ and nats-<ROLE_NAME>/ in the work
#           dir; the process ends when either ends
#   router  python3 -m dynamo.frontend --http-port PORT --router-mode
#           round-robin, random, or kv for session
#   workers python3 -m dynamo.<backend> with their engine's arguments,
#           built by each launcher
# Workers and the router find each other through ETCD_ENDPOINTS and
# NATS_SERVER; a worker serves its health (GET /health) on PORT, as
# Dynamo's system server (DYN_SYSTEM_PORT). The server args go to the
# workers only. Sourced after runtime.sh and roles.sh; defines functions
# only.

# fleet_dynamo_start FRAMEWORK: check the role, and run the infra and the
# router processes, which are the same for every backend (the launcher
# ends with them). For a worker it returns, with DYN_SYSTEM_PORT set.
fleet_dynamo_start() {
	local fw=$1
	if [ -z "${ROLE:-}" ]; then
		fleet_log "$fw runs the processes of a multi-node job only: ROLE is not set (see scripts/README.md, Multi-node jobs)"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	fleet_role_check "$fw" prefill decode agg router infra
	export PYTHONNOUSERSITE=1
	case "$ROLE" in
	infra)
		fleet_dynamo_infra
		exit
		;;
	router)
		fleet_dynamo_frontend
		exit
		;;
	esac
	fleet_require PORT ETCD_ENDPOINTS NATS_SERVER
	export DYN_SYSTEM_PORT=$PORT DYN_SYSTEM_ENABLED=true
}

# fleet_dynamo_frontend runs Dynamo's OpenAI frontend on PORT.
fleet_dynamo_frontend() {
	fleet_require PORT ETCD_ENDPOINTS NATS_SERVER
	local mode
	case "$(fleet_role_policy)" in
	round_robin) mode=round-robin ;;
	random) mode=random ;;
	session) mode=kv ;; # a conversation's prefix stays where its KV is
	*)
		fleet_log "Dynamo's frontend has no $ROUTER_POLICY policy: want round_robin, random or session"
		exit "$FLEET_EXIT_BAD_ENV"
		;;
	esac
	fleet_serve python3 -m dynamo.frontend --http-port "$PORT" --router-mode "$mode"
}

# _fleet_dynamo_pair runs its arguments as two programs, the first up to
# "--", and ends when either ends, stopping the other; TERM stops both.
# shellcheck disable=SC2016
_fleet_dynamo_pair='a=()
while [ "$1" != -- ]; do a+=("$1"); shift; done
shift
trap '\''kill -TERM $p1 $p2 2>/dev/null; wait; exit 143'\'' TERM INT
"${a[@]}" &
p1=$!
"$@" &
p2=$!
wait -n
rc=$?
kill -TERM $p1 $p2 2>/dev/null
wait
exit $rc'

# fleet_dynamo_infra runs etcd and nats-server.
fleet_dynamo_infra() {
	fleet_require HOST NODE_ADDR ETCD_PORT NATS_PORT
	local name=${ROLE_NAME:-infra-0} peer=${DIST_PORT:-0}
	[ "$peer" -gt 0 ] || peer=$((ETCD_PORT + 1))
	# A new cluster each attempt: a killed attempt's data would name
	# another member.
	rm -rf "etcd-$name" "nats-$name"
	fleet_serve bash -c "$_fleet_dynamo_pair" infra \
		etcd --name "$name" --data-dir "$PWD/etcd-$name" \
		--listen-client-urls "http://$HOST:$ETCD_PORT" --advertise-client-urls "http://$NODE_ADDR:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "$name=http://127.0.0.1:$peer" \
		-- nats-server -a "$HOST" -p "$NATS_PORT" -js --store_dir "$PWD/nats-$name"
}

# fleet_dynamo_mode adds to roleargs a disaggregated worker's
# --disaggregation-mode (none for agg).
fleet_dynamo_mode() {
	case "$ROLE" in
	prefill | decode) roleargs+=(--disaggregation-mode "$ROLE") ;;
	esac
}
