#!/usr/bin/env bash
# tiny_fp8_h200_mtp.sh: fleet's miniature of an InferenceX single-node
# script (with MTP speculative decoding, SPEC_DECODING=mtp): SGLang serving $MODEL
# on $PORT, the throughput client at $CONC, the result in
# ./$RESULT_FILENAME.json. The fake python3 of fleet's script tests turns
# the server into `fleet sim`.
# shellcheck source=../../benchmark_lib.sh
source "$(dirname "$0")/../../benchmark_lib.sh"

check_env_vars MODEL TP CONC ISL OSL MAX_MODEL_LEN RANDOM_RANGE_RATIO RESULT_FILENAME SPEC_DECODING

contract_seen >env_seen.txt

start_gpu_monitor --output gpu_metrics.csv

python3 -m sglang.launch_server --model-path "$MODEL" --host 0.0.0.0 --port "$PORT" \
	--trust-remote-code --tp "$TP" --context-length "$MAX_MODEL_LEN" \
	--cuda-graph-max-bs "$CONC" \
	--speculative-algorithm EAGLE --speculative-num-steps 1 --speculative-eagle-topk 1 --speculative-num-draft-tokens 2 >server.log 2>&1 &
SERVER_PID=$!

wait_for_server_ready --port "$PORT" --server-log server.log --server-pid "$SERVER_PID"

run_benchmark_serving --model "$MODEL" --port "$PORT" --backend vllm \
	--input-len "$ISL" --output-len "$OSL" --random-range-ratio "$RANDOM_RANGE_RATIO" \
	--num-prompts "$((CONC * 10))" --max-concurrency "$CONC" \
	--result-filename "$RESULT_FILENAME" --result-dir "$PWD/"
rc=$?

stop_gpu_monitor
kill "$SERVER_PID" 2>/dev/null
wait "$SERVER_PID" 2>/dev/null
exit "$rc"
