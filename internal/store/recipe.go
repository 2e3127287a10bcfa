package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fleetbench/fleet/internal/results"
)

// RecipeKey is one recipe (a recipe fingerprint, plan.Fingerprint) at one
// concurrency: what a stored row must match to stand in for a job.
type RecipeKey struct {
	Fingerprint string
	Conc        int
}

// RecipeRow is a stored row found by its recipe.
type RecipeRow struct {
	Row   *results.Row
	RunID string
	JobID string
	// Started is when its run started; for an imported run without a
	// start, when it was recorded.
	Started time.Time
}

// RecipeQuery narrows LatestByRecipe.
type RecipeQuery struct {
	// Since leaves out rows of runs that started before it; zero: any age.
	Since time.Time
	// ExceptRun leaves out one run's rows: the run being made.
	ExceptRun string
}

// LatestByRecipe finds, for every fingerprint given, the newest measured
// row at each concurrency it has in the store: a row of a job that ended
// done, carrying that recipe_fingerprint. Rows a sweep reused
// (results.ReusedKey) are left out: each is a copy of the row it names,
// and counting it would make an old measurement look as new as the run
// that copied it. Of two rows of one recipe and concurrency, the one
// whose run started later wins (then the later run id, then the later
// job id).
func (s *Store) LatestByRecipe(ctx context.Context, fingerprints []string, q RecipeQuery) (map[RecipeKey]*RecipeRow, error) {
	out := map[RecipeKey]*RecipeRow{}
	if len(fingerprints) == 0 {
		return out, nil
	}
	fps, err := json.Marshal(fingerprints)
	if err != nil {
		return nil, fmt.Errorf("rows by recipe: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("rows by recipe: %w", err)
	}
	defer tx.Rollback()
	// extra is written by the store from a Go map, so it is JSON; the
	// guard keeps a hand-edited store from failing the whole query.
	rows, err := tx.QueryContext(ctx, `SELECT x.run_id, x.job_id, x.n, x.conc,
	CASE WHEN json_valid(x.extra) THEN json_extract(x.extra, '$.recipe_fingerprint') END AS fp,
	CASE WHEN r.started_at != '' THEN r.started_at ELSE r.recorded_at END
FROM job_rows x
JOIN jobs j ON j.run_id = x.run_id AND j.job_id = x.job_id
JOIN runs r ON r.id = x.run_id
WHERE j.state = 'done' AND x.run_id != ?
	AND fp IN (SELECT value FROM json_each(?))
	AND json_extract(x.extra, '$.reused_from') IS NULL`, q.ExceptRun, string(fps))
	if err != nil {
		return nil, fmt.Errorf("rows by recipe: %w", err)
	}
	type found struct {
		RecipeRow
		n int
	}
	best := map[RecipeKey]*found{}
	for rows.Next() {
		var f found
		var k RecipeKey
		var when string
		if err := rows.Scan(&f.RunID, &f.JobID, &f.n, &k.Conc, &k.Fingerprint, &when); err != nil {
			rows.Close()
			return nil, fmt.Errorf("rows by recipe: %w", err)
		}
		f.Started = parseTime(when)
		if !q.Since.IsZero() && f.Started.Before(q.Since) {
			continue
		}
		if b := best[k]; b == nil || newer(&f.RecipeRow, &b.RecipeRow) {
			best[k] = &f
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rows by recipe: %w", err)
	}
	// Read the chosen rows whole (metrics and extra keys) as Jobs does.
	var jobs []*Job
	var runIDs []string
	seenJob, seenRun := map[[2]string]*Job{}, map[string]bool{}
	for _, f := range best {
		key := [2]string{f.RunID, f.JobID}
		if seenJob[key] == nil {
			j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE run_id = ? AND job_id = ?`, f.RunID, f.JobID))
			if err != nil {
				return nil, fmt.Errorf("rows by recipe: job %s of run %s: %w", f.JobID, f.RunID, err)
			}
			seenJob[key] = j
			jobs = append(jobs, j)
		}
		if !seenRun[f.RunID] {
			seenRun[f.RunID] = true
			runIDs = append(runIDs, f.RunID)
		}
	}
	if err := fillRows(ctx, tx, jobs, runIDs); err != nil {
		return nil, err
	}
	for k, f := range best {
		j := seenJob[[2]string{f.RunID, f.JobID}]
		if f.n < len(j.Rows) {
			out[k] = &RecipeRow{Row: j.Rows[f.n], RunID: f.RunID, JobID: f.JobID, Started: f.Started}
		}
	}
	return out, nil
}

// newer orders two rows of one recipe: later run start, then run id, then
// job id, so the choice never depends on the order rows are read in.
func newer(a, b *RecipeRow) bool {
	if !a.Started.Equal(b.Started) {
		return a.Started.After(b.Started)
	}
	if a.RunID != b.RunID {
		return a.RunID > b.RunID
	}
	return a.JobID > b.JobID
}
