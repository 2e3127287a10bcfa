#!/bin/sh
umask 077
rm -f '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2/.fleet/secrets.env'.tmp
if cat > '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2/.fleet/secrets.env'.tmp && chmod 600 '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2/.fleet/secrets.env'.tmp && mv -f '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2/.fleet/secrets.env'.tmp '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2/.fleet/secrets.env'; then exit 0; fi
rm -f '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2/.fleet/secrets.env'.tmp
echo "could not write the secrets file" >&2
exit 1
