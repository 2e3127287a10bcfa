#!/bin/sh
f='/srv/fleet work/it'\''s "$(touch /tmp/fleet-pwned)" `id` $HOME
line2 \ %'
[ -f "$f" ] && [ ! -L "$f" ] || exit 1
o=$(stat -c '%u %a' -- "$f" 2>/dev/null || stat -f '%u %Lp' -- "$f" 2>/dev/null) || exit 1
[ "${o%% *}" = "$(id -u)" ] || exit 1
[ $((0${o#* } & 022)) -eq 0 ] || exit 1
sha256sum -- "$f" 2>/dev/null || shasum -a 256 -- "$f"
