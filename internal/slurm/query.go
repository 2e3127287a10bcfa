package slurm

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/shellquote"
)

// maxIDsPerCall keeps one query's command line short on clusters with
// very many jobs in flight.
const maxIDsPerCall = 400

// acctPause is how long polls skip an accounting storage that failed.
const acctPause = time.Minute

// Accounting modes, detected on the first query and remembered.
const (
	acctUnknown  = 0
	acctOn       = 1
	acctDisabled = -1
)

func (t *Target) setAcctMode(m int) {
	t.mu.Lock()
	t.accounting = m
	t.mu.Unlock()
}

// accountingDisabled recognises sacct's answer on a cluster without
// accounting storage ("Slurm accounting storage is disabled", exit 1), or a
// login node without sacct at all.
func accountingDisabled(r cmdResult) bool {
	m := strings.ToLower(r.msg())
	return r.code == 127 || strings.Contains(m, "accounting storage is disabled") || strings.Contains(m, "sacct: not found") || strings.Contains(m, "sacct: command not found")
}

// statuses is the poller's query: the states of many jobs with as few
// Slurm commands as possible. Normally that is one sacct call (accounting
// keeps ended jobs, and shows the batch step's exit status); squeue and
// scontrol fill in where sacct cannot answer: jobs too fresh for
// accounting, clusters without it, and node failures that Slurm may have
// requeued already.
func (t *Target) statuses(ctx context.Context, jobs []pollJob) (map[string]outcome, error) {
	out := make(map[string]outcome, len(jobs))
	byCluster := map[string][]pollJob{}
	var order []string
	for _, j := range jobs {
		if _, ok := byCluster[j.Ref.Cluster]; !ok {
			order = append(order, j.Ref.Cluster)
		}
		byCluster[j.Ref.Cluster] = append(byCluster[j.Ref.Cluster], j)
	}
	for _, c := range order {
		js := byCluster[c]
		for len(js) > 0 {
			n := min(len(js), maxIDsPerCall)
			if err := t.queryChunk(ctx, c, js[:n], out); err != nil {
				return nil, err
			}
			js = js[n:]
		}
	}
	return out, nil
}

func idList(jobs []pollJob) string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.Ref.ID
	}
	return strings.Join(ids, ",")
}

func (t *Target) queryChunk(ctx context.Context, cluster string, jobs []pollJob, out map[string]outcome) error {
	var sts map[string]status
	fromAcct := false
	t.mu.Lock()
	useAcct := t.accounting != acctDisabled && time.Now().After(t.acctRetry)
	t.mu.Unlock()
	if useAcct {
		r, err := t.exec(ctx, "poll job states",
			`sacct -P -n -u "$(id -un)" `+clusterFlag(cluster)+`-j `+idList(jobs)+` -o JobID,State,ExitCode`)
		if err != nil {
			return err
		}
		switch {
		case r.code == 0:
			t.setAcctMode(acctOn)
			if sts, err = parseSacct(r.stdout); err != nil {
				return fmt.Errorf("cluster %s: %w", t.Name(), err)
			}
			fromAcct = true
		case accountingDisabled(r):
			t.setAcctMode(acctDisabled)
		default:
			// Accounting exists but does not answer (slurmdbd down, or
			// not reachable from this login node): the controller still
			// knows every job in its memory, so polls ask it for a while.
			t.mu.Lock()
			t.acctRetry = time.Now().Add(acctPause)
			t.mu.Unlock()
		}
	}
	if !fromAcct {
		var err error
		if sts, err = t.squeueStates(ctx, cluster, jobs); err != nil {
			return err
		}
	}

	var missing []pollJob
	ended := map[string]status{} // by job id: ended for good as far as Slurm says
	for _, j := range jobs {
		st, ok := sts[j.Ref.ID]
		if !ok {
			missing = append(missing, j)
			continue
		}
		if err := t.settle(ctx, j, st, fromAcct, out, ended); err != nil {
			return err
		}
	}
	if len(missing) > 0 && fromAcct {
		// A fresh PENDING job has no accounting row yet (nor, for a
		// moment, one that ended at once); the controller knows it.
		q, err := t.squeueStates(ctx, cluster, missing)
		if err != nil {
			return err
		}
		still := missing[:0]
		for _, j := range missing {
			st, ok := q[j.Ref.ID]
			if !ok {
				still = append(still, j)
				continue
			}
			if err := t.settle(ctx, j, st, false, out, ended); err != nil {
				return err
			}
		}
		missing = still
	}

	// The exit status job.sh returned, as the batch script recorded it,
	// settles plain endings: squeue shows none, and accounting distorts
	// codes above 128 (sacct of Slurm 22.05 shows 137 as "9:0"). One
	// command reads every file of this poll. Jobs Slurm has forgotten
	// (purged without accounting) are settled by their file too.
	var files []pollJob
	for _, j := range jobs {
		if st, ok := ended[j.Ref.ID]; ok && (st.State == "COMPLETED" || st.State == "FAILED") {
			files = append(files, j)
		}
	}
	files = append(files, missing...)
	codes, err := t.exitFiles(ctx, files)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		key := j.Ref.String()
		st, ok := ended[j.Ref.ID]
		c, haveFile := codes[j.Ref.ID]
		switch {
		case ok && haveFile && (st.State == "COMPLETED" || st.State == "FAILED"):
			st.Code, st.Sig, st.HaveCode = c, 0, true
			out[key] = outcome{Done: true, Exit: exitOf(st)}
		case ok && !st.HaveCode:
			// No file (yet: a network filesystem may lag) and no code from
			// squeue: the controller's record has it.
			sc, known, err := t.scontrolStatus(ctx, j.Ref)
			if err != nil {
				return err
			}
			if known && terminal(sc.State) {
				st = sc
			}
			out[key] = outcome{Done: true, Exit: exitOf(st)}
		case ok:
			out[key] = outcome{Done: true, Exit: exitOf(st)}
		case slices.ContainsFunc(missing, func(m pollJob) bool { return m.Ref == j.Ref }):
			if !haveFile {
				out[key] = outcome{Missing: true}
				continue
			}
			st := status{ID: j.Ref.ID, State: "COMPLETED", Code: c, HaveCode: true}
			if c != 0 {
				st.State = "FAILED"
			}
			out[key] = outcome{Done: true, Exit: exitOf(st)}
		}
	}
	return nil
}

// settle records the outcome of a job Slurm reported in state st: still
// active in out, ended in ended.
func (t *Target) settle(ctx context.Context, j pollJob, st status, fromAcct bool, out map[string]outcome, ended map[string]status) error {
	if !terminal(st.State) {
		out[j.Ref.String()] = outcome{}
		return nil
	}
	// A node failure may be a run that Slurm has requeued already
	// (accounting can still show the lost run): the controller's own
	// record settles it, and gives the exit status squeue does not.
	if requeueableStates[st.State] || (!fromAcct && st.State != "COMPLETED" && st.State != "FAILED") {
		sc, known, err := t.scontrolStatus(ctx, j.Ref)
		if err != nil {
			return err
		}
		if known {
			if !terminal(sc.State) {
				out[j.Ref.String()] = outcome{}
				return nil
			}
			if !st.HaveCode || sc.State != st.State {
				st = sc
			}
		}
	}
	ended[j.Ref.ID] = st
	return nil
}

// squeueStates asks the controller about jobs still in its memory (ended
// jobs stay MinJobAge). Restricted to the user: another user's job of the
// same id on a federation must never answer for ours.
func (t *Target) squeueStates(ctx context.Context, cluster string, jobs []pollJob) (map[string]status, error) {
	base := `squeue -h -u "$(id -un)" -t all ` + clusterFlag(cluster)
	r, err := t.exec(ctx, "poll job states", base+`-j `+idList(jobs)+` -o '%i|%T'`)
	if err != nil {
		return nil, err
	}
	if r.code != 0 && strings.Contains(strings.ToLower(r.msg()), "invalid job id") {
		// squeue refuses the whole list when it knows none of the ids
		// (all purged): the user's whole queue answers as well.
		if r, err = t.exec(ctx, "poll job states", base+`-o '%i|%T'`); err != nil {
			return nil, err
		}
	}
	if r.code != 0 {
		return nil, t.slurmError("squeue", r)
	}
	sts, err := parseSqueue(r.stdout)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", t.Name(), err)
	}
	return sts, nil
}

// scontrolStatus is the controller's full record of one job; known is
// false when the controller has forgotten it.
func (t *Target) scontrolStatus(ctx context.Context, ref jobRef) (status, bool, error) {
	r, err := t.exec(ctx, "show Slurm job "+ref.ID, `scontrol `+clusterFlag(ref.Cluster)+`-o show job `+ref.ID)
	if err != nil {
		return status{}, false, err
	}
	if r.code != 0 {
		if strings.Contains(strings.ToLower(r.msg()), "invalid job id") {
			return status{}, false, nil
		}
		return status{}, false, t.slurmError("scontrol show job "+ref.ID, r)
	}
	st, err := parseScontrol(r.stdout)
	if err != nil {
		return status{}, false, fmt.Errorf("cluster %s: %w", t.Name(), err)
	}
	return st, true, nil
}

// exitFiles reads the exit status each job's batch script left in its
// work directory, with one command for all jobs. Jobs without a file are
// absent.
func (t *Target) exitFiles(ctx context.Context, jobs []pollJob) (map[string]int, error) {
	codes := map[string]int{}
	var b strings.Builder
	for _, j := range jobs {
		if j.WorkDir != "" {
			fmt.Fprintf(&b, "printf '%%s|' %s; cat %s 2>/dev/null; echo\n", j.Ref.ID,
				shellquote.Quote(path.Join(j.WorkDir, ".fleet", "exit")))
		}
	}
	if b.Len() == 0 {
		return codes, nil
	}
	r, err := t.exec(ctx, "read exit files", b.String())
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		id, v, ok := strings.Cut(strings.TrimSpace(line), "|")
		if !ok {
			continue
		}
		if c, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			codes[id] = c
		}
	}
	return codes, nil
}
