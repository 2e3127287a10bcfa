#!/bin/sh
echo @@uname; uname -sm
if command -v nvidia-smi >/dev/null 2>&1; then echo @@nvidia; nvidia-smi --query-gpu=index,name,uuid --format=csv,noheader,nounits 2>&1; rc=$?; echo @@nvidia.rc; echo $rc; echo @@nvidia-apps; nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader,nounits 2>&1; fi
if command -v rocm-smi >/dev/null 2>&1; then echo @@rocm; rocm-smi --showproductname --showuse --json 2>&1; echo; echo @@rocm-pids; rocm-smi --showpids --json 2>&1; echo; fi
echo @@runtime; if command -v enroot >/dev/null 2>&1; then enroot version 2>&1; rc=$?; echo "@@runtime.rc"; echo $rc; else echo "enroot: command not found"; echo "@@runtime.rc"; echo 127; fi
echo @@df; d="$HOME"/'fleet work'; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; echo "$d"; df -Pk "$d" | tail -n 1
echo @@hf; h="$HOME"; echo "$h"; if [ -d "$h" ]; then echo yes; else echo no; fi
echo @@workdir; id -u; d="$HOME"/'fleet work'; if [ -e "$d" ]; then stat -L -c '%u %a %U' -- "$d" 2>/dev/null || stat -L -f '%u %Lp %Su' -- "$d" 2>/dev/null; fi
echo @@leases
# shellcheck disable=SC2317
(# shellcheck disable=SC2317
me=$(id -u)
finfo() { stat -L -c '%u %a %U %F' -- "$1" 2>/dev/null || stat -L -f '%u %Lp %Su %HT' -- "$1" 2>/dev/null; }
lowner() { stat -c '%u' -- "$1" 2>/dev/null || stat -f '%u' -- "$1" 2>/dev/null; }
refuse() {
  echo "fleet: $1 $2 on this machine $3, and fleet keeps its directories private to the connecting user (uid $me): $4" >&2
  return 1
}
private_dir() {
  if [ ! -e "$1" ] && [ ! -L "$1" ] && mkdir -m 700 -- "$1" 2>/dev/null; then return 0; fi
  if [ -L "$1" ]; then
    lo=$(lowner "$1")
    if [ "$lo" != "$me" ] && [ "$lo" != 0 ]; then
      refuse "$2" "$1" "is a symbolic link owned by uid $lo" "remove the link, or set the node's workdir to a directory only you can write"
      return 1
    fi
  fi
  info=$(finfo "$1")
  if [ -z "$info" ]; then
    echo "fleet: cannot create or read $2 $1 on this machine: check that its parent exists and is yours" >&2
    return 1
  fi
  # shellcheck disable=SC2086
  set -- "$1" "$2" $info
  case $6 in
    [Dd]irectory) ;;
    *) refuse "$2" "$1" "is not a directory" "remove it, or set the node's workdir elsewhere"; return 1 ;;
  esac
  if [ "$3" != "$me" ]; then
    refuse "$2" "$1" "is owned by $5 (uid $3), not by you" "remove it (as $5 or root), or set the node's workdir to a directory only you can write"
    return 1
  fi
  if [ $((0$4 & 022)) -ne 0 ]; then
    refuse "$2" "$1" "is writable by its group or others (mode $4)" "someone else may have put files in it: remove it (rm -rf), or chmod go-w it if you trust what it holds"
    return 1
  fi
}
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
lock() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>>"$L/.lock" && flock -w 60 9 && return 0
    return 1
  fi
  # No flock (macOS): a lock directory, removed on exit. One left by a
  # script killed inside its few milliseconds of work is broken after ten
  # minutes.
  i=0
  until mkdir "$L/.lockd" 2>/dev/null; do
    if [ -n "$(find "$L/.lockd" -maxdepth 0 -mmin +10 2>/dev/null)" ]; then rmdir "$L/.lockd" 2>/dev/null; fi
    i=$((i+1)); [ "$i" -gt 600 ] && return 1
    sleep 0.1
  done
  trap 'rmdir "$L/.lockd" 2>/dev/null' EXIT
}
# fields reads a lease or wait file once (its first 4096 bytes, control
# characters dropped, values cut at 256 characters): one pipeline a file
# rather than one a key, since each process costs a job milliseconds.
# Each script uses some of the f_ variables (SC2034).
# shellcheck disable=SC2034
fields() {
  f_token='' f_run='' f_job='' f_devices='' f_pgid='' f_start='' f_boot='' f_since='' f_expires='' f_ticket=''
  _seen=' '
  while IFS= read -r _l; do
    _k=${_l%%=*}
    [ "$_k" != "$_l" ] || continue
    case $_seen in *" $_k "*) continue ;; esac
    _seen="$_seen$_k "
    _v=${_l#*=}
    case $_k in
      token) f_token=$_v ;; run) f_run=$_v ;; job) f_job=$_v ;; devices) f_devices=$_v ;;
      pgid) f_pgid=$_v ;; start) f_start=$_v ;; boot) f_boot=$_v ;; since) f_since=$_v ;;
      expires) f_expires=$_v ;; ticket) f_ticket=$_v ;;
    esac
  done <<EOF
$(head -c 4096 -- "$1" | tr -d '\000-\011\013-\037' | cut -c1-256)
EOF
}
num() { case $1 in ''|*[!0-9]*) echo 0 ;; *) echo "$1" ;; esac; }
overlaps() {
  if [ "$1" = all ] || [ "$2" = all ]; then return 0; fi
  for d in $(echo "$1" | tr , ' '); do
    case ",$2," in *",$d,"*) return 0 ;; esac
  done
  return 1
}
gone() {
  pg=$(num "$1")
  [ "$pg" -ge 2 ] || return 0
  # A reused id (another boot, another leader) is not the job; a
  # group of zombies, which a container's init may never reap, is gone.
  [ "$(leader "$pg" "$2" "$3")" = other ] && return 0
  ! alive "$pg"
}
checked() {
  if [ -L "$1" ] || [ ! -f "$1" ]; then
    echo "fleet: lease $1 on this machine is not a regular file: remove it" >&2; return 1
  fi
  # shellcheck disable=SC2046
  set -- "$1" $(finfo "$1")
  if [ "$2" != "$me" ] || [ $((0$3 & 022)) -ne 0 ]; then
    refuse "lease" "$1" "is owned by uid $2 (mode $3), or writable by others" "remove it"; return 1
  fi
}
L="$HOME"/'fleet work'/.leases
now=$(date +%s)
if [ -d "$L" ] || [ -L "$L" ]; then
  if ! private_dir "$L" 'lease directory' 2>/dev/null; then
    echo "refused lease directory $L is not private to the connecting user: fleet will not use it"
  else
    for f in "$L"/*.lease; do
      [ -e "$f" ] || [ -L "$f" ] || continue
      n=${f##*/}; n=${n%.lease}
      case $n in *[!A-Za-z0-9-]*) echo "refused a lease file with an odd name"; continue ;; esac
      if ! checked "$f" 2>/dev/null; then echo "refused lease $n: not a private regular file of the connecting user"; continue; fi
      echo "lease $n"
      head -c 4096 -- "$f" | grep -E '^[a-z]+=' | grep -v '^state='
      fields "$f"
      if [ "$(num "$f_expires")" -ge "$now" ]; then echo state=live
      elif gone "$f_pgid" "$f_start" "$f_boot"; then echo state=stale
      else echo state=expired
      fi
    done
  fi
fi
)
