#!/bin/sh
echo $$ > .fleet/pgid.tmp && mv .fleet/pgid.tmp .fleet/pgid
[ -f .fleet/env.sh ] && . ./.fleet/env.sh
if [ -f .fleet/secrets.env ]; then . ./.fleet/secrets.env; rm -f .fleet/secrets.env; fi
trap : TERM INT HUP
"$@" > job.log 2>&1 < /dev/null &
child=$!
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
echo "$rc" > .fleet/exit.tmp && mv .fleet/exit.tmp .fleet/exit
