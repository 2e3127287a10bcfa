# shellcheck shell=bash
# gpu.sh: what GPUs this machine has and whether anything else uses them.
# Sourced by the server launchers, scripts/lib/prepare.sh and
# scripts/gpu-monitor.sh; defines functions only.
#
# Overrides, for machines where detection guesses wrong (set them in the
# inventory's node env): GPU_VENDOR (nvidia | amd), GPU_TYPE (h100, h200,
# b200, mi300x, ...).

# fleet_gpu_vendor prints nvidia or amd. The vendor's management tool on
# PATH decides (inside a pyxis container enroot's hook provides
# nvidia-smi); an image built for ROCm is the last hint.
fleet_gpu_vendor() {
	case "${GPU_VENDOR:-}" in
	nvidia | amd)
		echo "$GPU_VENDOR"
		return
		;;
	esac
	if command -v nvidia-smi >/dev/null 2>&1; then
		echo nvidia
	elif command -v rocm-smi >/dev/null 2>&1 || command -v amd-smi >/dev/null 2>&1 || [ -e /dev/kfd ]; then
		echo amd
	else
		case "${IMAGE:-}" in
		*rocm*) echo amd ;;
		*) echo nvidia ;;
		esac
	fi
}

# fleet_gpu_type prints the GPU model in the inventory's spelling (h100,
# h200, b200, b300, gb200, gb300, mi300x, mi325x, mi355x) or "unknown".
fleet_gpu_type() {
	if [ -n "${GPU_TYPE:-}" ]; then
		echo "${GPU_TYPE,,}"
		return
	fi
	local name=""
	if [ "$(fleet_gpu_vendor)" = nvidia ]; then
		name=$(nvidia-smi --query-gpu=name --format=csv,noheader -i "${GPUS%%,*}" 2>/dev/null | head -n 1) || name=""
		[ -n "$name" ] || name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1) || name=""
	else
		name=$(rocm-smi --showproductname 2>/dev/null | grep -o -m 1 'MI3[0-9][0-9][A-Z]*') || name=""
	fi
	name=${name^^}
	case "$name" in
	*GB300*) echo gb300 ;;
	*GB200*) echo gb200 ;;
	*B300*) echo b300 ;;
	*B200*) echo b200 ;;
	*GH200*) echo gh200 ;;
	*H200*) echo h200 ;;
	*H100*) echo h100 ;;
	*MI355*) echo mi355x ;;
	*MI350*) echo mi350x ;;
	*MI325*) echo mi325x ;;
	*MI300*) echo mi300x ;;
	*) echo unknown ;;
	esac
}

# fleet_gpu_arch prints hopper, blackwell, cdna3, cdna4 or unknown: the
# server settings differ by architecture more than by model.
fleet_gpu_arch() {
	case "$(fleet_gpu_type)" in
	h100 | h200 | gh200) echo hopper ;;
	b200 | b300 | gb200 | gb300) echo blackwell ;;
	mi300x | mi325x) echo cdna3 ;;
	mi350x | mi355x) echo cdna4 ;;
	*)
		if [ "$(fleet_gpu_vendor)" = amd ]; then echo cdna3; else echo hopper; fi
		;;
	esac
}

# fleet_gpu_busy_pids prints the pids of processes that use the job's GPUs
# (all GPUs when GPUS is not set), one per line; nothing when they are
# idle. It fails when no vendor tool can tell.
fleet_gpu_busy_pids() {
	if [ "$(fleet_gpu_vendor)" = nvidia ]; then
		command -v nvidia-smi >/dev/null 2>&1 || return 1
		local apps uuids=""
		apps=$(nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader,nounits) || return 1
		if [ -n "${GPUS:-}" ]; then
			uuids=$(nvidia-smi --query-gpu=index,uuid --format=csv,noheader,nounits) || return 1
		fi
		local pid uuid idx u
		while IFS=', ' read -r pid uuid; do
			[ -n "$pid" ] || continue
			if [ -n "${GPUS:-}" ]; then
				# Only processes on this job's GPUs count: on a packed node the
				# neighbours' jobs are expected.
				local mine=""
				while IFS=', ' read -r idx u; do
					if [ "$u" = "$uuid" ] && [[ ",$GPUS," == *",$idx,"* ]]; then mine=1; fi
				done <<<"$uuids"
				[ -n "$mine" ] || continue
			fi
			echo "$pid"
		done <<<"$apps"
	else
		command -v rocm-smi >/dev/null 2>&1 || return 1
		local out
		out=$(rocm-smi --showpids) || return 1
		# "PID<tab>PROCESS NAME<tab>GPU(s)..." rows follow the header line.
		awk '/^PID[ \t]/ {rows=1; next} rows && $1 ~ /^[0-9]+$/ {print $1}' <<<"$out"
	fi
}
