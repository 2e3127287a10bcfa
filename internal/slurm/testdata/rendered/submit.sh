#!/bin/sh
export PATH=/opt/slurm/bin:/usr/bin
export SLURM_CONF='/etc/slurm/it'\''s here.conf'
cd '/shared/fleet/it'\''s "$(touch /tmp/pwned)" `id` $HOME 100%/j/1' && sbatch --parsable .fleet/job.sbatch
