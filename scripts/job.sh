#!/usr/bin/env bash
# job.sh: one benchmark job on one machine. The steps that need the
# machine's tools stay here: check the environment contract
# (scripts/README.md), check that the job's GPUs are idle, download the
# model, and sample the GPUs while the job runs. Then `fleet job` runs the
# job itself from its job file (.fleet/job.json): port, server, health
# wait, benchmark, server stop. Local, SSH and Slurm targets all run this
# same script.
#
# Exit codes: scripts/lib/exitcodes.sh (the table in scripts/README.md);
# fleet job's own status otherwise.
set -euo pipefail

cd "$(dirname "$0")/.."
mkdir -p logs results

# shellcheck source=scripts/lib/exitcodes.sh
. scripts/lib/exitcodes.sh

log() { printf '[fleet-job %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

JOB_FILE=${JOB_FILE:-.fleet/job.json}
if [ ! -f "$JOB_FILE" ]; then
	log "no job file $JOB_FILE (see scripts/README.md)"
	exit "$FLEET_EXIT_BAD_ENV"
fi
# The steps below read the contract from the environment.
for v in MODEL FRAMEWORK TP PORT; do
	if [ -z "${!v:-}" ]; then
		log "required variable $v is not set (see scripts/README.md)"
		exit "$FLEET_EXIT_BAD_ENV"
	fi
done
FLEET_BIN=${FLEET_BIN:-./bin/fleet}

# A node of a multi-node job (FLEET_NODE_RANK set) other than the head
# samples its GPUs into a file of its own: the work directory may be
# shared between the nodes (Slurm).
gpu_log=logs/gpu.csv
rank=${FLEET_NODE_RANK:-}
if [ -n "$rank" ]; then
	case $rank in
	*[!0-9]*)
		log "FLEET_NODE_RANK=$rank is not a node rank"
		exit "$FLEET_EXIT_BAD_ENV"
		;;
	esac
	if [ "$rank" != 0 ]; then
		gpu_log=logs/gpu-$rank.csv
	fi
fi

# shellcheck source=scripts/lib/prepare.sh
. scripts/lib/prepare.sh
fleet_check_gpus_idle || exit "$FLEET_EXIT_GPUS_BUSY"
fleet_download_model || exit "$FLEET_EXIT_DOWNLOAD"
fleet_monitor_start "$gpu_log"
trap fleet_monitor_stop EXIT

# fleet job stays in this process group, so that a cancel of the job
# reaches it and the server it started. A TERM sent to this shell alone
# (Slurm's batch script forwards it so) is passed on: fleet job stops the
# server and exits, then the trap above stops the monitor.
"$FLEET_BIN" job "$JOB_FILE" &
job=$!
trap 'kill -TERM "$job" 2>/dev/null' TERM INT HUP
while :; do
	rc=0
	wait "$job" || rc=$?
	kill -0 "$job" 2>/dev/null || break
done
log "done (fleet job exit $rc)"
exit "$rc"
