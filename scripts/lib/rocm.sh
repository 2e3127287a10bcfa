# shellcheck shell=bash
# rocm.sh: environment every ROCm server needs. Defines functions only.

# fleet_rocm_env exports HSA_NO_SCRATCH_RECLAIM=1 when the GPUs' MEC
# firmware is older than 177 or unknown: RCCL cannot reclaim scratch
# memory there and the server crashes under load (ROCm 6.4.3 notes).
fleet_rocm_env() {
	[ -n "${HSA_NO_SCRATCH_RECLAIM:-}" ] && return 0
	local fw=""
	fw=$(rocm-smi --showfw 2>/dev/null | awk '/MEC/ && $NF ~ /^[0-9]+$/ {print $NF; exit}') || fw=""
	if [ -z "$fw" ] || [ "$fw" -lt 177 ]; then
		export HSA_NO_SCRATCH_RECLAIM=1
	fi
}
