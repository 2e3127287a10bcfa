package shelltarget

import (
	"fmt"

	"github.com/fleetbench/fleet/internal/shellquote"
)

// The launch protocol. A job's work directory holds a .fleet/ folder:
//
//	.fleet/env.sh      the public environment, sourced by the wrapper
//	.fleet/secrets.env secrets (mode 0600), sourced then deleted before the command runs
//	.fleet/pgid        the process group (and session) id of the job
//	.fleet/exit        the command's exit status, written last, atomically
//	job.log            the command's combined output
//
// The wrapper runs in a new session (setsid), so the job outlives the
// controller's connection and a single kill of the process group reaches
// every process the job started. It ignores nothing: it traps TERM only so
// that it can still record the exit status of the command it waits for.

// wrapper is the body of `sh -c` run in the new session. $1.. is the
// job's argv.
const wrapper = `echo $$ > .fleet/pgid.tmp && mv .fleet/pgid.tmp .fleet/pgid
[ -f .fleet/env.sh ] && . ./.fleet/env.sh
if [ -f .fleet/secrets.env ]; then . ./.fleet/secrets.env; rm -f .fleet/secrets.env; fi
trap : TERM INT HUP
"$@" > job.log 2>&1 < /dev/null &
child=$!
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
echo "$rc" > .fleet/exit.tmp && mv .fleet/exit.tmp .fleet/exit`

// startScript starts argv detached in dir and prints the job's pgid.
func startScript(dir string, argv []string) string {
	return fmt.Sprintf(`cd %s || exit 97
rm -f .fleet/exit .fleet/pgid
command -v setsid >/dev/null 2>&1 || { echo "setsid not found on this machine (util-linux)" >&2; exit 98; }
setsid -f sh -c %s fleet-job %s < /dev/null > /dev/null 2>&1
i=0
while [ ! -s .fleet/pgid ]; do
  i=$((i+1)); [ $i -gt 200 ] && { echo "job did not start within 10s" >&2; exit 99; }
  sleep 0.05
done
cat .fleet/pgid`, shellquote.Quote(dir), shellquote.Quote(wrapper), shellquote.Join(argv...))
}

// sessionFns define members SID (the live processes of the job's session)
// and alive SID. The job's wrapper leads a session of its own, so its id is
// both the session and the process group id; a process of the job that
// moved to a group of its own (GNU timeout does) is still in the session.
// Zombies do not count: they linger until their new parent reaps them.
const sessionFns = `members() {
  if command -v ps >/dev/null 2>&1; then
    ps -e -o pid=,sid=,stat= | awk -v s="$1" '$2==s && $3 !~ /^Z/ {print $1}'
  else
    kill -0 -"$1" 2>/dev/null && echo "$1"
  fi
}
alive() { [ -n "$(members "$1")" ]; }
signal_all() {
  kill -"$1" -"$2" 2>/dev/null
  for p in $(members "$2"); do kill -"$1" "$p" 2>/dev/null; done
}
`

// waitScript blocks until the job has ended and prints its exit status,
// or "gone" when the process group vanished without recording one (the
// job was killed, or the machine rebooted).
func waitScript(dir, pgid string, poll string) string {
	return fmt.Sprintf(sessionFns+`cd %s || { echo gone; exit 0; }
while [ ! -e .fleet/exit ]; do
  if ! alive %s; then
    [ -e .fleet/exit ] && break
    echo gone; exit 0
  fi
  sleep %s
done
cat .fleet/exit`, shellquote.Quote(dir), pgid, poll)
}

// cancelScript sends TERM to every process of the job's session, waits up
// to grace seconds, then KILLs them, and fails when anything is left.
func cancelScript(dir, pgid string, graceTenths int) string {
	return fmt.Sprintf(sessionFns+`pg=%s
alive $pg || exit 0
signal_all TERM $pg
i=0
while [ $i -lt %d ]; do
  alive $pg || exit 0
  sleep 0.1; i=$((i+1))
done
signal_all KILL $pg
i=0
while alive $pg && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
if alive $pg; then
  echo "process group $pg still alive after KILL" >&2; exit 1
fi
[ -e %s/.fleet/exit ] || echo 137 > %s/.fleet/exit
exit 0`, pgid, graceTenths, shellquote.Quote(dir), shellquote.Quote(dir))
}

// logsScript follows job.log until the job's session leader exits.
func logsScript(dir, pgid string) string {
	return fmt.Sprintf(`cd %s || exit 0
i=0
while [ ! -e job.log ]; do i=$((i+1)); [ $i -gt 100 ] && exit 0; sleep 0.1; done
exec tail -n +1 -f --pid=%s job.log`, shellquote.Quote(dir), pgid)
}
