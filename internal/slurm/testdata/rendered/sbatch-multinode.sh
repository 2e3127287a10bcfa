#!/bin/bash
#SBATCH --job-name=fleet-20260101-120000-sim70b_tp8_conc4
#SBATCH --partition=gpu
#SBATCH --account=inference
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:8
#SBATCH --exclusive
#SBATCH --time=90
#SBATCH --signal=B:USR1@120
#SBATCH --chdir=/shared/fleet/20260101-120000/sim_p1x8_d1x8/1
#SBATCH --output=/shared/fleet/20260101-120000/sim_p1x8_d1x8/1/job.log
#SBATCH --error=/shared/fleet/20260101-120000/sim_p1x8_d1x8/1/job.log
#SBATCH --open-mode=append
# Written by fleet for one attempt of one job; the inventory's cluster
# settings and the sweep decide what is above. Runs scripts/job.sh in the
# job's work directory, on a filesystem the login and compute nodes share.
cd /shared/fleet/20260101-120000/sim_p1x8_d1x8/1 || exit 97
# A requeued job (node failure, preemption) runs this script again: nothing
# the lost run left may pass for a result of this run.
rm -rf .fleet/exit .fleet/rendezvous.json results
if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then
  echo "[fleet] requeued by Slurm: run $((SLURM_RESTART_COUNT + 1)) of job $SLURM_JOB_ID on $(hostname)"
fi
[ -f .fleet/env.sh ] && . ./.fleet/env.sh
# Secrets (mode 0600) are sourced, never passed in argv, and the file goes
# at once: it is on a filesystem many nodes share. A run that Slurm
# requeued finds none; if its model needs them its download fails, and
# fleet retries the job with a fresh attempt and a fresh secrets file.
if [ -f .fleet/secrets.env ]; then . ./.fleet/secrets.env; rm -f .fleet/secrets.env; fi
trap 'rm -f .fleet/secrets.env' EXIT
finish() {
  echo "$1" > .fleet/exit.tmp && mv .fleet/exit.tmp .fleet/exit
  exit "$1"
}
child=""
stopping=""
trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' USR1
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT HUP
srun --nodes=2 --ntasks=2 --ntasks-per-node=1 --export=ALL --cpus-per-task="${SLURM_CPUS_ON_NODE:-1}" bash -c 'export FLEET_NODE_RANK="$SLURM_PROCID"; exec "$@"' fleet-node bash scripts/job.sh < /dev/null &
child=$!
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
if [ -n "$stopping" ]; then
  echo "$rc" > .fleet/exit.tmp && mv .fleet/exit.tmp .fleet/exit
  rm -f .fleet/secrets.env
  echo "[fleet] stopped ahead of the time limit; Slurm ends the job at the limit (TIMEOUT)"
  exec sleep 2147483647
fi
finish "$rc"
