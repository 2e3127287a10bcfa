package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/fleetbench/fleet/internal/run"
)

// ImportStats says what an import recorded.
type ImportStats struct {
	RunID    string
	Jobs     int
	Rows     int
	Attempts int
}

// IsRunDir reports whether dir looks like a run directory fleet wrote.
func IsRunDir(dir string) bool { return run.IsDir(dir) }

// ImportRun indexes a run directory (results/<run-id>) in the store,
// replacing whatever the store held for that run: importing twice yields
// the same rows once. It is the store's one way in for fleet's own runs:
// a sweep calls it as jobs end and once more at the end, and reports call
// it for the run directories they are given.
func (s *Store) ImportRun(ctx context.Context, runDir string) (*ImportStats, error) {
	rec, err := run.Load(runDir)
	if err != nil {
		return nil, fmt.Errorf("import run: %w", err)
	}
	r := Run{ID: rec.Info.RunID, Source: SourceSweep, Location: rec.Dir, Sweep: rec.Info.Sweep, Started: rec.Info.Started}
	jobs := make([]Job, 0, len(rec.Outcomes))
	for _, o := range rec.Outcomes {
		j := Job{RunID: r.ID, ID: o.Job, Config: o.Config, State: o.State, Node: o.Node, Attempts: o.Attempts, Reason: o.Reason, HW: o.GPU}
		for _, row := range rec.Rows[o.Job] {
			row.RunID, row.JobID = r.ID, o.Job
			if row.Node == "" {
				row.Node = j.Node
			}
			j.Rows = append(j.Rows, row)
		}
		jobs = append(jobs, j)
	}
	fillHW(jobs)
	stats := &ImportStats{RunID: r.ID, Jobs: len(jobs), Attempts: len(rec.Attempts)}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.upsertRun(ctx, tx, r); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE run_id = ?`, r.ID); err != nil {
			return fmt.Errorf("replace jobs of run %s: %w", r.ID, err)
		}
		ptx := newPreparedTx(tx)
		defer ptx.Close()
		for _, j := range jobs {
			if err := upsertJob(ctx, ptx, j); err != nil {
				return err
			}
			stats.Rows += len(j.Rows)
		}
		for _, a := range rec.Attempts {
			at := Attempt{RunID: r.ID, JobID: a.Job, N: a.N, Node: a.Node, State: a.State, Reason: a.Reason, ExitCode: a.ExitCode, Started: a.Started, Ended: a.Ended}
			if err := upsertAttempt(ctx, ptx, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import run %s: %w", runDir, err)
	}
	return stats, nil
}

// fillHW gives every job a GPU type: its rows', the one it asked for, or
// failing both (a job that never ran, journalled by an older fleet) that
// of another job on its node or of its config.
func fillHW(jobs []Job) {
	hwOfNode, hwOfConfig := map[string]string{}, map[string]string{}
	rowHW := func(j *Job) string {
		if len(j.Rows) == 0 {
			return ""
		}
		return j.Rows[0].HW
	}
	for i := range jobs {
		if j := &jobs[i]; rowHW(j) != "" {
			hwOfNode[j.Rows[0].Node] = rowHW(j)
			if j.Config != "" {
				hwOfConfig[j.Config] = rowHW(j)
			}
		}
	}
	for i := range jobs {
		j := &jobs[i]
		switch {
		case rowHW(j) != "":
			j.HW = rowHW(j)
		case j.HW != "":
		case hwOfNode[j.Node] != "":
			j.HW = hwOfNode[j.Node]
		default:
			j.HW = hwOfConfig[j.Config]
		}
	}
}
