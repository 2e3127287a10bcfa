package slurm

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/target"
)

// status is what Slurm says about one job at one moment.
type status struct {
	ID    string
	State string // base state word: "CANCELLED", never "CANCELLED by 0"
	// Code and Sig are the exit status of the batch step (the script),
	// from ExitCode "code:signal"; HaveCode says whether one was shown.
	Code, Sig int
	HaveCode  bool
	Restarts  int // times Slurm requeued the job (scontrol only)
}

// baseState turns what sacct, squeue or scontrol print into one upper-case
// word: sacct says "CANCELLED by 1000", the default (non -P) formats cut
// long words with a trailing "+".
func baseState(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		s = s[:i]
	}
	return strings.ToUpper(strings.TrimRight(s, "+"))
}

// Job states grouped by what Wait does with them.
var (
	// activeStates are states a job leaves again by itself: Wait goes on.
	// REQUEUED and the hold states come back as PENDING (a requeue after
	// a node failure or preemption); COMPLETING still has processes on
	// the node.
	activeStates = map[string]bool{
		"PENDING": true, "CONFIGURING": true, "RUNNING": true, "COMPLETING": true,
		"REQUEUED": true, "REQUEUE_HOLD": true, "REQUEUE_FED": true, "RESV_DEL_HOLD": true,
		"RESIZING": true, "SUSPENDED": true, "STOPPED": true, "SIGNALING": true, "STAGE_OUT": true,
		"PREEMPTED_REQUEUE": true,
	}
	// requeueableStates end a run that Slurm may start again under the same
	// job id (JobRequeue=1 or --requeue): sacct may still show the ending
	// of the lost run while the controller already holds the job PENDING,
	// so these are confirmed with scontrol before Wait believes them.
	requeueableStates = map[string]bool{"NODE_FAIL": true, "PREEMPTED": true, "BOOT_FAIL": true}
)

// terminal reports whether a job in state s has ended for good. Unknown
// words count as not ended: a newer Slurm's new state must not end a job
// that is still running (the engine's job timeout bounds the wait).
func terminal(s string) bool {
	switch s {
	case "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
		"OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", "REVOKED":
		return true
	}
	return false
}

// exitOf maps a terminal status to the target's Exit.
//
// A plain ending (COMPLETED or FAILED) reads like a local job's: Code is
// the script's exit status, or 128+N with Signal set when signal N killed
// it, and State stays empty so the engine interprets job.sh's exit codes.
// COMPLETED with a non-zero batch exit (a pipeline hid the failure from
// Slurm) is a failure with that code. Every other ending keeps Slurm's word
// in State: the engine retries NODE_FAIL, PREEMPTED and BOOT_FAIL.
func exitOf(st status) target.Exit {
	code := -1
	if st.HaveCode {
		code = st.Code
		if st.Sig != 0 {
			code = 128 + st.Sig
		}
	}
	e := target.Exit{Code: code}
	switch {
	case st.HaveCode && st.Sig != 0:
		e.Signal = signalName(st.Sig)
	case st.HaveCode && st.Code > 128 && st.Code < 160:
		// The batch script reports a job killed by signal N as the shell
		// does, 128+N, as the shell target does.
		e.Signal = signalName(st.Code - 128)
	}
	switch st.State {
	case "COMPLETED":
		if !st.HaveCode {
			e.Code = 0
		}
	case "FAILED":
		if e.Code <= 0 && e.Signal == "" {
			// Failed without a failing status (the script could not even
			// start, e.g. a bad --chdir): keep Slurm's word so the job
			// never passes for a success.
			e.State = "FAILED"
		}
	default:
		e.State = st.State
	}
	return e
}

func signalName(n int) string {
	names := map[int]string{1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 15: "SIGTERM"}
	if s, ok := names[n]; ok {
		return s
	}
	return "signal " + strconv.Itoa(n)
}

// parseExitCode reads Slurm's ExitCode "code:signal".
func parseExitCode(s string) (code, sig int, ok bool) {
	a, b, found := strings.Cut(strings.TrimSpace(s), ":")
	if !found {
		return 0, 0, false
	}
	c, err1 := strconv.Atoi(a)
	g, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return c, g, true
}

// parseSacct reads `sacct -P -n -o JobID,State,ExitCode` without -X: a row
// for the job (its state) and rows for its steps, of which "ID.batch"
// carries the script's own exit status. Rows of other jobs and steps are
// ignored. A job that has no row yet (freshly PENDING) is simply absent.
func parseSacct(out string) (map[string]status, error) {
	res := map[string]status{}
	batch := map[string]status{}
	for ln, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) < 3 {
			return nil, fmt.Errorf("sacct line %d: want JobID|State|ExitCode, got %q", ln+1, line)
		}
		id, step, _ := strings.Cut(f[0], ".")
		code, sig, ok := parseExitCode(f[2])
		st := status{ID: id, State: baseState(f[1]), Code: code, Sig: sig, HaveCode: ok}
		switch step {
		case "":
			res[id] = st
		case "batch":
			batch[id] = st
		}
	}
	for id, b := range batch {
		st, ok := res[id]
		if !ok || !b.HaveCode {
			continue
		}
		// The job's own ExitCode is the script's for batch jobs, but a
		// COMPLETED job whose batch step failed must not pass: trust the
		// batch step whenever it says something else.
		if !st.HaveCode || (b.Code != 0 || b.Sig != 0) {
			st.Code, st.Sig, st.HaveCode = b.Code, b.Sig, true
		}
		res[id] = st
	}
	return res, nil
}

// parseSqueue reads `squeue -h -o %i|%T` lines.
func parseSqueue(out string) (map[string]status, error) {
	res := map[string]status{}
	for ln, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		id, state, ok := strings.Cut(line, "|")
		if !ok || id == "" {
			return nil, fmt.Errorf("squeue line %d: want JobID|State, got %q", ln+1, line)
		}
		res[id] = status{ID: id, State: baseState(state)}
	}
	return res, nil
}

var (
	scontrolJobID    = regexp.MustCompile(`(?:^|\s)JobId=(\d+)`)
	scontrolState    = regexp.MustCompile(`(?:^|\s)JobState=(\S+)`)
	scontrolExit     = regexp.MustCompile(`(?:^|\s)ExitCode=(\d+:\d+)`)
	scontrolRestarts = regexp.MustCompile(`(?:^|\s)Restarts=(\d+)`)
)

// parseScontrol reads one job of `scontrol -o show job ID`: one line of
// Key=Value pairs. Values such as Command= or Comment= may hold spaces and
// anything else, so each key is taken at its first occurrence, which
// precedes those free-text fields.
func parseScontrol(out string) (status, error) {
	line := strings.TrimSpace(out)
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	id := scontrolJobID.FindStringSubmatch(line)
	state := scontrolState.FindStringSubmatch(line)
	if id == nil || state == nil {
		return status{}, fmt.Errorf("scontrol show job: no JobId/JobState in %q", trim(line, 200))
	}
	st := status{ID: id[1], State: baseState(state[1])}
	if m := scontrolExit.FindStringSubmatch(line); m != nil {
		st.Code, st.Sig, st.HaveCode = parseExitCode(m[1])
	}
	if m := scontrolRestarts.FindStringSubmatch(line); m != nil {
		st.Restarts, _ = strconv.Atoi(m[1])
	}
	return st, nil
}

// parseSubmit reads `sbatch --parsable`: "jobid" or "jobid;cluster".
func parseSubmit(out string) (jobRef, error) {
	s := strings.TrimSpace(out)
	// Site plugins sometimes print notices before the id: the id is last.
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	id, cluster, _ := strings.Cut(s, ";")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil || id == "" {
		return jobRef{}, fmt.Errorf("sbatch printed %q, want a job id", trim(out, 200))
	}
	return jobRef{ID: id, Cluster: cluster}, nil
}

func trim(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// jobRef is a Slurm job as a Handle's Ref spells it: "12345", or
// "12345;cluster" when sbatch named a cluster (federations, -M).
type jobRef struct {
	ID      string
	Cluster string
}

func (r jobRef) String() string {
	if r.Cluster == "" {
		return r.ID
	}
	return r.ID + ";" + r.Cluster
}

// parseRef reads a Handle's Ref back.
func parseRef(ref string) (jobRef, error) {
	id, cluster, _ := strings.Cut(strings.TrimSpace(ref), ";")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return jobRef{}, fmt.Errorf("handle ref %q is not a Slurm job id", ref)
	}
	if cluster != "" && !validWord(cluster) {
		return jobRef{}, fmt.Errorf("handle ref %q: bad cluster name", ref)
	}
	return jobRef{ID: id, Cluster: cluster}, nil
}

// validWord is a name safe everywhere without quoting.
func validWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
