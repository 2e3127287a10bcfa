# shellcheck shell=bash
# trt.sh: what TensorRT-LLM's launchers (scripts/server/trt.sh and
# dynamo-trt.sh) write alike into a worker's options file for a
# disaggregated job: the KV cache transceiver and the context server's
# scheduling. Sourced by those launchers after runtime.sh and roles.sh;
# defines functions only.

# fleet_trt_transceiver prints the cache transceiver backend of a ROLE
# that hands KV over (prefill, decode) by KV_TRANSFER: nixl NIXL, ucx UCX,
# mpi MPI, empty DEFAULT; nothing for any other role. Another KV_TRANSFER
# fails it (FLEET_EXIT_BAD_ENV) with the reason logged:
#   transceiver=$(fleet_trt_transceiver) || exit
fleet_trt_transceiver() {
	case "${ROLE:-}" in
	prefill | decode) ;;
	*) return 0 ;;
	esac
	case "${KV_TRANSFER:-}" in
	"") echo DEFAULT ;;
	nixl | ucx | mpi) echo "${KV_TRANSFER^^}" ;;
	*)
		fleet_log "TensorRT-LLM's cache transceiver has no backend for KV_TRANSFER=$KV_TRANSFER: want nixl, ucx or mpi"
		return "$FLEET_EXIT_BAD_ENV"
		;;
	esac
}

# fleet_trt_disagg_yaml writes the options of a disaggregated worker:
# cache_transceiver_config with backend $1 (from fleet_trt_transceiver;
# empty: none) and a buffer of MAX_MODEL_LEN tokens, and for a context
# server (ROLE prefill) disable_overlap_scheduler.
fleet_trt_disagg_yaml() {
	if [ -n "$1" ]; then
		echo "cache_transceiver_config:"
		echo "  backend: $1"
		# An agentic job has no context cap to size the buffer by: it
		# holds a 128k-token prompt.
		if fleet_agentic; then echo "  max_tokens_in_buffer: 131072"; else echo "  max_tokens_in_buffer: $MAX_MODEL_LEN"; fi
	fi
	# A context server hands each request over after its first token:
	# overlapping the next step's scheduling would only delay that.
	[ "${ROLE:-}" != prefill ] || echo "disable_overlap_scheduler: true"
}
