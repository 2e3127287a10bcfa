#!/bin/sh
umask 077 && mkdir -p '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2/scripts' && ln -sfn '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/cache/scripts/abababababababab-job.sh' '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2/scripts/job.sh' && mkdir -p '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2/a dir' && ln -sfn '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/cache/a dir/it'\''s.txt' '/tmp/fleet work/it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %/r/j/2/a dir/it'\''s.txt'
