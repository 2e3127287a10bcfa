package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/fleetbench/fleet/internal/results"
)

// ErrNoRun is returned when a named run is not in the store.
var ErrNoRun = errors.New("no such run in the store")

// RunInfo is a run with counts of its jobs.
type RunInfo struct {
	Run
	Jobs      int
	Done      int
	Failed    int
	Cancelled int
	Rows      int
	Attempts  int
	HW        []string // GPU types, sorted
}

// Runs lists every run, oldest first.
func (s *Store) Runs(ctx context.Context) ([]RunInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.source, r.location, r.sweep, r.started_at, r.recorded_at,
	COUNT(j.job_id),
	COALESCE(SUM(j.state = 'done'), 0), COALESCE(SUM(j.state = 'failed'), 0), COALESCE(SUM(j.state = 'cancelled'), 0),
	COALESCE((SELECT COUNT(*) FROM job_rows x JOIN jobs y ON y.run_id = x.run_id AND y.job_id = x.job_id
		WHERE x.run_id = r.id AND y.state = 'done'), 0),
	COALESCE((SELECT COUNT(*) FROM attempts a WHERE a.run_id = r.id), 0),
	COALESCE(GROUP_CONCAT(DISTINCT NULLIF(j.hw, '')), '')
FROM runs r LEFT JOIN jobs j ON j.run_id = r.id
GROUP BY r.id
ORDER BY CASE WHEN r.started_at != '' THEN r.started_at ELSE r.recorded_at END, r.id`)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []RunInfo
	for rows.Next() {
		var ri RunInfo
		var started, recorded, hw string
		if err := rows.Scan(&ri.ID, &ri.Source, &ri.Location, &ri.Sweep, &started, &recorded,
			&ri.Jobs, &ri.Done, &ri.Failed, &ri.Cancelled, &ri.Rows, &ri.Attempts, &hw); err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		ri.Started, ri.Recorded = parseTime(started), parseTime(recorded)
		if hw != "" {
			ri.HW = strings.Split(hw, ",")
			sort.Strings(ri.HW)
		}
		out = append(out, ri)
	}
	return out, rows.Err()
}

// LatestRun is the id of the run that started last; ErrNoRun when the
// store is empty.
func (s *Store) LatestRun(ctx context.Context) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM runs
ORDER BY CASE WHEN started_at != '' THEN started_at ELSE recorded_at END DESC, id DESC LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("latest run: %w", ErrNoRun)
	}
	if err != nil {
		return "", fmt.Errorf("latest run: %w", err)
	}
	return id, nil
}

// GetRun returns one run; ErrNoRun when it is not there.
func (s *Store) GetRun(ctx context.Context, id string) (*Run, error) {
	var r Run
	var started, recorded string
	err := s.db.QueryRowContext(ctx, `SELECT id, source, location, sweep, started_at, recorded_at FROM runs WHERE id = ?`, id).
		Scan(&r.ID, &r.Source, &r.Location, &r.Sweep, &started, &recorded)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("run %s: %w", id, ErrNoRun)
	}
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", id, err)
	}
	r.Started, r.Recorded = parseTime(started), parseTime(recorded)
	return &r, nil
}

const jobColumns = `run_id, job_id, config, state, node, hw, attempts, reason, source_sha256`

func scanJob(sc interface{ Scan(...any) error }) (*Job, error) {
	var j Job
	if err := sc.Scan(&j.RunID, &j.ID, &j.Config, &j.State, &j.Node, &j.HW, &j.Attempts, &j.Reason, &j.SourceSHA256); err != nil {
		return nil, err
	}
	return &j, nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Jobs returns the jobs of the given runs (all runs when none is named),
// rows and metrics included, ordered by run then job id.
func (s *Store) Jobs(ctx context.Context, runIDs ...string) ([]*Job, error) {
	// One read transaction: a run another process imports meanwhile
	// cannot give these jobs that import's rows (in WAL mode the
	// transaction reads one snapshot and never waits for the writer).
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	defer tx.Rollback()
	where, args := inRuns(runIDs)
	rows, err := tx.QueryContext(ctx, `SELECT `+jobColumns+` FROM jobs`+where+` ORDER BY run_id, job_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	var jobs []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("read jobs: %w", err)
		}
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	if err := fillRows(ctx, tx, jobs, runIDs); err != nil {
		return nil, err
	}
	return jobs, nil
}

// rowKey names one row of one job.
type rowKey struct {
	run, job string
	n        int
}

// fillRows reads the rows of jobs, in order, and their metrics.
func fillRows(ctx context.Context, q queryer, jobs []*Job, runIDs []string) error {
	byJob := map[[2]string]*Job{}
	for _, j := range jobs {
		byJob[[2]string{j.RunID, j.ID}] = j
	}
	where, args := inRuns(runIDs)
	rows, err := q.QueryContext(ctx, `SELECT run_id, job_id, n, model, framework, precision, image, tp, ep, dp_attention, conc, isl, osl,
	tput_per_gpu, output_tput_per_gpu, input_tput_per_gpu, completed, failed, extra FROM job_rows`+where+` ORDER BY run_id, job_id, n`, args...)
	if err != nil {
		return fmt.Errorf("read rows: %w", err)
	}
	byKey := map[rowKey]*results.Row{}
	for rows.Next() {
		var k rowKey
		var extra string
		r := &results.Row{Metrics: map[string]float64{}}
		if err := rows.Scan(&k.run, &k.job, &k.n, &r.Model, &r.Framework, &r.Precision, &r.Image, &r.TP, &r.EP, &r.DPAttention,
			&r.Conc, &r.ISL, &r.OSL, &r.TputPerGPU, &r.OutputTputPerGPU, &r.InputTputPerGPU, &r.Completed, &r.Failed, &extra); err != nil {
			rows.Close()
			return fmt.Errorf("read rows: %w", err)
		}
		j := byJob[[2]string{k.run, k.job}]
		if j == nil {
			continue
		}
		if extra != "" {
			if err := json.Unmarshal([]byte(extra), &r.Extra); err != nil {
				rows.Close()
				return fmt.Errorf("row %d of job %s of run %s: extra keys: %w", k.n, k.job, k.run, err)
			}
		}
		r.HW, r.Node, r.RunID, r.JobID = j.HW, j.Node, j.RunID, j.ID
		j.Rows = append(j.Rows, r)
		byKey[k] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rows: %w", err)
	}
	if err := fillMetrics(ctx, q, byKey, runIDs); err != nil {
		return err
	}
	return fillEvals(ctx, q, byKey, runIDs)
}

func fillMetrics(ctx context.Context, q queryer, byKey map[rowKey]*results.Row, runIDs []string) error {
	if len(byKey) == 0 {
		return nil
	}
	where, args := inRuns(runIDs)
	rows, err := q.QueryContext(ctx, `SELECT run_id, job_id, n, name, value FROM metrics`+where, args...)
	if err != nil {
		return fmt.Errorf("read metrics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k rowKey
		var name string
		var v float64
		if err := rows.Scan(&k.run, &k.job, &k.n, &name, &v); err != nil {
			return fmt.Errorf("read metrics: %w", err)
		}
		if r := byKey[k]; r != nil {
			r.Metrics[name] = v
		}
	}
	return rows.Err()
}

func inRuns(runIDs []string) (string, []any) {
	if len(runIDs) == 0 {
		return "", nil
	}
	args := make([]any, len(runIDs))
	for i, id := range runIDs {
		args[i] = id
	}
	return ` WHERE run_id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(runIDs)), ", ") + `)`, args
}

// Rows returns the aggregated rows of the jobs that ended done in the
// given runs (all runs when none is named), in the order people read
// them (results.SortRows), runs kept apart in the order given.
func (s *Store) Rows(ctx context.Context, runIDs ...string) ([]*results.Row, error) {
	jobs, err := s.Jobs(ctx, runIDs...)
	if err != nil {
		return nil, err
	}
	order := map[string]int{}
	for i, id := range runIDs {
		order[id] = i
	}
	var out []*results.Row
	for _, j := range jobs {
		if j.State == StateDone {
			out = append(out, j.Rows...)
		}
	}
	results.SortRows(out)
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].RunID != out[b].RunID {
			oa, oka := order[out[a].RunID]
			ob, okb := order[out[b].RunID]
			if oka && okb {
				return oa < ob
			}
			return out[a].RunID < out[b].RunID
		}
		return false
	})
	return out, nil
}
