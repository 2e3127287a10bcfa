#!/bin/sh
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
umask 077
mkdir -p -- '/tmp/fleet work/it'\''s "$(touch /tmp' || exit 1
private_dir '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %' 'work directory' || exit 1
private_dir '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r' 'run/job directory' || exit 1
private_dir '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j' 'run/job directory' || exit 1
rm -rf -- '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2' || exit 1
private_dir '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2' 'attempt directory' || exit 1
private_dir '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2/.fleet' 'attempt directory' || exit 1
private_dir '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/cache' 'cache directory' || exit 1
private_dir '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/cache/scripts' 'cache directory' || exit 1
private_dir '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/cache/a dir' 'cache directory' || exit 1
