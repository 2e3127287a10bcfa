#!/bin/sh
cd '/shared/fleet/it'\''s "$(touch /tmp/pwned)" `id` $HOME 100%/j/1' 2>/dev/null || exit 0
stop='/shared/fleet/it'\''s "$(touch /tmp/pwned)" `id` $HOME 100%/j/1/.fleet/logs-stop.1-1'
while [ ! -e job.log ]; do
  [ -e "$stop" ] && { rm -f "$stop"; exit 0; }
  [ -d .fleet ] || exit 0
  sleep 0.5
done
tail -n +1 -s 0.5 -F --pid=$$ job.log 2>/dev/null &
t=$!
while [ ! -e .fleet/exit ] && [ ! -e "$stop" ] && [ -d .fleet ]; do sleep 0.5; done
# tail polls a network filesystem: give it time to print the last lines.
sleep 1.5
kill $t 2>/dev/null
wait $t 2>/dev/null
rm -f "$stop"
exit 0
