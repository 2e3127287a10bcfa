package store

// Writers and readers that only the tests need: fleet itself fills the
// store through ImportRun and ImportFiles.

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fleetbench/fleet/internal/results"
)

// SchemaVersion is the schema this fleet writes.
func SchemaVersion() int { return len(migrations) }

// openAt opens a store at path migrated only up to schema version: a
// store an older fleet left.
func openAt(ctx context.Context, path string, version int) (*Store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	s := &Store{db: db, path: path, now: time.Now}
	if err := s.migrateTo(ctx, version); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// RecordRun creates the run or updates what is known about it.
func (s *Store) RecordRun(ctx context.Context, r Run) error {
	if r.ID == "" {
		return fmt.Errorf("record run: empty run id")
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return s.upsertRun(ctx, tx, r) })
}

// RecordJob creates or replaces a job of an existing run, its row and
// metrics included (its attempts are kept).
func (s *Store) RecordJob(ctx context.Context, j Job) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return upsertJob(ctx, tx, j) })
}

// RecordRow records a finished job's aggregated row as a done job of run
// (creating the run when needed): the simplest way to feed the store.
func (s *Store) RecordRow(ctx context.Context, runID string, row *results.Row) error {
	if row.JobID == "" {
		return fmt.Errorf("record row of run %s: the row has no job id", runID)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.ensureRun(ctx, tx, runID); err != nil {
			return err
		}
		return upsertJob(ctx, tx, Job{RunID: runID, ID: row.JobID, State: StateDone, Node: row.Node, HW: row.HW, Rows: []*results.Row{row}})
	})
}

func (s *Store) ensureRun(ctx context.Context, tx *sql.Tx, runID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO runs(id, source, recorded_at, started_at) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
		runID, SourceSweep, fmtTime(s.now()), fmtTime(s.now()))
	if err != nil {
		return fmt.Errorf("record run %s: %w", runID, err)
	}
	return nil
}

// RecordAttempt creates or updates one attempt of a job; the job must exist.
func (s *Store) RecordAttempt(ctx context.Context, a Attempt) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return upsertAttempt(ctx, tx, a) })
}

// Attempts returns the attempts of the jobs of a run, by job then attempt.
func (s *Store) Attempts(ctx context.Context, runID string) ([]Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, job_id, attempt, node, state, reason, exit_code, started_at, ended_at
FROM attempts WHERE run_id = ? ORDER BY job_id, attempt`, runID)
	if err != nil {
		return nil, fmt.Errorf("read attempts of run %s: %w", runID, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var code sql.NullInt64
		var started, ended string
		if err := rows.Scan(&a.RunID, &a.JobID, &a.N, &a.Node, &a.State, &a.Reason, &code, &started, &ended); err != nil {
			return nil, fmt.Errorf("read attempts of run %s: %w", runID, err)
		}
		if code.Valid {
			c := int(code.Int64)
			a.ExitCode = &c
		}
		a.Started, a.Ended = parseTime(started), parseTime(ended)
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteRun removes a run with all its jobs, attempts and metrics.
func (s *Store) DeleteRun(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete run %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete run %s: %w", id, ErrNoRun)
		}
		return nil
	})
}
