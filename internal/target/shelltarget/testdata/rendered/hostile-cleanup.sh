#!/bin/sh
rm -rf -- '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2'
