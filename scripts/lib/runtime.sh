# shellcheck shell=bash
# runtime.sh: run an inference server in the job's runtime, in the
# foreground, and leave nothing behind when the job stops it. Sourced by
# scripts/server/*.sh and scripts/lib/prepare.sh; defines functions only.
#
# RUNTIME (scripts/README.md) decides where the server runs:
#   docker  a container of $IMAGE, named fleet-<user>-<run id>-<job id>;
#           the launcher's trap stops and removes it by that name on TERM,
#           INT, HUP or exit, and touches no other container
#   enroot  already inside the container when Slurm (pyxis) runs the job:
#           the server runs directly; on a plain node, enroot starts a
#           container of $IMAGE (imported once per machine under a lock)
#   none    directly on this machine (the framework is installed here)
# In every case job.sh's TERM reaches the server, and the server's whole
# process tree is killed when it does not stop within SERVER_STOP_TIMEOUT
# seconds (10).
#
# FLEET_WORKSPACE (a directory, relative to the work dir; InferenceX jobs)
# replaces the work dir as what the server sees: docker mounts it at
# /workspace (-v DIR:/workspace -w /workspace), enroot likewise (-m) and
# starts there, and on this machine the server starts in it (in
# /workspace when that is the same directory, as under pyxis).

# shellcheck source=scripts/lib/exitcodes.sh
. "$(dirname "${BASH_SOURCE[0]}")/exitcodes.sh"

fleet_log() { printf '[fleet-server %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# fleet_require NAME...: fail (FLEET_EXIT_BAD_ENV, as job.sh does) when a contract
# variable is missing.
fleet_require() {
	local v
	for v in "$@"; do
		if [ -z "${!v:-}" ]; then
			fleet_log "required variable $v is not set (see scripts/README.md)"
			exit "$FLEET_EXIT_BAD_ENV"
		fi
	done
}

# fleet_model_family prints deepseek, gptoss, llama or other: InferenceMAX
# tunes each framework per model family.
fleet_model_family() {
	local m=${MODEL,,}
	case "$m" in
	*deepseek* | *dsr1*) echo deepseek ;;
	*gpt-oss* | *gptoss*) echo gptoss ;;
	*llama*) echo llama ;;
	*) echo other ;;
	esac
}

# fleet_runtime prints docker, enroot or host (for none, empty, and enroot
# inside a Slurm job, where pyxis already put the job in the container).
fleet_runtime() {
	case "${RUNTIME:-none}" in
	docker) echo docker ;;
	enroot)
		if [ -n "${SLURM_JOB_ID:-}" ]; then echo host; else echo enroot; fi
		;;
	*) echo host ;;
	esac
}

# fleet_container_name prints a docker/enroot name for this job:
# fleet-<user>-<run id>-<job id>, and -<ROLE_NAME> for a process of a
# multi-node job (prefill-0, router-0, ...). It is the same for every attempt of the
# job, so that an attempt removes what a killed one left, and differs
# between runs and between the users of a shared node, so that nobody's
# `docker rm -f` removes another run's container. The user is the one the
# job runs as (id -un; $USER when id cannot say).
fleet_container_name() {
	local user
	user=$(id -un 2>/dev/null) || user=""
	[ -n "$user" ] || user=${USER:-uid$(id -u)}
	printf 'fleet-%s-%s-%s' "$(_fleet_name_part "$user" 32)" \
		"$(_fleet_name_part "${FLEET_RUN_ID:-norun}" 64)" "$(_fleet_name_part "${FLEET_JOB_ID:-$$}" 100)"
	# A process of a multi-node job: its node runs the job's other roles
	# too, each in a container of its own.
	[ -z "${ROLE:-}" ] || printf -- '-%s' "$(_fleet_name_part "${ROLE_NAME:-$ROLE}" 40)"
	echo
}

# _fleet_name_part TEXT MAX prints TEXT as part of a container name:
# docker allows [a-zA-Z0-9_.-] after the first character, so every other
# character becomes '-'; when that changed TEXT, or TEXT is longer than
# MAX, the part is cut and ends in 8 hex digits of TEXT's sha256, so that
# distinct texts keep distinct names. With fleet-, a whole name stays
# under 210 characters.
_fleet_name_part() {
	local text=$1 max=$2 safe
	safe=${text//[^a-zA-Z0-9_.-]/-}
	if [ "$safe" != "$text" ] || [ "${#safe}" -gt "$max" ]; then
		safe="${safe:0:$((max - 9))}-$(printf '%s' "$text" | sha256sum | cut -c1-8)"
	fi
	printf '%s' "$safe"
}

# fleet_role_gpuless says whether this is a router or infra process of a
# multi-node job: its container gets no GPU.
fleet_role_gpuless() {
	case "${ROLE:-}" in router | infra) return 0 ;; esac
	return 1
}

# fleet_env_names prints the names of the exported variables a container
# gets (by name only: `-e NAME` copies the value, which never appears in
# argv). Framework, library and Hugging Face settings pass; the host's
# PATH, HOME and the like do not. FLEET_PASS_ENV adds names (spaces or
# commas between them).
fleet_env_names() {
	local vendor=$1 n extra
	extra=" ${FLEET_PASS_ENV:-} "
	extra=${extra//,/ }
	while read -r n; do
		case "$n" in
		CUDA_VISIBLE_DEVICES | NVIDIA_VISIBLE_DEVICES)
			# --gpus maps the job's GPUs; inside they count from 0.
			continue
			;;
		HIP_VISIBLE_DEVICES | ROCR_VISIBLE_DEVICES)
			# ROCm containers see every device; these select the job's.
			[ "$vendor" = amd ] && echo "$n"
			continue
			;;
		HF_* | HUGGING_FACE_* | HUGGINGFACE_* | TRANSFORMERS_* | TOKENIZERS_* | VLLM_* | SGLANG_* | SGL_* | TRTLLM_* | TLLM_* | \
			NCCL_* | CUDA_* | NVIDIA_* | NVSHMEM_* | UCX_* | GLOO_* | HIP_* | ROCM_* | HSA_* | RCCL_* | AITER_* | MIOPEN_* | \
			TORCH_* | PYTORCH_* | TRITON_* | OMP_* | PYTHONNOUSERSITE | PYTHONHASHSEED | LMCACHE_* | MOONCAKE_*)
			echo "$n"
			;;
		DYN_* | MC_* | ETCD_ENDPOINTS | NATS_SERVER)
			# Dynamo's and Mooncake's settings: a multi-node job's.
			if [ -n "${ROLE:-}" ] || [[ "$extra" == *" $n "* ]]; then echo "$n"; fi
			;;
		*)
			[[ "$extra" == *" $n "* ]] && echo "$n"
			;;
		esac
	done < <(compgen -e | sort)
}

# fleet_workspace prints FLEET_WORKSPACE as an absolute path; it fails
# when the directory is missing.
fleet_workspace() {
	if [ ! -d "${FLEET_WORKSPACE:-}" ]; then
		fleet_log "workspace ${FLEET_WORKSPACE:-(unset)} is not a directory"
		return 1
	fi
	(cd "$FLEET_WORKSPACE" && pwd -P)
}

# fleet_descendants PID: every process below PID, parents before children.
fleet_descendants() {
	local c children
	if [ -r "/proc/$1/task/$1/children" ]; then
		children=$(cat /proc/"$1"/task/*/children 2>/dev/null)
	else
		children=$(pgrep -P "$1" 2>/dev/null)
	fi
	for c in $children; do
		echo "$c"
		fleet_descendants "$c"
	done
}

_fleet_child=""
_fleet_container=""
_fleet_enroot=""
_fleet_stopped=""

# _fleet_stop stops the server once: the container by name, or the server
# process with TERM and then its whole tree with KILL.
_fleet_stop() {
	[ -z "$_fleet_stopped" ] || return 0
	_fleet_stopped=1
	# A second TERM (job.sh's, after the process group's) must not cut the
	# cleanup short: the container would outlive the job.
	trap '' TERM INT HUP
	local grace=${SERVER_STOP_TIMEOUT:-10} tree="" p
	if [ -n "$_fleet_container" ]; then
		fleet_log "stopping container $_fleet_container"
		docker stop -t "$grace" "$_fleet_container" >/dev/null 2>&1 || true
		docker rm -f "$_fleet_container" >/dev/null 2>&1 || true
	fi
	if [ -n "$_fleet_child" ] && kill -0 "$_fleet_child" 2>/dev/null; then
		# The tree is listed before TERM: children that outlive their
		# parent are re-parented and could no longer be found.
		tree=$(fleet_descendants "$_fleet_child")
		kill -TERM "$_fleet_child" 2>/dev/null || true
		for _ in $(seq 1 $((grace * 5))); do
			kill -0 "$_fleet_child" 2>/dev/null || break
			sleep 0.2
		done
		tree="$tree $(fleet_descendants "$_fleet_child")"
		for p in $_fleet_child $tree; do
			kill -KILL "$p" 2>/dev/null || true
		done
		wait "$_fleet_child" 2>/dev/null || true
	fi
	if [ -n "$_fleet_enroot" ]; then
		enroot remove -f "$_fleet_enroot" >/dev/null 2>&1 || true
	fi
}

# fleet_serve PROGRAM ARG...: run the server in the job's runtime and wait
# for it; the launcher exits with the server's status.
fleet_serve() {
	local vendor rt
	vendor=$(fleet_gpu_vendor)
	rt=$(fleet_runtime)
	trap '_fleet_stop; exit 143' TERM
	trap '_fleet_stop; exit 130' INT
	trap '_fleet_stop; exit 129' HUP
	trap '_fleet_stop' EXIT
	case "$rt" in
	docker) _fleet_serve_docker "$vendor" "$@" ;;
	enroot) _fleet_serve_enroot "$vendor" "$@" ;;
	*)
		fleet_log "runtime: this machine (RUNTIME=${RUNTIME:-none}); vendor $vendor"
		if [ -n "${FLEET_WORKSPACE:-}" ]; then
			local ws
			ws=$(fleet_workspace) || exit "$FLEET_EXIT_BAD_ENV"
			# pyxis mounts the workspace at /workspace too: start there,
			# where InferenceX's scripts expect the checkout.
			if [ /workspace -ef "$ws" ]; then ws=/workspace; fi
			cd "$ws" || exit "$FLEET_EXIT_BAD_ENV"
		fi
		"$@" &
		_fleet_child=$!
		;;
	esac
	local rc=0
	wait "$_fleet_child" || rc=$?
	_fleet_child=""
	fleet_log "server exited with status $rc"
	return "$rc"
}

# fleet_docker_args VENDOR NAME: the `docker run` options every fleet
# container gets (GPUs, host network and IPC, the work dir and the HF
# cache at their own paths, or the workspace at /workspace, the
# environment by name).
fleet_docker_args() {
	local vendor=$1 name=$2 n
	_fleet_args=(run --rm --name "$name" --network=host --ipc=host --shm-size=16g)
	if fleet_role_gpuless; then
		: # a router or infra process of a multi-node job uses no GPU
	elif [ "$vendor" = amd ]; then
		_fleet_args+=(--device=/dev/kfd --device=/dev/dri --group-add video
			--cap-add=SYS_PTRACE --security-opt seccomp=unconfined)
	elif [ -n "${GPUS:-}" ]; then
		# docker splits --gpus at commas unless the value is quoted.
		_fleet_args+=(--gpus "\"device=$GPUS\"")
	else
		_fleet_args+=(--gpus all)
	fi
	if [ -n "${FLEET_WORKSPACE:-}" ]; then
		local ws
		ws=$(fleet_workspace) || exit "$FLEET_EXIT_BAD_ENV"
		_fleet_args+=(-v "$ws:/workspace" -w /workspace)
	else
		_fleet_args+=(-v "$PWD:$PWD" -w "$PWD")
	fi
	if [ -n "${HF_HOME:-}" ]; then
		mkdir -p "$HF_HOME" 2>/dev/null || true
		_fleet_args+=(-v "$HF_HOME:$HF_HOME")
	fi
	while read -r n; do
		[ -n "$n" ] && _fleet_args+=(-e "$n")
	done < <(fleet_env_names "$vendor")
}

_fleet_serve_docker() {
	local vendor=$1
	shift
	if [ -z "${IMAGE:-}" ]; then
		fleet_log "RUNTIME=docker needs IMAGE (the config's image)"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	local name
	name=$(fleet_container_name)
	# A container of a killed attempt would hold the GPUs and the port.
	docker rm -f "$name" >/dev/null 2>&1 || true
	fleet_docker_args "$vendor" "$name"
	_fleet_args+=(--entrypoint "$1" "$IMAGE")
	shift
	fleet_log "runtime: docker container $name of $IMAGE; vendor $vendor"
	_fleet_container=$name
	docker "${_fleet_args[@]}" "$@" &
	_fleet_child=$!
}

# fleet_enroot_uri IMAGE prints enroot's docker://[REGISTRY#]IMAGE form: a
# first component with a dot or a port, or localhost, names a registry.
fleet_enroot_uri() {
	local first=${1%%/*}
	if [[ "$1" == */* && ("$first" == *.* || "$first" == *:* || "$first" == localhost) ]]; then
		printf 'docker://%s#%s\n' "$first" "${1#*/}"
	else
		printf 'docker://%s\n' "$1"
	fi
}

# fleet_enroot_squash prints the squash file of $IMAGE on this machine,
# importing it first (once per machine, under a lock: concurrent imports
# of one image fail).
fleet_enroot_squash() {
	local dir=${FLEET_SQUASH_DIR:-${HOME:-/tmp}/.cache/fleet/squash} sq
	mkdir -p "$dir"
	sq="$dir/${IMAGE//[^a-zA-Z0-9_.-]/+}.sqsh"
	(
		flock -w 7200 9 || {
			fleet_log "no lock on $sq.lock after 2 hours"
			exit 1
		}
		[ -s "$sq" ] && exit 0
		rm -f "$sq.part"
		fleet_log "importing docker://$IMAGE into $sq"
		enroot import -o "$sq.part" "$(fleet_enroot_uri "$IMAGE")" && mv -f "$sq.part" "$sq"
	) 9>"$sq.lock" || return 1
	echo "$sq"
}

_fleet_serve_enroot() {
	local vendor=$1
	shift
	if [ -z "${IMAGE:-}" ]; then
		fleet_log "RUNTIME=enroot needs IMAGE (the config's image)"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	local name sq n
	name=$(fleet_container_name)
	sq=$(fleet_enroot_squash) || {
		fleet_log "enroot import of $IMAGE failed"
		exit "$FLEET_EXIT_IMAGE_IMPORT"
	}
	enroot remove -f "$name" >/dev/null 2>&1 || true
	enroot create -n "$name" "$sq" >/dev/null || {
		fleet_log "enroot create $name failed"
		exit 1
	}
	_fleet_enroot=$name
	local dir=$PWD
	local args=(start --rw -m "$PWD:$PWD")
	if [ -n "${FLEET_WORKSPACE:-}" ]; then
		local ws
		ws=$(fleet_workspace) || exit "$FLEET_EXIT_BAD_ENV"
		args=(start --rw -m "$ws:/workspace")
		dir=/workspace
	fi
	[ -n "${HF_HOME:-}" ] && args+=(-m "$HF_HOME:$HF_HOME")
	while read -r n; do
		[ -n "$n" ] && args+=(-e "$n")
	done < <(fleet_env_names "$vendor")
	# enroot passes GPUs by NVIDIA_VISIBLE_DEVICES (its hook), by index;
	# void: none, for a process that uses no GPU.
	if [ "$vendor" = nvidia ] && fleet_role_gpuless; then
		args+=(-e NVIDIA_VISIBLE_DEVICES=void)
	elif [ "$vendor" = nvidia ] && [ -n "${GPUS:-}" ]; then
		args+=(-e "NVIDIA_VISIBLE_DEVICES=$GPUS")
	fi
	fleet_log "runtime: enroot container $name of $IMAGE; vendor $vendor"
	# The server starts in the work dir, which is mounted at its own path
	# (or in /workspace); the arguments stay positional, never evaluated
	# by a shell.
	# shellcheck disable=SC2016
	enroot "${args[@]}" "$name" sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" "$@" &
	_fleet_child=$!
}
