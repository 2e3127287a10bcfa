# shellcheck shell=bash
# spec.sh: speculative decoding for the launchers (scripts/README.md
# "Speculative decoding"): SPEC_DECODING (none, mtp, eagle3, draft_model),
# NUM_SPEC_TOKENS, DRAFT_MODEL and SPEC_ACCEPT_LENGTH. Sourced by
# scripts/server/*.sh after runtime.sh; defines functions only.

# fleet_spec_on says whether the job drafts. It fails
# (FLEET_EXIT_BAD_ENV) with a reason when the settings are not ones the
# launchers render: an unknown method, NUM_SPEC_TOKENS not a whole number
# from 1, eagle3 or draft_model without DRAFT_MODEL, a DRAFT_MODEL with
# quotes or backslashes (it goes into JSON and YAML strings), or a
# SPEC_ACCEPT_LENGTH that is not a number from 1 to NUM_SPEC_TOKENS + 1.
fleet_spec_on() {
	case "${SPEC_DECODING:-none}" in
	none | "") return 1 ;;
	mtp | eagle3 | draft_model) ;;
	*)
		fleet_log "SPEC_DECODING=$SPEC_DECODING: want none, mtp, eagle3 or draft_model"
		exit "$FLEET_EXIT_BAD_ENV"
		;;
	esac
	if ! [[ "${NUM_SPEC_TOKENS:-}" =~ ^[1-9][0-9]*$ ]]; then
		fleet_log "SPEC_DECODING=$SPEC_DECODING needs NUM_SPEC_TOKENS, the draft tokens per step, a whole number from 1 (got '${NUM_SPEC_TOKENS:-}')"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	case "$SPEC_DECODING" in
	eagle3 | draft_model)
		if [ -z "${DRAFT_MODEL:-}" ]; then
			fleet_log "SPEC_DECODING=$SPEC_DECODING needs DRAFT_MODEL, the drafter to load (a Hugging Face id or a path)"
			exit "$FLEET_EXIT_BAD_ENV"
		fi
		;;
	esac
	case "${DRAFT_MODEL:-}" in
	*[\"\'\\]*)
		fleet_log "DRAFT_MODEL=$DRAFT_MODEL: quotes and backslashes are not allowed in a model id or path"
		exit "$FLEET_EXIT_BAD_ENV"
		;;
	esac
	if [ -n "${SPEC_ACCEPT_LENGTH:-}" ]; then
		if ! [[ "$SPEC_ACCEPT_LENGTH" =~ ^[0-9]+([.][0-9]+)?$ ]] ||
			! awk -v l="$SPEC_ACCEPT_LENGTH" -v k="$NUM_SPEC_TOKENS" 'BEGIN { exit !(l >= 1 && l <= k + 1) }'; then
			fleet_log "SPEC_ACCEPT_LENGTH=$SPEC_ACCEPT_LENGTH: want a number from 1 to NUM_SPEC_TOKENS + 1 = $((NUM_SPEC_TOKENS + 1))"
			exit "$FLEET_EXIT_BAD_ENV"
		fi
	fi
	return 0
}

# fleet_spec_vllm_json prints vLLM's --speculative-config value: the
# method (mtp, eagle3, draft_model), the drafter when it has one, and
# num_speculative_tokens. vLLM has no synthetic acceptance: a
# SPEC_ACCEPT_LENGTH stops the launcher (exit 14).
fleet_spec_vllm_json() {
	if [ -n "${SPEC_ACCEPT_LENGTH:-}" ]; then
		fleet_log "SPEC_ACCEPT_LENGTH=$SPEC_ACCEPT_LENGTH: vLLM has no setting that pins the acceptance length; leave spec_accept_length out for vLLM configs"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	local model=""
	[ "$SPEC_DECODING" = mtp ] || model=',"model":"'$DRAFT_MODEL'"'
	printf '{"method":"%s"%s,"num_speculative_tokens":%d}\n' "$SPEC_DECODING" "$model" "$NUM_SPEC_TOKENS"
}

# fleet_spec_sglang_args appends SGLang's speculative flags to the array
# args: --speculative-algorithm NEXTN (mtp), EAGLE3 or STANDALONE
# (draft_model), with --speculative-draft-model-path for a drafter,
# --speculative-num-steps NUM_SPEC_TOKENS, --speculative-eagle-topk 1
# (a chain, as the other frameworks draft) and
# --speculative-num-draft-tokens NUM_SPEC_TOKENS + 1. SPEC_ACCEPT_LENGTH
# becomes SGLANG_SIMULATE_ACC_LEN, SGLang's synthetic acceptance.
fleet_spec_sglang_args() {
	local algo
	case "$SPEC_DECODING" in
	mtp) algo=NEXTN ;;
	eagle3) algo=EAGLE3 ;;
	draft_model) algo=STANDALONE ;;
	esac
	args+=(--speculative-algorithm "$algo")
	[ "$SPEC_DECODING" = mtp ] || args+=(--speculative-draft-model-path "$DRAFT_MODEL")
	args+=(--speculative-num-steps "$NUM_SPEC_TOKENS" --speculative-eagle-topk 1
		--speculative-num-draft-tokens $((NUM_SPEC_TOKENS + 1)))
	if [ -n "${SPEC_ACCEPT_LENGTH:-}" ]; then
		export SGLANG_SIMULATE_ACC_LEN=$SPEC_ACCEPT_LENGTH
	fi
}

# fleet_spec_trt_yaml prints TensorRT-LLM's speculative_config block for
# the extra options file: decoding_type MTP with num_nextn_predict_layers
# (mtp), Eagle3 or DraftTarget with max_draft_len and
# speculative_model_dir. SPEC_ACCEPT_LENGTH L sets
# TLLM_SPEC_DECODE_FORCE_NUM_ACCEPTED_TOKENS to L - 1, which must be whole
# (TensorRT-LLM forces a count, not a mean).
fleet_spec_trt_yaml() {
	echo "speculative_config:"
	case "$SPEC_DECODING" in
	mtp)
		echo "  decoding_type: MTP"
		echo "  num_nextn_predict_layers: $NUM_SPEC_TOKENS"
		;;
	eagle3 | draft_model)
		if [ "$SPEC_DECODING" = eagle3 ]; then
			echo "  decoding_type: Eagle3"
		else
			echo "  decoding_type: DraftTarget"
		fi
		echo "  max_draft_len: $NUM_SPEC_TOKENS"
		echo "  speculative_model_dir: \"$DRAFT_MODEL\""
		;;
	esac
}

# fleet_spec_trt_env exports TensorRT-LLM's forced acceptance for
# SPEC_ACCEPT_LENGTH; it fails (exit 14) for a fractional length.
fleet_spec_trt_env() {
	[ -n "${SPEC_ACCEPT_LENGTH:-}" ] || return 0
	if ! [[ "$SPEC_ACCEPT_LENGTH" =~ ^[0-9]+(\.0*)?$ ]]; then
		fleet_log "SPEC_ACCEPT_LENGTH=$SPEC_ACCEPT_LENGTH: TensorRT-LLM forces a whole number of accepted tokens; give a whole acceptance length"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
	export TLLM_SPEC_DECODE_FORCE_NUM_ACCEPTED_TOKENS=$((${SPEC_ACCEPT_LENGTH%%.*} - 1))
}

# fleet_spec_sim_args appends fleet sim's speculative flags to the array
# args: --spec-method, --spec-tokens and, for the golden mode,
# --spec-accept-length (the sim's --spec-acceptance default, or the
# server args', decides otherwise).
fleet_spec_sim_args() {
	args+=(--spec-method "$SPEC_DECODING" --spec-tokens "$NUM_SPEC_TOKENS")
	[ -z "${SPEC_ACCEPT_LENGTH:-}" ] || args+=(--spec-accept-length "$SPEC_ACCEPT_LENGTH")
}
