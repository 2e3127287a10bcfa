#!/bin/sh
export PATH=/opt/slurm/bin:/usr/bin
export SLURM_CONF='/etc/slurm/it'\''s here.conf'
squeue -h -t all -M c1 -j 123 -o '%i|%T'
