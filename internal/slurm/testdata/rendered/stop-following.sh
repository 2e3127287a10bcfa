#!/bin/sh
[ -d '/shared/fleet/it'\''s "$(touch /tmp/pwned)" `id` $HOME 100%/j/1/.fleet' ] && touch '/shared/fleet/it'\''s "$(touch /tmp/pwned)" `id` $HOME 100%/j/1/.fleet/logs-stop.1-1'
