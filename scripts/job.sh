#!/usr/bin/env bash
# job.sh: one benchmark job on one machine: start the inference server,
# wait until it is healthy, run fleet's benchmark client against it, stop
# the server. Every input comes from the environment contract documented
# in scripts/README.md; nothing here is specific to a target (local, SSH or
# Slurm run this same script).
#
# Exit codes: 0 done; 3 the client's failure ratio was over its limit
# (result written); 10 the server exited before it became healthy; 11 the
# server did not become healthy in time; 12 the benchmark timed out; 13 the
# server died during the benchmark; 14 the environment contract was not
# met; 15 the GPUs were busy; 16 the model download failed; any other: the
# client's own exit code.
set -euo pipefail

cd "$(dirname "$0")/.."
mkdir -p logs results

log() { printf '[fleet-job %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

for v in MODEL FRAMEWORK TP CONC ISL OSL MAX_MODEL_LEN RANDOM_RANGE_RATIO NUM_PROMPTS NUM_WARMUPS RESULT_FILENAME PORT; do
	if [ -z "${!v:-}" ]; then
		log "required variable $v is not set (see scripts/README.md)"
		exit 14
	fi
done
FLEET_BIN=${FLEET_BIN:-./bin/fleet}
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-1200}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-3600}

launcher="scripts/server/${FRAMEWORK}.sh"
if [ ! -f "$launcher" ]; then
	log "no server launcher for framework '$FRAMEWORK' ($launcher)"
	exit 14
fi

# shellcheck source=scripts/lib/prepare.sh
. scripts/lib/prepare.sh
fleet_check_gpus_idle || exit 15
fleet_download_model || exit 16
fleet_monitor_start logs/gpu.csv

server_pid=""
# server_alive: the server runs and is not a zombie waiting to be reaped
# (kill -0 alone says yes to a zombie).
server_alive() {
	[ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null || return 1
	case "$(ps -o stat= -p "$server_pid" 2>/dev/null)" in
	Z*) return 1 ;;
	esac
	return 0
}
stop_server() {
	fleet_monitor_stop
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		log "stopping server (pid $server_pid)"
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 1 "${SERVER_STOP_GRACE:-30}"); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 1
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=""
}
trap stop_server EXIT
trap 'log "interrupted"; exit 143' TERM INT HUP

# Lists travel as one value per line: values never pass through word
# splitting or a shell's evaluation.
server_args=()
if [ -n "${SERVER_ARGS:-}" ]; then mapfile -t server_args <<<"$SERVER_ARGS"; fi
client_args=()
if [ -n "${CLIENT_ARGS:-}" ]; then mapfile -t client_args <<<"$CLIENT_ARGS"; fi
export FLEET_BIN

# PORT is fleet's choice, made without seeing the machine: when something
# already listens there (another job on a shared machine, a stray server),
# take the next free port. Otherwise the health probe and the benchmark
# would reach that other server while ours fails to bind.
p=$PORT
while [ $((p - PORT)) -lt 200 ] && (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
if [ "$p" != "$PORT" ]; then
	log "port $PORT is taken; the server uses $p"
	export PORT=$p
fi

log "starting $FRAMEWORK server: model=$MODEL tp=$TP conc=$CONC isl=$ISL osl=$OSL port=$PORT"
bash "$launcher" "${server_args[@]}" >logs/server.log 2>&1 &
server_pid=$!

started=$(date +%s)
until "$FLEET_BIN" probe "http://127.0.0.1:$PORT/health" 2>/dev/null; do
	if ! server_alive; then
		rc=0
		wait "$server_pid" || rc=$?
		server_pid=""
		log "server exited with status $rc before it became healthy; last lines of logs/server.log:"
		tail -n 20 logs/server.log || true
		exit 10
	fi
	if [ $(($(date +%s) - started)) -ge "$HEALTH_TIMEOUT" ]; then
		log "server not healthy after ${HEALTH_TIMEOUT}s; last lines of logs/server.log:"
		tail -n 20 logs/server.log || true
		exit 11
	fi
	sleep "${HEALTH_POLL:-1}"
done
log "server healthy after $(($(date +%s) - started))s"

case "$FRAMEWORK" in
sglang) backend=sglang ;;
trt) backend=trt ;;
*) backend=vllm ;;
esac

log "running benchmark: $NUM_PROMPTS prompts at concurrency $CONC"
rc=0
# --foreground keeps the client in the job's process group, so that a
# cancel of the job reaches it.
timeout --foreground "$BENCH_TIMEOUT" "$FLEET_BIN" bench \
	--base-url "http://127.0.0.1:$PORT" \
	--backend "$backend" \
	--model "$MODEL" \
	--dataset-name random \
	--random-input-len "$ISL" \
	--random-output-len "$OSL" \
	--random-range-ratio "$RANDOM_RANGE_RATIO" \
	--num-prompts "$NUM_PROMPTS" \
	--max-concurrency "$CONC" \
	--request-rate inf \
	--ignore-eos \
	--num-warmups "$NUM_WARMUPS" \
	--save-result \
	--percentile-metrics ttft,tpot,itl,e2el \
	--metric-percentiles "${PERCENTILES:-99}" \
	--result-dir results \
	--result-filename "$RESULT_FILENAME.json" \
	"${client_args[@]}" >logs/client.log 2>&1 || rc=$?
tail -n 30 logs/client.log || true

if [ "$rc" -eq 124 ]; then
	log "benchmark timed out after ${BENCH_TIMEOUT}s"
	exit 12
fi
# A server that died explains the client's failures better than they do.
# The client can fail fast while the server is still on its way out, so a
# failed client gives the server a few seconds to show it is dying.
if [ "$rc" -ne 0 ]; then
	for _ in 1 2 3 4 5; do
		server_alive || break
		sleep 1
	done
fi
# A server that could not bind its port (taken between the check above
# and its start) left the health probe and the benchmark to whatever
# listened there: the result is not ours. Exit 10 with the bind error in
# server.log, which fleet retries as a port clash.
if ! server_alive && grep -qi "address already in use" logs/server.log 2>/dev/null; then
	log "the server could not listen on port $PORT, another process answered in its place; last lines of logs/server.log:"
	tail -n 20 logs/server.log || true
	rm -f "results/$RESULT_FILENAME.json"
	server_pid=""
	exit 10
fi
if [ "$rc" -ne 0 ] && ! server_alive; then
	log "server died during the benchmark; last lines of logs/server.log:"
	tail -n 20 logs/server.log || true
	server_pid=""
	exit 13
fi
stop_server
log "done (client exit $rc)"
exit "$rc"
