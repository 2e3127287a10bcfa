#!/bin/sh
export PATH=/opt/slurm/bin:/usr/bin
export SLURM_CONF='/etc/slurm/it'\''s here.conf'
squeue -h -u "$(id -un)" -t all -M c1 -j 123,124 -o '%i|%T'
