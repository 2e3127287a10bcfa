#!/bin/sh
sha256sum -- '/srv/fleet work/it'\''s "$(touch /tmp/fleet-pwned)" `id` $HOME
line2 \ %' 2>/dev/null
