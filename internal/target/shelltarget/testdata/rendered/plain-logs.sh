#!/bin/sh
cd /tmp/fleet-work/20260101-120000/sim70b_tp8_conc4/1 || exit 0
i=0
while [ ! -e job.log ]; do i=$((i+1)); [ $i -gt 100 ] && exit 0; sleep 0.1; done
exec tail -n +1 -f --pid=4242 job.log
