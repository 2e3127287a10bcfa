#!/bin/sh
export PATH=/opt/slurm/bin:/usr/bin
export SLURM_CONF='/etc/slurm/it'\''s here.conf'
mkdir -p '/shared/it'\''s $(x) fleet' && test -w '/shared/it'\''s $(x) fleet'
