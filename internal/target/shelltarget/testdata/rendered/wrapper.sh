#!/bin/sh
proc_start() {
  if [ -d /proc/self ]; then
    { read -r s < /proc/"$1"/stat; } 2>/dev/null || return 0
    s=${s##*") "}
    # shellcheck disable=SC2086
    set -- $s
    [ $# -ge 20 ] && printf '%s\n' "${20}"
  else
    ps -o lstart= -p "$1" 2>/dev/null | tr -s ' ' _
  fi
  return 0
}
boot_id() {
  if [ -r /proc/sys/kernel/random/boot_id ]; then
    read -r b < /proc/sys/kernel/random/boot_id && printf '%s\n' "$b"
  else
    sysctl -n kern.boottime 2>/dev/null | sed -n 's/.*sec = \([0-9]*\),.*/\1/p'
  fi
}
if mkfifo .fleet/done 2>/dev/null; then command exec 3<>.fleet/done 2>/dev/null; fi
printf '%s %s %s\n' "$$" "$(proc_start $$)" "$(boot_id)" > .fleet/pgid.tmp && mv .fleet/pgid.tmp .fleet/pgid
[ -f .fleet/env.sh ] && . ./.fleet/env.sh
if [ -f .fleet/secrets.env ]; then . ./.fleet/secrets.env; rm -f .fleet/secrets.env; fi
trap : TERM INT HUP
"$@" > job.log 2>&1 < /dev/null 3>&- &
child=$!
echo "$child" > .fleet/child
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
echo "$rc" > .fleet/exit.tmp && mv .fleet/exit.tmp .fleet/exit
