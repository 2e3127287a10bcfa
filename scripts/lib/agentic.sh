# shellcheck shell=bash
# agentic.sh: what the launchers share for an agentic (trace-replay) job
# (scripts/README.md "Agentic jobs"): AGENTIC, KV_OFFLOADING,
# KV_OFFLOAD_BACKEND and TOTAL_CPU_DRAM_GB. Sourced by scripts/server/*.sh
# after runtime.sh; defines functions only.

# fleet_agentic says whether the job replays agentic traces: then the
# server keeps its prefix cache on and runs at the model's native context
# (MAX_MODEL_LEN, when set at all, is not a cap).
fleet_agentic() {
	[ "${AGENTIC:-false}" = true ]
}

# fleet_offload prints the job's KV offload backend, or nothing when it
# offloads nothing. It fails (FLEET_EXIT_BAD_ENV) with a reason when the
# settings are not ones FRAMEWORK's launcher renders: KV_OFFLOADING other
# than none or dram, a backend not among BACKEND..., or dram without a
# whole positive TOTAL_CPU_DRAM_GB.
#   usage: backend=$(fleet_offload FRAMEWORK BACKEND...) || exit
fleet_offload() {
	local fw=$1 b
	shift
	fleet_agentic || return 0
	case "${KV_OFFLOADING:-none}" in
	none | "") return 0 ;;
	dram) ;;
	*)
		fleet_log "KV_OFFLOADING=$KV_OFFLOADING: want none or dram"
		exit "$FLEET_EXIT_BAD_ENV"
		;;
	esac
	if ! [[ "${TOTAL_CPU_DRAM_GB:-}" =~ ^[0-9]+$ ]] || [ "$TOTAL_CPU_DRAM_GB" -lt 1 ]; then
		fleet_log "KV_OFFLOADING=dram needs TOTAL_CPU_DRAM_GB, the CPU DRAM of the KV tier in whole GB (got '${TOTAL_CPU_DRAM_GB:-}')"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	for b in "$@"; do
		if [ "${KV_OFFLOAD_BACKEND:-}" = "$b" ]; then
			echo "$b"
			return 0
		fi
	done
	if [ "$#" -eq 0 ]; then
		fleet_log "the $fw launcher renders no KV offload (KV_OFFLOAD_BACKEND '${KV_OFFLOAD_BACKEND:-}'): use KV_OFFLOADING=none"
	else
		fleet_log "the $fw launcher has no KV offload backend '${KV_OFFLOAD_BACKEND:-}': want $*"
	fi
	exit "$FLEET_EXIT_BAD_ENV"
}

# fleet_offload_bytes_per RANKS prints TOTAL_CPU_DRAM_GB (10^9 bytes) in
# bytes divided among RANKS ranks: each rank's share of the host tier.
fleet_offload_bytes_per() {
	echo $((TOTAL_CPU_DRAM_GB * 1000000000 / $1))
}

# fleet_offload_gb_per RANKS prints each of RANKS ranks' share of
# TOTAL_CPU_DRAM_GB in whole GB, at least 1.
fleet_offload_gb_per() {
	local gb=$((TOTAL_CPU_DRAM_GB / $1))
	[ "$gb" -ge 1 ] || gb=1
	echo "$gb"
}
