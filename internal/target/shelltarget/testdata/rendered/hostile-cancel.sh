#!/bin/sh
members() {
  if command -v ps >/dev/null 2>&1; then
    ps -e -o pid=,sid=,stat= | awk -v s="$1" '$2==s && $3 !~ /^Z/ {print $1}'
  else
    kill -0 -"$1" 2>/dev/null && echo "$1"
  fi
}
alive() { [ -n "$(members "$1")" ]; }
signal_all() {
  kill -"$1" -"$2" 2>/dev/null
  for p in $(members "$2"); do kill -"$1" "$p" 2>/dev/null; done
}
pg=4242
alive $pg || exit 0
signal_all TERM $pg
i=0
while [ $i -lt 20 ]; do
  alive $pg || exit 0
  sleep 0.1; i=$((i+1))
done
signal_all KILL $pg
i=0
while alive $pg && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
if alive $pg; then
  echo "process group $pg still alive after KILL" >&2; exit 1
fi
[ -e '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2'/.fleet/exit ] || echo 137 > '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2'/.fleet/exit
exit 0
