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
cd '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2' || { echo gone; exit 0; }
mine() { leader 4242 123456 0b5e7c1d-2f3a-4b5c-8d9e-0f1a2b3c4d5e; }
s=0.02
to=
command -v timeout >/dev/null 2>&1 && to=1
pause() {
  if [ -n "$to" ] && [ -p .fleet/done ]; then
    timeout "$s" cat .fleet/done > /dev/null 2>&1
  else
    sleep "$s"
  fi
  case $s in
    0.02) s=0.04 ;; 0.04) s=0.08 ;; 0.08) s=0.16 ;; 0.16) s=0.32 ;; *) s=0.50 ;;
  esac
}
first=1
while [ ! -e .fleet/exit ]; do
  case $(mine) in
    ours) ;;
    none)
      # The leader exited without an exit status: a job verified earlier
      # is followed while its session lives; one found this way is not.
      if ! alive 4242; then [ -e .fleet/exit ] && break; echo gone; exit 0; fi
      [ -n "$first" ] && { echo unverified; exit 0; } ;;
    unknown)
      [ -e .fleet/exit ] && break
      if alive 4242; then echo unverified; else echo gone; fi
      exit 0 ;;
    *) [ -e .fleet/exit ] && break; echo gone; exit 0 ;;
  esac
  first=
  pause
done
cat .fleet/exit
