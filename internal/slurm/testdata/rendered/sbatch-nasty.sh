#!/bin/bash
#SBATCH --job-name=fleet-20260101-120000-sim70b_tp8_conc4
#SBATCH --partition="gpu a 'quoted' \"double\" $(touch /tmp/pwned) `id` $HOME #not-a-comment \\ end"
#SBATCH --account="a 'quoted' \"double\" $(touch /tmp/pwned) `id` $HOME #not-a-comment \\ end"
#SBATCH --nodes=1
#SBATCH --gres=gpu:8
#SBATCH --time=90
#SBATCH --signal=B:USR1@120
#SBATCH --chdir="/shared/it's a \"dir\" $(x) 100%"
#SBATCH --output="/shared/it's a \"dir\" $(x) 100%%/job.log"
#SBATCH --error="/shared/it's a \"dir\" $(x) 100%%/job.log"
#SBATCH --open-mode=append
#SBATCH --comment="a 'quoted' \"double\" $(touch /tmp/pwned) `id` $HOME #not-a-comment \\ end"
#SBATCH --qos="a b"
# Written by fleet for one attempt of one job; the inventory's cluster
# settings and the sweep decide what is above. Runs scripts/job.sh in the
# job's work directory, on a filesystem the login and compute nodes share.
cd '/shared/it'\''s a "dir" $(x) 100%' || exit 97
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
# The container image is imported once per image into a squash file that
# every job of the cluster shares, under a lock: concurrent imports of one
# image on a shared filesystem fail (stale handles, full temp space).
sqsh='/sq/it'\''s here/lmsysorg+sglang+v0.5.2+id.sqsh'
mkdir -p "${sqsh%/*}" || finish 17
(
  flock -w 7200 9 || { echo "[fleet] no lock on $sqsh.lock after 2 hours" >&2; exit 1; }
  if [ -s "$sqsh" ] && { ! command -v unsquashfs >/dev/null 2>&1 || unsquashfs -s "$sqsh" >/dev/null 2>&1; }; then
    echo "[fleet] image already imported: $sqsh"
    exit 0
  fi
  rm -f "$sqsh" "$sqsh.part"
  echo "[fleet] importing" 'docker://lmsysorg/sglang:v0.5.2 $(id)' "into $sqsh"
  enroot import -o "$sqsh.part" 'docker://lmsysorg/sglang:v0.5.2 $(id)' && mv -f "$sqsh.part" "$sqsh"
) 9>"$sqsh.lock" || { echo "[fleet] container image import failed" >&2; finish 17; }
child=""
stopping=""
trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' USR1
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT HUP
srun --ntasks=1 '--container-image=/sq/it'\''s here/lmsysorg+sglang+v0.5.2+id.sqsh' '--container-mounts=/shared/it'\''s a "dir" $(x) 100%:/shared/it'\''s a "dir" $(x) 100%' '--container-workdir=/shared/it'\''s a "dir" $(x) 100%' --no-container-entrypoint --export=ALL --cpus-per-task="${SLURM_CPUS_ON_NODE:-1}" bash scripts/job.sh 'it'\''s
$(id) `x`' 'A=b' '' < /dev/null &
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
