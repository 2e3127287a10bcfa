#!/bin/sh
export PATH=/opt/slurm/bin:/usr/bin
export SLURM_CONF='/etc/slurm/it'\''s here.conf'
scancel -M c1 123
rc=$?; rm -f '/shared/fleet/it'\''s "$(touch /tmp/pwned)" `id` $HOME 100%/j/1/.fleet/secrets.env'; exit $rc
