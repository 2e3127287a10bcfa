#!/bin/sh
export PATH=/opt/slurm/bin:/usr/bin
export SLURM_CONF='/etc/slurm/it'\''s here.conf'
sbatch --test-only --job-name=fleet-preflight --nodes=1 '--partition=gpu'\''$(x)`id`;#' '--account=a '\''quoted'\'' "double" $(touch /tmp/pwned) `id` $HOME #not-a-comment \ end' --gres=gpu:8 --exclusive --time=60 '--comment=a '\''quoted'\'' "double" $(touch /tmp/pwned) `id` $HOME #not-a-comment \ end' --output=/dev/null --wrap=true
