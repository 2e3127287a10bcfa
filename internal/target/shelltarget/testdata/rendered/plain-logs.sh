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
cd /home/bench/.cache/fleet/work/20260101-120000/sim70b_tp8_conc4/1 || exit 0
i=0
while [ ! -e job.log ]; do i=$((i+1)); [ $i -gt 100 ] && exit 0; sleep 0.1; done
# shellcheck disable=SC2086
[ "$(leader 4242 123456 0b5e7c1d-2f3a-4b5c-8d9e-0f1a2b3c4d5e)" = ours ] || exec cat job.log
pid=4242
i=0
while [ ! -s .fleet/child ] && [ ! -e .fleet/exit ] && [ $i -lt 20 ]; do i=$((i+1)); sleep 0.05; done
c=$(cat .fleet/child 2>/dev/null)
case $c in '' | *[!0-9]*) ;; *) pid=$c ;; esac
exec tail -n +1 -f -s 0.02 --pid="$pid" job.log
