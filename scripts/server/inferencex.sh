#!/usr/bin/env bash
# inferencex.sh: one of InferenceX's own benchmark scripts, run the way its
# launchers run one: in the job's runtime (scripts/lib/runtime.sh) with the
# unpacked checkout (FLEET_WORKSPACE) as /workspace and working directory,
# `bash <script>` as the command, and the script's environment contract
# passed in by name (FLEET_INFERENCEX_ENV, and PORT, the port fleet job
# chose). The script starts its server, waits for it, runs the client and
# writes <RESULT_FILENAME>.json in the workspace; fleet job (internal/jobrun)
# unpacks the workspace before and collects the files after.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/gpu.sh
. "$here/lib/gpu.sh"
# shellcheck source=scripts/lib/runtime.sh
. "$here/lib/runtime.sh"

fleet_require FLEET_WORKSPACE FLEET_INFERENCEX_SCRIPT PORT
if [ ! -f "$FLEET_WORKSPACE/$FLEET_INFERENCEX_SCRIPT" ]; then
	fleet_log "no benchmark script $FLEET_INFERENCEX_SCRIPT in the workspace $FLEET_WORKSPACE"
	exit "$FLEET_EXIT_BAD_ENV"
fi
export FLEET_PASS_ENV="${FLEET_PASS_ENV:-} ${FLEET_INFERENCEX_ENV:-} PORT"
fleet_log "InferenceX script $FLEET_INFERENCEX_SCRIPT on port $PORT"
fleet_serve bash "$FLEET_INFERENCEX_SCRIPT"
