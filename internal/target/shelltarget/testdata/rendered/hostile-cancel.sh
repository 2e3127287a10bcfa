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
leader() {
  if [ -z "$2" ] || [ -z "$3" ]; then echo unknown; return; fi
  if [ "$(boot_id)" != "$3" ]; then echo other; return; fi
  st=$(proc_start "$1")
  if [ -z "$st" ]; then echo none
  elif [ "$st" = "$2" ]; then echo ours
  else echo other
  fi
}
pg=4242
rm -f '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2'/.fleet/secrets.env
# shellcheck disable=SC2086
case $(leader $pg 123456 0b5e7c1d-2f3a-4b5c-8d9e-0f1a2b3c4d5e) in
  ours) ;;
  other) exit 0 ;;
  *)
    alive $pg || exit 0
    echo "process group $pg: cannot verify that it is still this job (its leader has exited, or the handle has no start time and boot id, as an older fleet journalled it): not killing it; look with: ps -o pid,lstart,args -s $pg" >&2
    exit 3 ;;
esac
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
