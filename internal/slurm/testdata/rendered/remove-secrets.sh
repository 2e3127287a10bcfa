#!/bin/sh
rm -f '/shared/fleet/it'\''s "$(touch /tmp/pwned)" `id` $HOME 100%/j/1/.fleet/secrets.env'
