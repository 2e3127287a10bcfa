# shellcheck shell=bash
# benchmark_lib.sh: fleet's miniature of the shared library that every
# InferenceX benchmark script sources (written for fleet's tests from the
# documented behaviour; see internal/inferencex/testdata). It keeps the
# parts a single-node fixed-length script uses: PORT, the environment
# check, the GPU monitor, the health wait and the throughput client.

export PORT=${PORT:-8888}
export PYTHONDONTWRITEBYTECODE=1
export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-/tmp/inferencex-pycache}

# check_env_vars NAME...: exit 1 naming every variable that is unset or
# empty.
check_env_vars() {
	local name missing=()
	for name in "$@"; do
		[ -n "${!name:-}" ] || missing+=("$name")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "benchmark_lib: required variables unset or empty: ${missing[*]}" >&2
		exit 1
	fi
}

GPU_MONITOR_PID=""

# start_gpu_monitor [--output FILE] [--interval SECONDS]: sample power,
# clocks and utilisation of every GPU into FILE (gpu_metrics.csv in the
# current directory) in the background.
start_gpu_monitor() {
	local output=gpu_metrics.csv interval=1
	while [ $# -gt 0 ]; do
		case "$1" in
		--output) output=$2; shift 2 ;;
		--interval) interval=$2; shift 2 ;;
		*) echo "start_gpu_monitor: unknown option $1" >&2; return 1 ;;
		esac
	done
	GPU_MONITOR_OUTPUT=$output
	nvidia-smi --query-gpu="$GPU_MONITOR_QUERY" --format=csv -l "$interval" >"$output" 2>/dev/null &
	GPU_MONITOR_PID=$!
}

GPU_MONITOR_QUERY=timestamp,index,power.draw,temperature.gpu,clocks.current.sm,clocks.current.memory,utilization.gpu,utilization.memory

# stop_gpu_monitor: end the sampling started by start_gpu_monitor.
stop_gpu_monitor() {
	[ -n "$GPU_MONITOR_PID" ] || return 0
	kill "$GPU_MONITOR_PID" 2>/dev/null || true
	wait "$GPU_MONITOR_PID" 2>/dev/null || true
	GPU_MONITOR_PID=""
	# One more sample after the benchmark, so that its window's end lies
	# between two samples.
	nvidia-smi --query-gpu="$GPU_MONITOR_QUERY" --format=csv,noheader 2>/dev/null | grep -v '^timestamp' >>"$GPU_MONITOR_OUTPUT" || true
}

# wait_for_server_ready --port P --server-log FILE --server-pid PID: poll
# /health until it answers, failing (with the log's end) when the server
# process is gone first. No time limit of its own.
wait_for_server_ready() {
	local port="" log="" pid=""
	while [ $# -gt 0 ]; do
		case "$1" in
		--port) port=$2; shift 2 ;;
		--server-log) log=$2; shift 2 ;;
		--server-pid) pid=$2; shift 2 ;;
		*) echo "wait_for_server_ready: unknown option $1" >&2; return 1 ;;
		esac
	done
	until curl -sf -o /dev/null "http://0.0.0.0:$port/health"; do
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			echo "wait_for_server_ready: the server (pid $pid) exited; end of $log:" >&2
			tail -n 20 "$log" >&2 || true
			exit 1
		fi
		sleep 1
	done
}

# run_benchmark_serving --model M --port P --backend B --input-len N
#   --output-len N --random-range-ratio R --num-prompts N
#   --max-concurrency C --result-filename NAME --result-dir DIR
#   [--bench-serving-dir DIR]: the throughput client on the random
#   dataset; the result is DIR/NAME.json.
run_benchmark_serving() {
	local served="" port="" backend="" isl="" osl="" ratio="" prompts="" concurrency="" name="" dir="" home=$PWD
	while [ $# -gt 0 ]; do
		case "$1" in
		--model) served=$2; shift 2 ;;
		--port) port=$2; shift 2 ;;
		--backend) backend=$2; shift 2 ;;
		--input-len) isl=$2; shift 2 ;;
		--output-len) osl=$2; shift 2 ;;
		--random-range-ratio) ratio=$2; shift 2 ;;
		--num-prompts) prompts=$2; shift 2 ;;
		--max-concurrency) concurrency=$2; shift 2 ;;
		--result-filename) name=$2; shift 2 ;;
		--result-dir) dir=$2; shift 2 ;;
		--bench-serving-dir) home=$2; shift 2 ;;
		*) echo "run_benchmark_serving: unknown option $1" >&2; return 1 ;;
		esac
	done
	python3 "$home/utils/bench_serving/benchmark_serving.py" \
		--model "$served" --backend "$backend" --base-url "http://0.0.0.0:$port" \
		--dataset-name random --random-input-len "$isl" --random-output-len "$osl" \
		--random-range-ratio "$ratio" --num-prompts "$prompts" --max-concurrency "$concurrency" \
		--request-rate inf --ignore-eos --save-result --num-warmups "$((2 * concurrency))" \
		--percentile-metrics ttft,tpot,itl,e2el \
		--result-dir "$dir" --result-filename "$name.json"
}

# contract_seen: the environment contract as this script sees it, one
# NAME=value per line (set variables only, never secrets): tests read it.
contract_seen() {
	local name
	for name in MODEL MODEL_PREFIX IMAGE FRAMEWORK PRECISION EXP_NAME TP PP_SIZE DCP_SIZE PCP_SIZE EP_SIZE \
		DP_ATTENTION CONC ISL OSL MAX_MODEL_LEN RANDOM_RANGE_RATIO RESULT_FILENAME SPEC_DECODING DISAGG \
		RUN_EVAL EVAL_ONLY RUNNER_TYPE GPU_COUNT PORT HF_HUB_CACHE; do
		[ -n "${!name+x}" ] && printf '%s=%s\n' "$name" "${!name}"
	done
	return 0
}
