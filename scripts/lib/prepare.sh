# shellcheck shell=bash
# prepare.sh: the steps of a job around its server (scripts/job.sh calls
# them): check that the GPUs are idle, download the model into the
# Hugging Face cache, and run the GPU monitor. Defines functions only.
#
#   . scripts/lib/prepare.sh
#   fleet_check_gpus_idle || exit "$FLEET_EXIT_GPUS_BUSY"
#   fleet_download_model || exit "$FLEET_EXIT_DOWNLOAD"
#   fleet_monitor_start logs/gpu.csv     # ... fleet_monitor_stop on exit

_fleet_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/gpu.sh
. "$_fleet_lib/gpu.sh"
# shellcheck source=scripts/lib/runtime.sh
. "$_fleet_lib/runtime.sh"
# shellcheck source=scripts/lib/exitcodes.sh
. "$_fleet_lib/exitcodes.sh"

# _fleet_no_gpu: the simulator and machines without a vendor tool have no
# GPUs to check or watch.
_fleet_no_gpu() {
	[ "${FRAMEWORK:-}" = sim ] && return 0
	! command -v nvidia-smi >/dev/null 2>&1 && ! command -v rocm-smi >/dev/null 2>&1 && ! command -v amd-smi >/dev/null 2>&1
}

# fleet_check_gpus_idle fails when a process holds one of the job's GPUs.
# A server that has just exited may take a few seconds to release its
# memory, so the check waits up to GPU_IDLE_WAIT seconds (30) first.
fleet_check_gpus_idle() {
	if _fleet_no_gpu; then
		return 0
	fi
	local waited=0 pids
	while :; do
		if ! pids=$(fleet_gpu_busy_pids); then
			fleet_log "cannot list the processes on the GPUs; going ahead"
			return 0
		fi
		[ -z "$pids" ] && return 0
		[ "$waited" -ge "${GPU_IDLE_WAIT:-30}" ] && break
		sleep 2
		waited=$((waited + 2))
	done
	local tool="nvidia-smi --query-compute-apps"
	[ "$(fleet_gpu_vendor)" = amd ] && tool="rocm-smi --showpids"
	fleet_log "GPUs busy${GPUS:+ (GPUs $GPUS)}: processes $(echo "$pids" | tr '\n' ' ')still use them after ${waited}s ($tool); not starting the server"
	return "$FLEET_EXIT_GPUS_BUSY"
}

# fleet_model_is_local: a path, not a Hugging Face id.
fleet_model_is_local() {
	case "$MODEL" in
	/* | ./* | ../* | ~*) return 0 ;;
	esac
	[ -e "$MODEL" ]
}

# fleet_download_model downloads $MODEL into the Hugging Face cache once
# per machine: under a lock on $HF_HOME/.fleet-<model>.lock, skipped when
# a marker says an earlier job finished it, and when MODEL is a local
# path or the server is fleet's simulator. It runs `hf download` (or the
# older `huggingface-cli download`) where the server will run: in the
# container for RUNTIME=docker. HF_TOKEN, when set, reaches it only
# through the environment.
fleet_download_model() {
	case "${FRAMEWORK:-}" in
	sim | torch-smoke) return 0 ;;
	esac
	if [ "${FLEET_SKIP_DOWNLOAD:-}" = 1 ] || fleet_model_is_local; then
		return 0
	fi
	local cache=${HF_HOME:-${HOME:-/tmp}/.cache/huggingface} key lock marker
	key=${MODEL//[^a-zA-Z0-9_.-]/--}
	lock="$cache/.fleet-$key.lock"
	marker="$cache/.fleet-$key.done"
	mkdir -p "$cache" || {
		fleet_log "cannot create the Hugging Face cache $cache"
		return "$FLEET_EXIT_DOWNLOAD"
	}
	[ -f "$marker" ] && return 0
	(
		flock -w "${DOWNLOAD_LOCK_WAIT:-14400}" 9 || {
			fleet_log "no lock on $lock: another job has been downloading $MODEL for too long"
			exit "$FLEET_EXIT_DOWNLOAD"
		}
		[ -f "$marker" ] && exit 0
		fleet_log "downloading $MODEL into $cache"
		# The script is fixed text; the model id travels in the environment.
		# shellcheck disable=SC2016
		local script='if command -v hf >/dev/null 2>&1; then exec hf download "$MODEL"; else exec huggingface-cli download "$MODEL"; fi'
		local rc=0
		if [ "$(fleet_runtime)" = docker ] && [ -n "${IMAGE:-}" ]; then
			local name
			name="$(fleet_container_name)-download"
			docker rm -f "$name" >/dev/null 2>&1 || true
			# The download needs the cache, not an InferenceX workspace
			# (which fleet job unpacks later).
			FLEET_WORKSPACE='' fleet_docker_args "$(fleet_gpu_vendor)" "$name"
			_fleet_args+=(-e MODEL --entrypoint bash "$IMAGE" -c "$script")
			docker "${_fleet_args[@]}" >&2 || rc=$?
		else
			HF_HOME=$cache bash -c "$script" >&2 || rc=$?
		fi
		if [ "$rc" -ne 0 ]; then
			fleet_log "download of $MODEL failed (status $rc)"
			exit "$FLEET_EXIT_DOWNLOAD"
		fi
		date -u +%FT%TZ >"$marker"
	) 9>"$lock"
}

_fleet_monitor=""

# fleet_monitor_start FILE: sample the GPUs into FILE every second
# (FLEET_GPU_MONITOR_INTERVAL) until fleet_monitor_stop (or until this
# shell exits).
# FLEET_GPU_MONITOR chooses: auto (the default: not for the simulator,
# which uses no GPU, and only where a vendor tool is), on (wherever a
# vendor tool is, simulator jobs too: to check the energy path with fake
# GPU tools, or to record a node's idle draw) or off (never: a node whose
# nvidia-smi hangs or is slow).
fleet_monitor_start() {
	case "${FLEET_GPU_MONITOR:-auto}" in
	off) return 0 ;;
	on)
		if ! command -v nvidia-smi >/dev/null 2>&1 && ! command -v rocm-smi >/dev/null 2>&1 && ! command -v amd-smi >/dev/null 2>&1; then
			fleet_log "FLEET_GPU_MONITOR=on, but no nvidia-smi, rocm-smi or amd-smi here: no GPU samples"
			return 0
		fi
		;;
	auto) _fleet_no_gpu && return 0 ;;
	*)
		fleet_log "FLEET_GPU_MONITOR=${FLEET_GPU_MONITOR}: want auto, on or off; using auto"
		_fleet_no_gpu && return 0
		;;
	esac
	bash "$_fleet_lib/../gpu-monitor.sh" --parent "$$" "$1" 2>>"${1%.csv}-monitor.log" &
	_fleet_monitor=$!
}

# The monitor runs one sampling interval (and a little) past the job, so
# that a sample follows the end of the benchmark: the energy of its window
# is only measured when samples bracket it (README: Energy).
fleet_monitor_stop() {
	[ -n "$_fleet_monitor" ] || return 0
	kill -0 "$_fleet_monitor" 2>/dev/null && sleep "$(awk -v s="${FLEET_GPU_MONITOR_INTERVAL:-1}" 'BEGIN { s += 0.5; if (s > 10.5) s = 10.5; print s }')"
	kill -TERM "$_fleet_monitor" 2>/dev/null || true
	wait "$_fleet_monitor" 2>/dev/null || true
	_fleet_monitor=""
}
