package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/fleetbench/fleet/internal/results"
)

// evalsMigration keeps each row's eval scores (results.EvalScore), one
// line per task, removed with their row.
const evalsMigration = `
CREATE TABLE evals (
	run_id    TEXT NOT NULL,
	job_id    TEXT NOT NULL,
	n         INTEGER NOT NULL,
	task      TEXT NOT NULL,
	metric    TEXT NOT NULL DEFAULT '',
	score     REAL NOT NULL,
	threshold REAL,             -- NULL: not judged
	passed    INTEGER,          -- NULL: not judged
	samples   INTEGER NOT NULL DEFAULT 0,
	runner    TEXT NOT NULL DEFAULT '',
	conc      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (run_id, job_id, n, task),
	FOREIGN KEY (run_id, job_id, n) REFERENCES job_rows(run_id, job_id, n) ON DELETE CASCADE
);`

// insertEvals records row n's eval scores.
func insertEvals(ctx context.Context, tx execer, j Job, n int, r *results.Row) error {
	for _, e := range r.Evals {
		var th, passed any
		if e.Threshold != nil {
			th = *e.Threshold
		}
		if e.Passed != nil {
			passed = *e.Passed
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO evals(run_id, job_id, n, task, metric, score, threshold, passed, samples, runner, conc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, j.RunID, j.ID, n, e.Task, e.Metric, e.Score, th, passed, e.N, e.Runner, e.Conc); err != nil {
			return fmt.Errorf("record eval %s of job %s of run %s: %w", e.Task, j.ID, j.RunID, err)
		}
	}
	return nil
}

// fillEvals reads the eval scores of the rows in byKey.
func fillEvals(ctx context.Context, q queryer, byKey map[rowKey]*results.Row, runIDs []string) error {
	if len(byKey) == 0 {
		return nil
	}
	where, args := inRuns(runIDs)
	rows, err := q.QueryContext(ctx, `SELECT run_id, job_id, n, task, metric, score, threshold, passed, samples, runner, conc FROM evals`+where+` ORDER BY run_id, job_id, n, rowid`, args...)
	if err != nil {
		return fmt.Errorf("read evals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k rowKey
		var e results.EvalScore
		var th sql.NullFloat64
		var passed sql.NullBool
		if err := rows.Scan(&k.run, &k.job, &k.n, &e.Task, &e.Metric, &e.Score, &th, &passed, &e.N, &e.Runner, &e.Conc); err != nil {
			return fmt.Errorf("read evals: %w", err)
		}
		if th.Valid {
			e.Threshold = &th.Float64
		}
		if passed.Valid {
			e.Passed = &passed.Bool
		}
		if r := byKey[k]; r != nil {
			r.Evals = append(r.Evals, e)
		}
	}
	return rows.Err()
}
