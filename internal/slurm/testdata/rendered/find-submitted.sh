#!/bin/sh
export PATH=/opt/slurm/bin:/usr/bin
export SLURM_CONF='/etc/slurm/it'\''s here.conf'
squeue -h -u "$(id -un)" -t all -n fleet-r-j -o '%i|%Z'
