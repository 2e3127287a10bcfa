#!/bin/sh
cd '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2' || exit 0
i=0
while [ ! -e job.log ]; do i=$((i+1)); [ $i -gt 100 ] && exit 0; sleep 0.1; done
exec tail -n +1 -f --pid=4242 job.log
