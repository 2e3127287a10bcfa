package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/report"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/store"
)

// incrementalFlags choose which jobs an incremental sweep reuses instead
// of running (--only-changed, --max-age).
type incrementalFlags struct {
	onlyChanged bool
	maxAge      string
}

func (f *incrementalFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.onlyChanged, "only-changed", false, "skip jobs whose recipe fingerprint already has a successful result at their concurrency in the results store, reusing that result")
	cmd.Flags().StringVar(&f.maxAge, "max-age", "", "with --only-changed: reuse only results of runs started within this age (7d, 36h, 90m)")
}

// since is the oldest run start a reused result may have; zero when any
// age will do.
func (f *incrementalFlags) since(now time.Time) (time.Time, error) {
	if f.maxAge == "" {
		return time.Time{}, nil
	}
	if !f.onlyChanged {
		return time.Time{}, usageError{errors.New("--max-age applies to --only-changed: give both")}
	}
	d, err := parseAge(f.maxAge)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--max-age: %w", err)}
	}
	return now.Add(-d), nil
}

// parseAge reads an age as Go writes durations (36h, 90m), or whole days
// (7d), which durations lack.
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a positive age such as 7d, 36h or 90m", s)
	}
	return d, nil
}

// reusedJob is a job an incremental sweep does not run: every concurrency
// it measures has a stored result of its recipe, in ConcList order.
type reusedJob struct {
	job  *plan.Job
	rows []*store.RecipeRow
}

// runs names the runs the job's results come from, in order, once each.
func (r reusedJob) runs() []string {
	var ids []string
	for _, x := range r.rows {
		if !slices.Contains(ids, x.RunID) {
			ids = append(ids, x.RunID)
		}
	}
	return ids
}

// note is the journal's reason for a reused job: where its result was
// measured and when.
func (r reusedJob) note() string {
	newest := r.rows[0].Started
	for _, x := range r.rows {
		if x.Started.After(newest) {
			newest = x.Started
		}
	}
	word := "run"
	if len(r.runs()) > 1 {
		word = "runs"
	}
	return fmt.Sprintf("reused from %s %s (started %s)", word, strings.Join(r.runs(), ", "), newest.UTC().Format("2006-01-02 15:04 MST"))
}

// jobConcs are the concurrencies a job measures: a multi-node job's whole
// list, any other job its one.
func jobConcs(j *plan.Job) []int {
	if j.Multi != nil && len(j.ConcList) > 0 {
		return j.ConcList
	}
	return []int{j.Conc}
}

// splitUnchanged parts placed jobs into those to run and those whose
// recipe (Job.Fingerprint) has a successful result at every concurrency
// they measure in the store, run no earlier than since.
func splitUnchanged(ctx context.Context, st *store.Store, jobs []*plan.Job, since time.Time) (toRun []*plan.Job, reused []reusedJob, err error) {
	var fps []string
	for _, j := range jobs {
		if j.Fingerprint != "" && !slices.Contains(fps, j.Fingerprint) {
			fps = append(fps, j.Fingerprint)
		}
	}
	found, err := st.LatestByRecipe(ctx, fps, store.RecipeQuery{Since: since})
	if err != nil {
		return nil, nil, err
	}
	for _, j := range jobs {
		r := reusedJob{job: j}
		for _, c := range jobConcs(j) {
			row := found[store.RecipeKey{Fingerprint: j.Fingerprint, Conc: c}]
			if row == nil || j.Fingerprint == "" {
				r.rows = nil
				break
			}
			r.rows = append(r.rows, row)
		}
		if r.rows == nil {
			toRun = append(toRun, j)
			continue
		}
		reused = append(reused, r)
	}
	return toRun, reused, nil
}

// findUnchanged is splitUnchanged against the store of resultsDir; a
// results directory without a store has nothing to reuse, and is left
// without one.
func findUnchanged(ctx context.Context, resultsDir string, jobs []*plan.Job, since time.Time) ([]*plan.Job, []reusedJob, error) {
	path := store.DefaultPath(resultsDir)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return jobs, nil, nil
	}
	st, err := store.Open(ctx, path)
	if err != nil {
		return nil, nil, fmt.Errorf("--only-changed: %w", err)
	}
	defer st.Close()
	toRun, reused, err := splitUnchanged(ctx, st, jobs, since)
	if err != nil {
		return nil, nil, fmt.Errorf("--only-changed: %w", err)
	}
	return toRun, reused, nil
}

// writeReused makes the reused jobs part of run d before anything runs:
// each job's rows, copied from the store into its row file with this run's
// ids and a reused_from mark (results.Reuse), and a queued then done entry
// in the journal whose reason names the run the rows come from. The run
// directory stays self-contained: report, compare, status and the store
// read these jobs like any other done job.
func writeReused(d *run.Dir, reused []reusedJob) error {
	jr, err := d.Journal()
	if err != nil {
		return err
	}
	for _, r := range reused {
		j := r.job
		rows := make([]*results.Row, 0, len(r.rows))
		for _, x := range r.rows {
			row := *x.Row
			row.Extra = maps.Clone(x.Row.Extra)
			row.RunID, row.JobID = d.ID(), j.ID
			row.MarkReused(results.Reuse{Run: x.RunID, Job: x.JobID, Started: x.Started.UTC()})
			rows = append(rows, &row)
		}
		if err := os.MkdirAll(d.JobDir(j.ID), 0o755); err != nil {
			return fmt.Errorf("reuse job %s: %w", j.ID, err)
		}
		if err := results.WriteRows(d.RowPath(j.ID), rows); err != nil {
			return fmt.Errorf("reuse job %s: %w", j.ID, err)
		}
		gpu := j.GPU
		if gpu == "" {
			gpu = rows[0].HW
		}
		now := time.Now().UTC()
		for _, e := range []journal.Entry{
			{Time: now, Job: j.ID, Config: j.Config, GPU: gpu, State: journal.StateQueued},
			{Time: now, Job: j.ID, Node: rows[0].Node, State: journal.StateDone, Reason: r.note(), Result: d.Rel(d.RowPath(j.ID))},
		} {
			if err := jr.Append(e); err != nil {
				return fmt.Errorf("reuse job %s: %w", j.ID, err)
			}
		}
	}
	return nil
}

// writeReusePlan says, under `fleet plan --only-changed`, which jobs a
// sweep would reuse and from which run, and how many it would run.
func writeReusePlan(w io.Writer, total int, reused []reusedJob, maxAge string) error {
	fmt.Fprintln(w)
	if len(reused) == 0 {
		age := ""
		if maxAge != "" {
			age = " newer than " + maxAge
		}
		_, err := fmt.Fprintf(w, "--only-changed: no job has a stored result of its recipe%s; all %d would run\n", age, total)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REUSED\tFROM RUN\tSTARTED\tWHY")
	for _, r := range reused {
		newest := r.rows[0].Started
		for _, x := range r.rows {
			if x.Started.After(newest) {
				newest = x.Started
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\trecipe %s unchanged\n", cell(r.job.ID), cell(strings.Join(r.runs(), ",")),
			newest.UTC().Format("2006-01-02 15:04"), r.job.Fingerprint[:min(12, len(r.job.Fingerprint))])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n--only-changed: %d of %d jobs would reuse a stored result, %d would run\n", len(reused), total, total-len(reused))
	return err
}

// planReuse is a reused job in `fleet plan --only-changed --json`.
type planReuse struct {
	Job         string   `json:"job"`
	Fingerprint string   `json:"fingerprint"`
	Runs        []string `json:"runs"`
	Started     string   `json:"started"` // the newest of its results' runs, RFC 3339
}

func reusePlanJSON(reused []reusedJob) []planReuse {
	out := make([]planReuse, 0, len(reused))
	for _, r := range reused {
		newest := r.rows[0].Started
		for _, x := range r.rows {
			if x.Started.After(newest) {
				newest = x.Started
			}
		}
		out = append(out, planReuse{Job: r.job.ID, Fingerprint: r.job.Fingerprint, Runs: r.runs(), Started: newest.UTC().Format(time.RFC3339)})
	}
	return out
}

// compareLast compares the rows run runID measured (not those it reused)
// with the newest earlier rows of the same recipes and concurrencies, as
// `fleet compare` compares two runs, and prints the comparison. jobs are
// the run's jobs, which name each job's recipe; the comparison goes to w. The comparison is nil
// when no earlier row shares a recipe with the run.
func (a *App) compareLast(ctx context.Context, w io.Writer, resultsDir, runID string, jobs []*plan.Job, threshold float64) (*report.Comparison, error) {
	st, err := openStore(ctx, resultsDir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	in, err := a.reportInput(ctx, st, []string{runID})
	if err != nil {
		return nil, fmt.Errorf("--compare-last: %w", err)
	}
	var measured []*results.Row
	for _, r := range in.Rows {
		if r.ReusedFrom() == nil {
			measured = append(measured, r)
		}
	}
	var fps []string
	for _, j := range jobs {
		if j.Fingerprint != "" && !slices.Contains(fps, j.Fingerprint) {
			fps = append(fps, j.Fingerprint)
		}
	}
	last, err := st.LatestByRecipe(ctx, fps, store.RecipeQuery{ExceptRun: runID})
	if err != nil {
		return nil, fmt.Errorf("--compare-last: %w", err)
	}
	reusedJob := map[string]bool{}
	for _, r := range in.Rows {
		if r.ReusedFrom() != nil {
			reusedJob[r.JobID] = true
		}
	}
	var baseline []*results.Row
	var runs []string
	for _, j := range jobs {
		if reusedJob[j.ID] {
			continue
		}
		for _, c := range jobConcs(j) {
			if x := last[store.RecipeKey{Fingerprint: j.Fingerprint, Conc: c}]; x != nil {
				baseline = append(baseline, x.Row)
				if !slices.Contains(runs, x.RunID) {
					runs = append(runs, x.RunID)
				}
			}
		}
	}
	if len(baseline) == 0 {
		fmt.Fprintf(w, "\n--compare-last: no earlier result shares a recipe with run %s; nothing to compare\n", cell(runID))
		return nil, nil
	}
	results.SortRows(baseline)
	slices.Sort(runs)
	c := report.Compare("last of "+strings.Join(runs, ","), runID, baseline, measured, in.Jobs, threshold)
	fmt.Fprintln(w)
	return c, c.WriteText(w)
}
