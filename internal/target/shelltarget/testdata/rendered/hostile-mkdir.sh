#!/bin/sh
rm -rf '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2' && mkdir -p '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2'/.fleet && chmod 700 '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2'/.fleet
