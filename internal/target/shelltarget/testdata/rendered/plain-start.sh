#!/bin/sh
cd /tmp/fleet-work/20260101-120000/sim70b_tp8_conc4/1 || exit 97
rm -f .fleet/exit .fleet/pgid
command -v setsid >/dev/null 2>&1 || { echo "setsid not found on this machine (util-linux)" >&2; exit 98; }
setsid -f sh -c 'echo $$ > .fleet/pgid.tmp && mv .fleet/pgid.tmp .fleet/pgid
[ -f .fleet/env.sh ] && . ./.fleet/env.sh
if [ -f .fleet/secrets.env ]; then . ./.fleet/secrets.env; rm -f .fleet/secrets.env; fi
trap : TERM INT HUP
"$@" > job.log 2>&1 < /dev/null &
child=$!
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
echo "$rc" > .fleet/exit.tmp && mv .fleet/exit.tmp .fleet/exit' fleet-job bash scripts/job.sh < /dev/null > /dev/null 2>&1
i=0
while [ ! -s .fleet/pgid ]; do
  i=$((i+1)); [ $i -gt 200 ] && { echo "job did not start within 10s" >&2; exit 99; }
  sleep 0.05
done
cat .fleet/pgid
