package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fleetbench/fleet/internal/results"
)

// Run sources.
const (
	SourceSweep  = "sweep"
	SourceImport = "import"
)

// Job states, as the engine's journal spells them.
const (
	StateQueued    = "queued"
	StateDone      = "done"
	StateFailed    = "failed"
	StateRetrying  = "retrying"
	StateCancelled = "cancelled"
)

// Run is one run: a sweep fleet ran, or a set of imported files.
type Run struct {
	ID       string
	Source   string // SourceSweep or SourceImport
	Location string // run directory or imported path
	Sweep    string
	Started  time.Time
	Recorded time.Time
}

// Job is one job of a run and how it ended; Rows are its aggregated
// results when it produced any: one, or one per concurrency of a
// multi-node job.
type Job struct {
	RunID    string
	ID       string
	Config   string
	State    string
	Node     string
	HW       string
	Attempts int
	Reason   string
	// SourceSHA256 is the hash of the imported file the job came from;
	// the store refuses to import the same file twice.
	SourceSHA256 string
	Rows         []*results.Row
}

// Attempt is one try of a job on a machine.
type Attempt struct {
	RunID    string
	JobID    string
	N        int
	Node     string
	State    string
	Reason   string
	ExitCode *int
	Started  time.Time
	Ended    time.Time
}

func (s *Store) upsertRun(ctx context.Context, tx *sql.Tx, r Run) error {
	if r.Source == "" {
		r.Source = SourceSweep
	}
	if r.Recorded.IsZero() {
		r.Recorded = s.now()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO runs(id, source, location, sweep, started_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET source = excluded.source,
	location = CASE WHEN excluded.location != '' THEN excluded.location ELSE runs.location END,
	sweep = CASE WHEN excluded.sweep != '' THEN excluded.sweep ELSE runs.sweep END,
	started_at = CASE WHEN excluded.started_at != '' THEN excluded.started_at ELSE runs.started_at END,
	recorded_at = excluded.recorded_at`,
		r.ID, r.Source, r.Location, r.Sweep, fmtTime(r.Started), fmtTime(r.Recorded))
	if err != nil {
		return fmt.Errorf("record run %s: %w", r.ID, err)
	}
	return nil
}

func upsertJob(ctx context.Context, tx execer, j Job) error {
	if j.RunID == "" || j.ID == "" {
		return fmt.Errorf("record job: run and job id are required (run %q, job %q)", j.RunID, j.ID)
	}
	hw, node := j.HW, j.Node
	if len(j.Rows) > 0 {
		hw, node = first(hw, j.Rows[0].HW), first(node, j.Rows[0].Node)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO jobs(run_id, job_id, config, state, node, hw, attempts, reason, source_sha256)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(run_id, job_id) DO UPDATE SET
	config = CASE WHEN excluded.config != '' THEN excluded.config ELSE jobs.config END,
	state = excluded.state, node = excluded.node, hw = excluded.hw,
	attempts = MAX(excluded.attempts, jobs.attempts), reason = excluded.reason,
	source_sha256 = excluded.source_sha256`,
		j.RunID, j.ID, j.Config, j.State, node, hw, j.Attempts, j.Reason, j.SourceSHA256)
	if err != nil {
		return fmt.Errorf("record job %s of run %s: %w", j.ID, j.RunID, err)
	}
	// The job's rows are replaced whole (their metrics go with them).
	if _, err := tx.ExecContext(ctx, `DELETE FROM job_rows WHERE run_id = ? AND job_id = ?`, j.RunID, j.ID); err != nil {
		return fmt.Errorf("replace rows of job %s: %w", j.ID, err)
	}
	for n, r := range j.Rows {
		if err := insertRow(ctx, tx, j, n, r); err != nil {
			return err
		}
	}
	return nil
}

// insertRow records row n of job j and its metrics.
func insertRow(ctx context.Context, tx execer, j Job, n int, r *results.Row) error {
	extra := ""
	if len(r.Extra) > 0 {
		b, err := json.Marshal(r.Extra)
		if err != nil {
			return fmt.Errorf("record job %s of run %s: extra keys: %w", j.ID, j.RunID, err)
		}
		extra = string(b)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO job_rows(run_id, job_id, n, model, framework, precision, image, tp, ep, dp_attention,
	conc, isl, osl, tput_per_gpu, output_tput_per_gpu, input_tput_per_gpu, completed, failed, extra)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.RunID, j.ID, n, r.Model, r.Framework, r.Precision, r.Image, r.TP, r.EP, r.DPAttention,
		r.Conc, r.ISL, r.OSL, r.TputPerGPU, r.OutputTputPerGPU, r.InputTputPerGPU, r.Completed, r.Failed, extra)
	if err != nil {
		return fmt.Errorf("record row %d of job %s of run %s: %w", n, j.ID, j.RunID, err)
	}
	if err := insertMetrics(ctx, tx, j, n, r.Metrics); err != nil {
		return err
	}
	return insertEvals(ctx, tx, j, n, r)
}

func upsertAttempt(ctx context.Context, tx execer, a Attempt) error {
	var code any
	if a.ExitCode != nil {
		code = *a.ExitCode
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO attempts(run_id, job_id, attempt, node, state, reason, exit_code, started_at, ended_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(run_id, job_id, attempt) DO UPDATE SET
	node = CASE WHEN excluded.node != '' THEN excluded.node ELSE attempts.node END,
	state = excluded.state,
	reason = CASE WHEN excluded.reason != '' THEN excluded.reason ELSE attempts.reason END,
	exit_code = COALESCE(excluded.exit_code, attempts.exit_code),
	started_at = CASE WHEN attempts.started_at != '' THEN attempts.started_at ELSE excluded.started_at END,
	ended_at = CASE WHEN excluded.ended_at != '' THEN excluded.ended_at ELSE attempts.ended_at END`,
		a.RunID, a.JobID, a.N, a.Node, a.State, a.Reason, code, fmtTime(a.Started), fmtTime(a.Ended))
	if err != nil {
		return fmt.Errorf("record attempt %d of job %s: %w", a.N, a.JobID, err)
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func finite(v float64) bool { return v == v && v < 1e308 && v > -1e308 }
