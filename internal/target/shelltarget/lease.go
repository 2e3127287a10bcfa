package shelltarget

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/shellquote"
	"github.com/fleetbench/fleet/internal/termtext"
)

// Node leases. Two controllers (two people's laptops) may drive the same
// node; each knows only its own jobs. So while a job runs, its controller
// holds a lease on the node, kept on the node itself where every
// controller looks: a file in <workdir>/.leases/, named after what it
// covers (node.lease, or gpu-0-1-2-3.lease for packed devices), saying who
// holds it, for which run and job, the job's process group once it has
// started, and until when (the node's clock).
//
// Every change to the lease directory happens under one lock (flock on
// .leases/.lock, which the kernel drops when the holder dies, so no lock
// ever outlives its script): a lease is read, judged, replaced (a temp
// file, then rename) or removed with nobody else looking. Two acquisitions
// at once are thus ordered, and the second sees the first's lease.
//
// A lease is stale once it has expired and the job it names no longer runs
// (its process group is gone, or was never recorded): a controller that
// died mid-job leaves a lease that lives as long as the job, and then
// lapses. A stale lease is renamed aside and removed, under the lock, and
// reported so the taker can say so. A lease of the same run and job is the
// taker's own (a resumed controller re-attaching to its job).
//
// What a lease file says is written by a controller, but read back here as
// untrusted: the directory and every file must be the connecting user's
// and private, a file is read only up to MaxLeaseSize, and values are
// checked (numbers) or escaped (text) before use.
//
// Leases are granted in the order controllers asked, so a controller
// whose jobs follow one another on a node cannot starve another waiting
// for it: an acquisition refused leaves a wait file (<token>.wait) with
// its ticket, the time its attempt first asked by its controller's clock,
// kept for WaitTTL past its last try; an acquisition is refused while a
// waiter with an earlier ticket wants an overlapping part of the node.
// Tickets order attempts the same way on every node, so the earliest one
// is never held back by a wait file and a group of nodes cannot livelock.

// MaxLeaseSize bounds what is read of one lease file.
const MaxLeaseSize = 4096

// LeaseDirName is the directory of leases inside a node's workdir.
const LeaseDirName = ".leases"

// WaitTTL is how long a wait file outlives its controller's last try:
// several of its retries, so a live waiter keeps its place and a gone one
// stops holding others back soon.
const WaitTTL = 15 * time.Second

// Lease is one controller's claim on a node, as its lease file records it.
type Lease struct {
	// Name is the file's name without .lease: "node" or "gpu-0-1".
	Name  string `json:"name"`
	Token string `json:"-"` // the acquisition's own random id
	Host  string `json:"host"`
	User  string `json:"user"`
	PID   int    `json:"pid"`
	Run   string `json:"run"`
	Job   string `json:"job"`
	// Devices are the GPUs it covers; nil means the whole node.
	Devices []int `json:"devices,omitempty"`
	// PGID, Start and Boot identify the job's process group once it has
	// started (target.Handle's Ref, Start, Boot).
	PGID  string `json:"pgid,omitempty"`
	Start string `json:"-"`
	Boot  string `json:"-"`
	// Since and Expires are the node's clock.
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires"`
	// State is what a listing found: live, expired (but its job runs) or
	// stale.
	State string `json:"state,omitempty"`
	// Ticket orders waiting attempts: when the attempt first asked, in
	// milliseconds by its controller's clock (0: now).
	Ticket int64 `json:"-"`
}

// LeaseName is the file name (without .lease) of a lease on devices.
func LeaseName(devices []int) string {
	if len(devices) == 0 {
		return "node"
	}
	d := append([]int(nil), devices...)
	sort.Ints(d)
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = strconv.Itoa(x)
	}
	return "gpu-" + strings.Join(parts, "-")
}

// Holder says who holds the lease, in one line fit for a terminal.
func (l Lease) Holder() string {
	s := fmt.Sprintf("%s@%s pid %d, run %s, job %s, %s", l.User, l.Host, l.PID, l.Run, l.Job, l.covers())
	if !l.Since.IsZero() {
		s += ", since " + l.Since.UTC().Format(time.RFC3339)
	}
	if !l.Expires.IsZero() {
		s += ", expires " + l.Expires.UTC().Format(time.RFC3339)
	}
	if l.State != "" && l.State != "live" {
		s += " (" + l.State + ")"
	}
	return termtext.Line(s, 512)
}

func (l Lease) covers() string {
	if len(l.Devices) == 0 {
		return "whole node"
	}
	return "GPUs " + devicesString(l.Devices)
}

func devicesString(d []int) string {
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}

// format is the holder's part of the lease file; the node's script adds
// since and expires by its own clock.
func (l Lease) format() (string, error) {
	var b strings.Builder
	b.WriteString("fleet-lease=1\n")
	for _, kv := range [][2]string{
		{"token", l.Token}, {"host", l.Host}, {"user", l.User}, {"pid", strconv.Itoa(l.PID)},
		{"run", l.Run}, {"job", l.Job}, {"devices", devicesOrAll(l.Devices)},
		{"pgid", l.PGID}, {"start", l.Start}, {"boot", l.Boot},
	} {
		if strings.ContainsAny(kv[1], "\n\r\x00") {
			return "", fmt.Errorf("lease %s: %q holds a line break", kv[0], kv[1])
		}
		b.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	return b.String(), nil
}

func devicesOrAll(d []int) string {
	if len(d) == 0 {
		return "all"
	}
	return devicesString(d)
}

// ParseLease reads a lease file's text (at most MaxLeaseSize of it). Text
// values are made fit for a terminal; numbers that do not parse are left
// zero.
func ParseLease(name string, b []byte) Lease {
	if len(b) > MaxLeaseSize {
		b = b[:MaxLeaseSize]
	}
	l := Lease{Name: termtext.Line(name, 64)}
	text := func(s string) string { return termtext.Line(s, 256) }
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "token":
			l.Token = text(v)
		case "host":
			l.Host = text(v)
		case "user":
			l.User = text(v)
		case "pid":
			l.PID, _ = strconv.Atoi(v)
		case "run":
			l.Run = text(v)
		case "job":
			l.Job = text(v)
		case "devices":
			l.Devices = nil
			if v != "all" {
				for _, f := range strings.Split(v, ",") {
					if n, err := strconv.Atoi(f); err == nil && n >= 0 && len(l.Devices) < 1024 {
						l.Devices = append(l.Devices, n)
					}
				}
			}
		case "pgid":
			if _, err := pgid(v); err == nil {
				l.PGID = v
			}
		case "start":
			l.Start = text(v)
		case "boot":
			l.Boot = text(v)
		case "since":
			l.Since = unixTime(v)
		case "expires":
			l.Expires = unixTime(v)
		case "ticket":
			l.Ticket, _ = strconv.ParseInt(v, 10, 64)
		case "state":
			if v == "live" || v == "expired" || v == "stale" {
				l.State = v
			}
		}
	}
	return l
}

func unixTime(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// BusyError is an acquisition refused because a live lease overlaps, or
// (Queued) because another controller asked first and waits.
type BusyError struct {
	Node   string
	Holder Lease
	Queued bool
}

func (e *BusyError) Error() string {
	if e.Queued {
		return e.Node + ": another controller asked first and waits for it: " + e.Holder.Holder()
	}
	return e.Node + ": held by another controller: " + e.Holder.Holder()
}

// ErrLeaseLost is a renewal that found the lease gone or someone else's.
var ErrLeaseLost = errors.New("lease lost")

// leaseFns define, for scripts run with base and L (the lease directory)
// set: lock (takes the directory's lock), fields FILE (sets f_NAME to
// the first NAME= line of FILE for each key a lease or wait file holds),
// num, overlaps
// A B (two device lists, "all" or comma-separated, share a device),
// gone PGID START BOOT (that job no longer runs) and checked FILE (a
// regular, private file of the connecting user's, or a refusal).
const leaseFns = `lock() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>>"$L/.lock" && flock -w 60 9 && return 0
    return 1
  fi
  # No flock (macOS): a lock directory, removed on exit. One left by a
  # script killed inside its few milliseconds of work is broken after ten
  # minutes.
  i=0
  until mkdir "$L/.lockd" 2>/dev/null; do
    if [ -n "$(find "$L/.lockd" -maxdepth 0 -mmin +10 2>/dev/null)" ]; then rmdir "$L/.lockd" 2>/dev/null; fi
    i=$((i+1)); [ "$i" -gt 600 ] && return 1
    sleep 0.1
  done
  trap 'rmdir "$L/.lockd" 2>/dev/null' EXIT
}
# fields reads a lease or wait file once (its first 4096 bytes, control
# characters dropped, values cut at 256 characters): one pipeline a file
# rather than one a key, since each process costs a job milliseconds.
# Each script uses some of the f_ variables (SC2034).
# shellcheck disable=SC2034
fields() {
  f_token='' f_run='' f_job='' f_devices='' f_pgid='' f_start='' f_boot='' f_since='' f_expires='' f_ticket=''
  _seen=' '
  while IFS= read -r _l; do
    _k=${_l%%=*}
    [ "$_k" != "$_l" ] || continue
    case $_seen in *" $_k "*) continue ;; esac
    _seen="$_seen$_k "
    _v=${_l#*=}
    case $_k in
      token) f_token=$_v ;; run) f_run=$_v ;; job) f_job=$_v ;; devices) f_devices=$_v ;;
      pgid) f_pgid=$_v ;; start) f_start=$_v ;; boot) f_boot=$_v ;; since) f_since=$_v ;;
      expires) f_expires=$_v ;; ticket) f_ticket=$_v ;;
    esac
  done <<EOF
$(head -c ` + "4096" + ` -- "$1" | tr -d '\000-\011\013-\037' | cut -c1-256)
EOF
}
num() { case $1 in ''|*[!0-9]*) echo 0 ;; *) echo "$1" ;; esac; }
overlaps() {
  if [ "$1" = all ] || [ "$2" = all ]; then return 0; fi
  for d in $(echo "$1" | tr , ' '); do
    case ",$2," in *",$d,"*) return 0 ;; esac
  done
  return 1
}
gone() {
  pg=$(num "$1")
  [ "$pg" -ge 2 ] || return 0
  # A reused id (another boot, another leader) is not the job; a
  # group of zombies, which a container's init may never reap, is gone.
  [ "$(leader "$pg" "$2" "$3")" = other ] && return 0
  ! alive "$pg"
}
checked() {
  if [ -L "$1" ] || [ ! -f "$1" ]; then
    echo "fleet: lease $1 on this machine is not a regular file: remove it" >&2; return 1
  fi
  # shellcheck disable=SC2046
  set -- "$1" $(finfo "$1")
  if [ "$2" != "$me" ] || [ $((0$3 & 022)) -ne 0 ]; then
    refuse "lease" "$1" "is owned by uid $2 (mode $3), or writable by others" "remove it"; return 1
  fi
}
`

// leaseScript is the prologue of every lease script: the lease directory
// made or checked like the work directories, then locked.
func leaseScript(base string) string {
	q := shellquote.Quote
	return leaseHeader + dirFns + sessionFns + leaseFns + `umask 077
base=` + q(base) + `
L=` + q(path.Join(base, LeaseDirName)) + `
case $base in */*) d=${base%/*}; mkdir -p -- "${d:-/}" || exit 1 ;; esac
private_dir "$base" 'work directory' || exit 1
private_dir "$L" 'lease directory' || exit 1
lock || { echo "fleet: could not lock $L within a minute" >&2; exit 1; }
`
}

// leaseHeader turns off, for a whole lease script, shellcheck's warning
// about the shared functions that this one script never calls.
const leaseHeader = "# shellcheck disable=SC2317\n"

// acquireScript claims name for want (devices or all) with ttl seconds,
// the holder's fields on stdin, for an attempt with ticket. It exits 10
// printing the live lease in the way after @@busy, or the earlier waiter
// after @@queued, and leaves its own wait file; it prints each stale
// lease it takes over after @@stale and each lease of the same run and
// job it adopts after @@own.
func acquireScript(base, name, token, want, run, job string, ttl int, ticket int64) string {
	q := shellquote.Quote
	return leaseScript(base) + `tok=` + q(token) + `
want=` + q(want) + `
run=` + q(run) + `
job=` + q(job) + `
ticket=` + strconv.FormatInt(ticket, 10) + `
now=$(date +%s)
queue() {
  t="$L/.tmp-$tok"
  if { cat; echo "ticket=$ticket"; echo "expires=$((now + ` + strconv.Itoa(ttlSeconds(WaitTTL)) + `))"; } > "$t"; then mv -f -- "$t" "$L/$tok.wait"; else rm -f -- "$t"; fi
}
for w in "$L"/*.wait; do
  [ -e "$w" ] || [ -L "$w" ] || continue
  checked "$w" || exit 1
  fields "$w"
  wtok=$f_token
  [ "$wtok" = "$tok" ] && continue
  if [ "$(num "$f_expires")" -lt "$now" ]; then rm -f -- "$w"; continue; fi
  if [ "$f_run" = "$run" ] && [ "$f_job" = "$job" ]; then continue; fi
  overlaps "$want" "$f_devices" || continue
  wt=$(num "$f_ticket")
  if [ "$wt" -lt "$ticket" ] || { [ "$wt" -eq "$ticket" ] && expr "x$wtok" \< "x$tok" >/dev/null; }; then
    echo @@queued; head -c 4096 -- "$w"; echo
    queue; exit 10
  fi
done
for f in "$L"/*.lease; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  checked "$f" || exit 1
  fields "$f"
  [ "$f_token" = "$tok" ] && continue
  overlaps "$want" "$f_devices" || continue
  if [ "$f_run" = "$run" ] && [ "$f_job" = "$job" ]; then
    echo @@own; head -c 4096 -- "$f"; echo
    mv -f -- "$f" "$L/.old-$tok" && rm -f -- "$L/.old-$tok" || exit 1
    continue
  fi
  if [ "$(num "$f_expires")" -lt "$now" ] && gone "$f_pgid" "$f_start" "$f_boot"; then
    echo @@stale; head -c 4096 -- "$f"; echo
    mv -f -- "$f" "$L/.stale-$tok" && rm -f -- "$L/.stale-$tok" || exit 1
    continue
  fi
  echo @@busy; head -c 4096 -- "$f"; echo
  queue; exit 10
done
t="$L/.tmp-$tok"
if { cat; echo "since=$now"; echo "expires=$((now + ` + strconv.Itoa(ttl) + `))"; } > "$t" && mv -f -- "$t" "$L"/` + q(name+".lease") + `; then
  rm -f -- "$L/$tok.wait"
  echo @@ok; exit 0
fi
rm -f -- "$t"
exit 1
`
}

// renewScript pushes the expiry of the lease name holding token forward
// and rewrites its holder's fields from stdin (the job's process group,
// once known). It exits 11 printing what is there instead when the lease
// is no longer the token's.
func renewScript(base, name, token string, ttl int) string {
	q := shellquote.Quote
	return leaseScript(base) + `f="$L"/` + q(name+".lease") + `
tok=` + q(token) + `
if [ ! -e "$f" ] && [ ! -L "$f" ]; then echo @@lost; exit 11; fi
checked "$f" || exit 1
fields "$f"
if [ "$f_token" != "$tok" ]; then echo @@lost; head -c 4096 -- "$f"; echo; exit 11; fi
since=$(num "$f_since")
now=$(date +%s)
t="$L/.tmp-$tok"
if { cat; echo "since=$since"; echo "expires=$((now + ` + strconv.Itoa(ttl) + `))"; } > "$t" && mv -f -- "$t" "$f"; then exit 0; fi
rm -f -- "$t"
exit 1
`
}

// releaseScript removes the lease name holding token once the job it
// names has ended; while its processes still run (a cancel that failed)
// it waits a few seconds, then keeps the lease and prints "kept": it
// lapses when they end.
func releaseScript(base, name, token string) string {
	q := shellquote.Quote
	return leaseScript(base) + `f="$L"/` + q(name+".lease") + `
tok=` + q(token) + `
if [ ! -e "$f" ] && [ ! -L "$f" ]; then exit 0; fi
checked "$f" || exit 1
fields "$f"
[ "$f_token" = "$tok" ] || exit 0
i=0
until gone "$f_pgid" "$f_start" "$f_boot"; do
  i=$((i+1)); if [ $i -gt 50 ]; then echo kept; exit 0; fi
  sleep 0.1
done
rm -f -- "$f"
`
}

// LeaseListScript prints the leases under the workdir dirExpr (a shell
// word: quoted, or "$HOME"/... for a ~ path) without taking the lock (a
// lease file is always replaced whole): for each, a line "lease NAME",
// its key=value lines, and state=live|expired|stale; "refused WHY" for a
// lease directory or file that is not the connecting user's alone.
// ParseLeaseList reads it.
func LeaseListScript(dirExpr string) string {
	return leaseHeader + dirFns + sessionFns + leaseFns + `L=` + dirExpr + `/` + LeaseDirName + `
now=$(date +%s)
if [ -d "$L" ] || [ -L "$L" ]; then
  if ! private_dir "$L" 'lease directory' 2>/dev/null; then
    echo "refused lease directory $L is not private to the connecting user: fleet will not use it"
  else
    for f in "$L"/*.lease; do
      [ -e "$f" ] || [ -L "$f" ] || continue
      n=${f##*/}; n=${n%.lease}
      case $n in *[!A-Za-z0-9-]*) echo "refused a lease file with an odd name"; continue ;; esac
      if ! checked "$f" 2>/dev/null; then echo "refused lease $n: not a private regular file of the connecting user"; continue; fi
      echo "lease $n"
      head -c 4096 -- "$f" | grep -E '^[a-z]+=' | grep -v '^state='
      fields "$f"
      if [ "$(num "$f_expires")" -ge "$now" ]; then echo state=live
      elif gone "$f_pgid" "$f_start" "$f_boot"; then echo state=stale
      else echo state=expired
      fi
    done
  fi
fi
`
}

// ParseLeaseList reads LeaseListScript's output: the leases, and the
// refusals in words.
func ParseLeaseList(lines []string) (leases []Lease, refused []string) {
	var name string
	var body []string
	flush := func() {
		if name != "" {
			leases = append(leases, ParseLease(name, []byte(strings.Join(body, "\n"))))
		}
		name, body = "", nil
	}
	for _, line := range lines {
		switch {
		case strings.HasPrefix(line, "lease "):
			flush()
			name = strings.TrimPrefix(line, "lease ")
		case strings.HasPrefix(line, "refused "):
			refused = append(refused, termtext.Line(strings.TrimPrefix(line, "refused "), 512))
		case name != "" && len(body) < 64:
			body = append(body, line)
		}
	}
	flush()
	return leases, refused
}

// AcquireLease claims the node (l.Devices nil) or the devices l lists for
// ttl, with l's holder fields (its Token set to a fresh random id by the
// caller). A live overlapping lease gives a *BusyError; stale leases it
// took over, and an earlier lease of the same run and job it adopted, are
// returned.
func (t *Target) AcquireLease(ctx context.Context, l *Lease, ttl time.Duration) (taken []Lease, err error) {
	base, err := t.baseDir(ctx)
	if err != nil {
		return nil, err
	}
	if !plainToken(l.Token) {
		return nil, fmt.Errorf("%s: lease token %q: want letters and digits", t.Name(), l.Token)
	}
	l.Name = LeaseName(l.Devices)
	body, err := l.format()
	if err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	ticket := l.Ticket
	if ticket == 0 {
		ticket = time.Now().UnixMilli()
	}
	code, err := t.host.Exec(ctx, acquireScript(base, l.Name, l.Token, devicesOrAll(l.Devices), l.Run, l.Job, ttlSeconds(ttl), ticket), strings.NewReader(body), &out, &errb)
	if err != nil {
		return nil, fmt.Errorf("%s: acquire lease: %w", t.Name(), err)
	}
	blocks := leaseBlocks(out.String())
	for _, b := range blocks {
		if b.tag == "stale" || b.tag == "own" {
			taken = append(taken, b.lease)
		}
	}
	switch code {
	case 0:
		return taken, nil
	case 10:
		for _, b := range blocks {
			if b.tag == "busy" || b.tag == "queued" {
				return taken, &BusyError{Node: t.Name(), Holder: b.lease, Queued: b.tag == "queued"}
			}
		}
		return taken, &BusyError{Node: t.Name()}
	default:
		return taken, fmt.Errorf("%s: acquire lease: exit %d: %s", t.Name(), code, termtext.Line(strings.TrimSpace(errb.String()), 1024))
	}
}

// RenewLease pushes l's expiry ttl ahead and records its current holder
// fields (the job's process group once started). A lease that is gone or
// someone else's gives ErrLeaseLost.
func (t *Target) RenewLease(ctx context.Context, l *Lease, ttl time.Duration) error {
	base, err := t.baseDir(ctx)
	if err != nil {
		return err
	}
	body, err := l.format()
	if err != nil {
		return err
	}
	var out, errb bytes.Buffer
	code, err := t.host.Exec(ctx, renewScript(base, l.Name, l.Token, ttlSeconds(ttl)), strings.NewReader(body), &out, &errb)
	switch {
	case err != nil:
		return fmt.Errorf("%s: renew lease: %w", t.Name(), err)
	case code == 11:
		for _, b := range leaseBlocks(out.String()) {
			if b.tag == "lost" && b.lease.Token != "" {
				return fmt.Errorf("%s: %w: now held by %s", t.Name(), ErrLeaseLost, b.lease.Holder())
			}
		}
		return fmt.Errorf("%s: %w: the lease file is gone", t.Name(), ErrLeaseLost)
	case code != 0:
		return fmt.Errorf("%s: renew lease: exit %d: %s", t.Name(), code, termtext.Line(strings.TrimSpace(errb.String()), 1024))
	}
	return nil
}

// ReleaseLease removes l once the job it names no longer runs; kept is
// true when its processes still ran (the lease then lapses with them).
func (t *Target) ReleaseLease(ctx context.Context, l *Lease) (kept bool, err error) {
	base, err := t.baseDir(ctx)
	if err != nil {
		return false, err
	}
	out, err := t.run(ctx, "release lease", releaseScript(base, l.Name, l.Token), nil)
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) == "kept", nil
}

// Leases lists the node's leases (for tests and tools; fleet nodes check
// runs LeaseListScript in its probe).
func (t *Target) Leases(ctx context.Context) ([]Lease, []string, error) {
	base, err := t.baseDir(ctx)
	if err != nil {
		return nil, nil, err
	}
	out, err := t.run(ctx, "list leases", LeaseListScript(shellquote.Quote(base)), nil)
	if err != nil {
		return nil, nil, err
	}
	leases, refused := ParseLeaseList(strings.Split(out, "\n"))
	return leases, refused, nil
}

type leaseBlock struct {
	tag   string
	lease Lease
}

// leaseBlocks splits a script's output into its @@tag blocks.
func leaseBlocks(out string) []leaseBlock {
	var blocks []leaseBlock
	var tag string
	var body []string
	flush := func() {
		if tag != "" {
			blocks = append(blocks, leaseBlock{tag, ParseLease("", []byte(strings.Join(body, "\n")))})
		}
		tag, body = "", nil
	}
	for _, line := range strings.Split(out, "\n") {
		if t, ok := strings.CutPrefix(line, "@@"); ok {
			flush()
			tag = t
			continue
		}
		if len(body) < 64 {
			body = append(body, line)
		}
	}
	flush()
	return blocks
}

func ttlSeconds(d time.Duration) int {
	return max(int(d/time.Second), 1)
}

func plainToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
