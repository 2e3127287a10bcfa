#!/bin/sh
export PATH=/opt/slurm/bin:/usr/bin
export SLURM_CONF='/etc/slurm/it'\''s here.conf'
sacct -P -n -u "$(id -un)" -M c1 -j 123,124 -o JobID,State,ExitCode
