#!/bin/sh
export PATH=/opt/slurm/bin:/usr/bin
export SLURM_CONF='/etc/slurm/it'\''s here.conf'
printf '%s|' 123; cat '/shared/fleet/it'\''s "$(touch /tmp/pwned)" `id` $HOME 100%/j/1/.fleet/exit' 2>/dev/null; echo
printf '%s|' 124; cat /shared/fleet/r/k/1/.fleet/exit 2>/dev/null; echo
