package shelltarget

import (
	"fmt"
	"strings"

	"github.com/fleetbench/fleet/internal/shellquote"
)

// The launch protocol. A job's work directory holds a .fleet/ folder:
//
//	.fleet/env.sh      the public environment, sourced by the wrapper
//	.fleet/secrets.env secrets (mode 0600), sourced then deleted before the command runs
//	.fleet/pgid        "PGID START BOOT": the process group (and session) id
//	                   of the job, the start time of its leader and the boot id
//	.fleet/exit        the command's exit status, written last, atomically
//	.fleet/child       the command's process id: the wrapper reaps it the
//	                   moment it ends, so it does not linger as a zombie
//	                   (the wrapper itself does, until init reaps it)
//	.fleet/done        a FIFO the wrapper holds open (fd 3, not passed to the
//	                   command) until it exits: a reader blocks on it and sees
//	                   end-of-file the moment the job ends, killed or not
//	job.log            the command's combined output
//
// The wrapper runs in a new session (setsid), so the job outlives the
// controller's connection and a single kill of the process group reaches
// every process the job started. It ignores nothing: it traps TERM only so
// that it can still record the exit status of the command it waits for.
//
// A process group id alone names a job only until the machine reuses it
// (after the job ended, or a reboot): the leader's start time and the boot
// id pin it, and wait, logs and cancel act on a group only while all three
// match. An exit file, once written, says the job ended whatever the group
// looks like.

// identFns define proc_start PID (the start time of PID: field 22 of
// /proc/PID/stat, read after the command name, which may hold spaces and
// parentheses; ps's lstart where there is no /proc) and boot_id (the
// kernel's boot id, or the boot time where there is none). Both print
// nothing when they cannot tell.
const identFns = `proc_start() {
  if [ -d /proc/self ]; then
    { read -r s < /proc/"$1"/stat; } 2>/dev/null || return 0
    s=${s##*") "}
    # shellcheck disable=SC2086
    set -- $s
    [ $# -ge 20 ] && printf '%s\n' "${20}"
  else
    ps -o lstart= -p "$1" 2>/dev/null | tr -s ' ' _
  fi
  return 0
}
boot_id() {
  if [ -r /proc/sys/kernel/random/boot_id ]; then
    read -r b < /proc/sys/kernel/random/boot_id && printf '%s\n' "$b"
  else
    sysctl -n kern.boottime 2>/dev/null | sed -n 's/.*sec = \([0-9]*\),.*/\1/p'
  fi
}
`

// wrapper is the body of `sh -c` run in the new session. $1.. is the
// job's argv.
const wrapper = identFns + `if mkfifo .fleet/done 2>/dev/null; then command exec 3<>.fleet/done 2>/dev/null; fi
printf '%s %s %s\n' "$$" "$(proc_start $$)" "$(boot_id)" > .fleet/pgid.tmp && mv .fleet/pgid.tmp .fleet/pgid
[ -f .fleet/env.sh ] && . ./.fleet/env.sh
if [ -f .fleet/secrets.env ]; then . ./.fleet/secrets.env; rm -f .fleet/secrets.env; fi
trap : TERM INT HUP
"$@" > job.log 2>&1 < /dev/null 3>&- &
child=$!
echo "$child" > .fleet/child
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
echo "$rc" > .fleet/exit.tmp && mv .fleet/exit.tmp .fleet/exit`

// startScript starts argv detached in dir and prints the job's pgid, its
// leader's start time and the boot id.
func startScript(dir string, argv []string) string {
	return fmt.Sprintf(`cd %s || exit 97
rm -f .fleet/exit .fleet/pgid
command -v setsid >/dev/null 2>&1 || { echo "setsid not found on this machine (util-linux)" >&2; exit 98; }
setsid -f sh -c %s fleet-job %s < /dev/null > /dev/null 2>&1
i=0
while [ ! -s .fleet/pgid ]; do
  i=$((i+1)); [ $i -gt 1000 ] && { echo "job did not start within 10s" >&2; exit 99; }
  sleep 0.01
done
cat .fleet/pgid`, shellquote.Quote(dir), shellquote.Quote(wrapper), shellquote.Join(argv...))
}

// sessionFns define members SID (the live processes of the job's session)
// and alive SID. The job's wrapper leads a session of its own, so its id is
// both the session and the process group id; a process of the job that
// moved to a group of its own (GNU timeout does) is still in the session.
// Zombies do not count: they linger until their new parent reaps them.
//
// leader PG START BOOT says whose the group is: "ours" when its leader
// runs with the recorded start time on the recorded boot, "none" when no
// process has the id on this boot, "other" when something else has it
// (a reused id, another boot) and "unknown" when the handle recorded no
// identity (an older fleet's journal).
const sessionFns = identFns + `members() {
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
leader() {
  if [ -z "$2" ] || [ -z "$3" ]; then echo unknown; return; fi
  if [ "$(boot_id)" != "$3" ]; then echo other; return; fi
  st=$(proc_start "$1")
  if [ -z "$st" ]; then echo none
  elif [ "$st" = "$2" ]; then echo ours
  else echo other
  fi
}
`

// ident is the quoted "PGID START BOOT" arguments of leader.
func ident(pgid, start, boot string) string {
	return strings.Join([]string{pgid, shellquote.Quote(start), shellquote.Quote(boot)}, " ")
}

// waitScript blocks until the job has ended and prints its exit status;
// it sleeps on the job's .fleet/done FIFO, which wakes it when the
// wrapper exits, and checks on the job between reads that time out after
// 20ms, doubling up to poll (the whole wait where there is no FIFO or no
// timeout(1), as on macOS);
// "gone" when the job vanished without recording one (it was killed, the
// machine rebooted, or the id now names another process); "unverified"
// when something runs under the id but the handle cannot say whether it
// is the job.
func waitScript(dir, pgid, start, boot, poll string) string {
	return sessionFns + fmt.Sprintf(`cd %s || { echo gone; exit 0; }
mine() { leader %s; }
s=0.02
to=
command -v timeout >/dev/null 2>&1 && to=1
pause() {
  if [ -n "$to" ] && [ -p .fleet/done ]; then
    timeout "$s" cat .fleet/done > /dev/null 2>&1
  else
    sleep "$s"
  fi
  case $s in
    0.02) s=0.04 ;; 0.04) s=0.08 ;; 0.08) s=0.16 ;; 0.16) s=0.32 ;; *) s=%s ;;
  esac
}
first=1
while [ ! -e .fleet/exit ]; do
  case $(mine) in
    ours) ;;
    none)
      # The leader exited without an exit status: a job verified earlier
      # is followed while its session lives; one found this way is not.
      if ! alive %s; then [ -e .fleet/exit ] && break; echo gone; exit 0; fi
      [ -n "$first" ] && { echo unverified; exit 0; } ;;
    unknown)
      [ -e .fleet/exit ] && break
      if alive %s; then echo unverified; else echo gone; fi
      exit 0 ;;
    *) [ -e .fleet/exit ] && break; echo gone; exit 0 ;;
  esac
  first=
  pause
done
cat .fleet/exit`, shellquote.Quote(dir), ident(pgid, start, boot), poll, pgid, pgid)
}

// cancelScript sends TERM to every process of the job's session, waits up
// to grace seconds, then KILLs them, and fails when anything is left. It
// removes a secrets file the job never got to read. A group whose leader
// is not the job's (a reused id, another boot) is left alone; one that
// cannot be verified is left alone and reported.
func cancelScript(dir, pgid, start, boot string, graceTenths int) string {
	d := shellquote.Quote(dir)
	return sessionFns + fmt.Sprintf(`pg=%s
rm -f %s/.fleet/secrets.env
# shellcheck disable=SC2086
case $(leader %s) in
  ours) ;;
  other) exit 0 ;;
  *)
    alive $pg || exit 0
    echo "process group $pg: cannot verify that it is still this job (its leader has exited, or the handle has no start time and boot id, as an older fleet journalled it): not killing it; look with: ps -o pid,lstart,args -s $pg" >&2
    exit 3 ;;
esac
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
exit 0`, pgid, d, ident("$pg", start, boot), graceTenths, d, d)
}

// logsScript follows job.log until the job's command exits (.fleet/child;
// the session leader for a job started by an older fleet); when the group
// is not verifiably the job's, it prints what the log holds. tail checks
// on the process every 20ms (its default, 1s, held every job's end; the
// check is one kill(pid, 0), and inotify brings the lines), and
// follows the command, not the wrapper: the wrapper's parent is init,
// which may take a second or more to reap it, and tail counts a zombie as
// running.
func logsScript(dir, pgid, start, boot string) string {
	return sessionFns + fmt.Sprintf(`cd %s || exit 0
i=0
while [ ! -e job.log ]; do i=$((i+1)); [ $i -gt 100 ] && exit 0; sleep 0.1; done
# shellcheck disable=SC2086
[ "$(leader %s)" = ours ] || exec cat job.log
pid=%s
i=0
while [ ! -s .fleet/child ] && [ ! -e .fleet/exit ] && [ $i -lt 20 ]; do i=$((i+1)); sleep 0.05; done
c=$(cat .fleet/child 2>/dev/null)
case $c in '' | *[!0-9]*) ;; *) pid=$c ;; esac
exec tail -n +1 -f -s 0.02 --pid="$pid" job.log`, shellquote.Quote(dir), ident(pgid, start, boot), pgid)
}
