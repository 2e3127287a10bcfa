#!/usr/bin/env bash
# lm-eval.sh: score the job's model with lm-eval (EleutherAI's
# lm-evaluation-harness) against the server the job started, as
# InferenceX's eval step does. `fleet job` runs it after the benchmark,
# in the work directory, while the server still runs, and reads the
# results file lm-eval writes under EVAL_OUTPUT back into the job's
# eval scores.
#
# lm_eval runs where the framework runs, so that it finds what the
# framework's image ships (scripts/README.md "Accuracy evals"):
#   docker  docker exec in the job's server container (by its name)
#   enroot  a second enroot start of the job's container (plain node);
#           under Slurm with pyxis the job already runs in the container
#   none    on this machine
# It must be installed there (pip install "lm-eval[api]"): this script
# installs nothing.
#
# Environment: the job's contract (MODEL, PORT, RUNTIME, IMAGE, ...) and
#   EVAL_TASKS       comma-separated lm-eval task names
#   EVAL_SHOTS       --num_fewshot
#   EVAL_LIMIT       --limit (0: every question)
#   EVAL_CONC        requests in flight (num_concurrent)
#   EVAL_MAX_TOKENS  max_gen_toks (0: lm-eval's default)
#   EVAL_CHAT        true: local-chat-completions with the chat template
#   EVAL_OUTPUT      --output_path, relative to the work directory
#   LM_EVAL          the lm_eval program (default lm_eval)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/runtime.sh
. "$here/lib/runtime.sh"

fleet_require MODEL PORT EVAL_TASKS EVAL_SHOTS EVAL_CONC EVAL_OUTPUT

model=local-completions endpoint=/v1/completions
extra=()
if [ "${EVAL_CHAT:-false}" = true ]; then
	model=local-chat-completions endpoint=/v1/chat/completions
	extra+=(--apply_chat_template)
fi
margs="model=$MODEL,base_url=http://127.0.0.1:$PORT$endpoint,num_concurrent=$EVAL_CONC,max_retries=3,tokenized_requests=False"
args=(--model "$model" --model_args "$margs" --tasks "$EVAL_TASKS" --num_fewshot "$EVAL_SHOTS"
	--output_path "$PWD/$EVAL_OUTPUT" --log_samples "${extra[@]}")
if [ "${EVAL_LIMIT:-0}" -gt 0 ]; then args+=(--limit "$EVAL_LIMIT"); fi
if [ "${EVAL_MAX_TOKENS:-0}" -gt 0 ]; then
	args+=(--gen_kwargs "temperature=0,max_gen_toks=$EVAL_MAX_TOKENS")
else
	args+=(--gen_kwargs temperature=0)
fi
prog=${LM_EVAL:-lm_eval}
mkdir -p "$EVAL_OUTPUT"

case "$(fleet_runtime)" in
docker)
	name=$(fleet_container_name)
	fleet_log "lm-eval: docker exec in $name"
	exec docker exec -w "$PWD" "$name" "$prog" "${args[@]}"
	;;
enroot)
	name=$(fleet_container_name)
	fleet_log "lm-eval: enroot start of $name"
	# shellcheck disable=SC2016
	exec enroot start --rw -m "$PWD:$PWD" "$name" sh -c 'cd "$1" && shift && exec "$@"' sh "$PWD" "$prog" "${args[@]}"
	;;
*)
	fleet_log "lm-eval: on this machine"
	exec "$prog" "${args[@]}"
	;;
esac
