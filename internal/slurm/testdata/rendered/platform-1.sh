#!/bin/sh
export PATH=/opt/slurm/bin:/usr/bin
export SLURM_CONF='/etc/slurm/it'\''s here.conf'
n=$(sinfo -h -N -p 'gpu'\''$(x)`id`;#' -o %N 2>/dev/null | head -n 1)
[ -n "$n" ] && scontrol -o show node "$n"
