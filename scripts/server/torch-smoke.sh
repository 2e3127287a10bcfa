#!/usr/bin/env bash
# torch-smoke.sh: the GPU smoke check's server (scripts/gpu-smoke/server.py):
# a small random-weight transformer in PyTorch behind an OpenAI-compatible
# streaming endpoint, on this machine (no container, nothing to download).
# TORCH_SMOKE_SERVER names server.py when the job's work dir lacks it
# (scripts/gpu-smoke.sh sets it). Extra arguments go to server.py.
#
# The server is one process that stops on TERM, so the launcher execs it:
# job.sh's TERM reaches it directly.
set -euo pipefail
# shellcheck source=scripts/lib/exitcodes.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/exitcodes.sh"
server=${TORCH_SMOKE_SERVER:-$(dirname "${BASH_SOURCE[0]}")/../gpu-smoke/server.py}
if [ ! -f "$server" ]; then
	echo "torch-smoke.sh: no server at $server (set TORCH_SMOKE_SERVER)" >&2
	exit "$FLEET_EXIT_BAD_ENV"
fi
exec "${TORCH_SMOKE_PYTHON:-python3}" -u "$server" \
	--host 127.0.0.1 \
	--port "$PORT" \
	--model "$MODEL" \
	--max-model-len "$MAX_MODEL_LEN" \
	--max-num-seqs "$((CONC > 1 ? CONC : 1))" \
	"$@"
