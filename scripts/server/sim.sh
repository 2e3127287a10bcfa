#!/usr/bin/env bash
# sim.sh: fleet's own inference-server simulator, for machines without a
# GPU (tests, the demo sweep). Extra arguments are sim flags from the
# sweep's server_args (e.g. --profile h200-llama70b-tp8 --time-scale 0.05).
set -euo pipefail
exec "$FLEET_BIN" sim \
	--host 127.0.0.1 \
	--port "$PORT" \
	--model "$MODEL" \
	--max-model-len "$MAX_MODEL_LEN" \
	"$@"
