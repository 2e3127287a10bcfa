package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/results"
)

// runSummary is the part of summary.json the store reads.
type runSummary struct {
	RunID string `json:"run_id"`
	Jobs  []struct {
		Job      string `json:"job"`
		Config   string `json:"config"`
		GPU      string `json:"gpu"` // not written by every engine version
		State    string `json:"state"`
		Node     string `json:"node"`
		Attempts int    `json:"attempts"`
		Reason   string `json:"reason"`
	} `json:"jobs"`
}

// runInfo is run.json.
type runInfo struct {
	RunID   string `json:"run_id"`
	Sweep   string `json:"sweep"`
	Started string `json:"started"`
}

// ImportStats says what an import recorded.
type ImportStats struct {
	RunID    string
	Jobs     int
	Rows     int
	Attempts int
}

// IsRunDir reports whether dir looks like a run directory fleet wrote.
func IsRunDir(dir string) bool {
	for _, name := range []string{"journal.jsonl", "summary.json", "run.json"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// ImportRun loads a run directory (results/<run-id>: run.json,
// journal.jsonl, summary.json, jobs/<job>/row.json) into the store,
// replacing whatever the store held for that run: importing twice yields
// the same rows once.
func (s *Store) ImportRun(ctx context.Context, runDir string) (*ImportStats, error) {
	if !IsRunDir(runDir) {
		return nil, fmt.Errorf("import run %s: not a run directory (no run.json, journal.jsonl or summary.json)", runDir)
	}
	abs, err := filepath.Abs(runDir)
	if err != nil {
		return nil, fmt.Errorf("import run %s: %w", runDir, err)
	}
	run := Run{ID: filepath.Base(abs), Source: SourceSweep, Location: abs}
	var info runInfo
	if err := readJSON(filepath.Join(abs, "run.json"), &info); err != nil {
		return nil, fmt.Errorf("import run %s: %w", runDir, err)
	}
	if info.RunID != "" {
		run.ID = info.RunID
	}
	run.Sweep = info.Sweep
	run.Started, _ = time.Parse(time.RFC3339, info.Started)

	var sum runSummary
	if err := readJSON(filepath.Join(abs, "summary.json"), &sum); err != nil {
		return nil, fmt.Errorf("import run %s: %w", runDir, err)
	}
	if info.RunID == "" && sum.RunID != "" {
		run.ID = sum.RunID
	}

	entries, err := journal.Read(filepath.Join(abs, "journal.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("import run %s: %w", runDir, err)
	}
	if run.Started.IsZero() && len(entries) > 0 {
		run.Started = entries[0].Time
	}

	jobs := map[string]*Job{}
	var order []string
	job := func(id string) *Job {
		j, ok := jobs[id]
		if !ok {
			j = &Job{RunID: run.ID, ID: id, State: StateQueued}
			jobs[id] = j
			order = append(order, id)
		}
		return j
	}
	type akey struct {
		job string
		n   int
	}
	attempts := map[akey]*Attempt{}
	var aorder []akey
	rowFiles := map[string]string{}
	for _, e := range entries {
		j := job(e.Job)
		if e.Node != "" {
			j.Node = e.Node
		}
		j.Attempts = max(j.Attempts, e.Attempt)
		switch e.State {
		case StateRetrying:
			j.State, j.Reason = StateQueued, e.Reason
		case StateDone, StateFailed, StateCancelled:
			j.State, j.Reason = e.State, e.Reason
		default:
			j.State = e.State
		}
		if e.Result != "" {
			rowFiles[e.Job] = filepath.Join(abs, filepath.FromSlash(e.Result))
		}
		if e.Attempt <= 0 {
			continue
		}
		k := akey{e.Job, e.Attempt}
		a, ok := attempts[k]
		if !ok {
			a = &Attempt{RunID: run.ID, JobID: e.Job, N: e.Attempt, Started: e.Time}
			attempts[k] = a
			aorder = append(aorder, k)
		}
		if e.Node != "" {
			a.Node = e.Node
		}
		a.State = e.State
		if e.State == StateRetrying {
			a.State = StateFailed
		}
		if e.Reason != "" {
			a.Reason = e.Reason
		}
		if e.Exit != nil {
			c := e.Exit.Code
			a.ExitCode = &c
		}
		if terminal(e.State) {
			a.Ended = e.Time
		}
	}
	// summary.json is the engine's last word on each job.
	gpuOf := map[string]string{}
	for _, sj := range sum.Jobs {
		j := job(sj.Job)
		j.Config, j.State, j.Reason = sj.Config, sj.State, sj.Reason
		if sj.Node != "" {
			j.Node = sj.Node
		}
		j.Attempts = max(j.Attempts, sj.Attempts)
		if sj.GPU != "" {
			gpuOf[sj.Job] = sj.GPU
		}
	}
	// Rows: those the journal points at, then any row.json left in jobs/
	// (a job whose client failed too many requests still writes one).
	byJob := map[string]*results.Row{}
	for id, path := range rowFiles {
		if r, err := results.ReadRow(path); err == nil {
			byJob[id] = r
		}
	}
	found, _ := filepath.Glob(filepath.Join(abs, "jobs", "*", "row.json"))
	sort.Strings(found)
	for _, path := range found {
		r, err := results.ReadRow(path)
		if err != nil {
			return nil, fmt.Errorf("import run %s: %w", runDir, err)
		}
		id := r.JobID
		if id == "" {
			id = filepath.Base(filepath.Dir(path))
		}
		if _, ok := byJob[id]; ok {
			continue
		}
		byJob[id] = r
		if _, known := jobs[id]; !known {
			// Nothing says how it ended but it has a result: a run
			// directory copied without its journal.
			job(id).State = StateDone
		}
	}
	hwOfNode, hwOfConfig := map[string]string{}, map[string]string{}
	for id, r := range byJob {
		j := job(id)
		r.RunID, r.JobID = run.ID, id
		if r.Node == "" {
			r.Node = j.Node
		}
		j.Row = r
		if r.HW != "" {
			hwOfNode[r.Node] = r.HW
			if j.Config != "" {
				hwOfConfig[j.Config] = r.HW
			}
		}
	}
	for _, j := range jobs {
		switch {
		case j.Row != nil && j.Row.HW != "":
			j.HW = j.Row.HW
		case gpuOf[j.ID] != "":
			j.HW = gpuOf[j.ID]
		case hwOfNode[j.Node] != "":
			j.HW = hwOfNode[j.Node]
		default:
			j.HW = hwOfConfig[j.Config]
		}
	}

	stats := &ImportStats{RunID: run.ID, Jobs: len(jobs), Attempts: len(attempts)}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.upsertRun(ctx, tx, run); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE run_id = ?`, run.ID); err != nil {
			return fmt.Errorf("replace jobs of run %s: %w", run.ID, err)
		}
		for _, id := range order {
			if err := upsertJob(ctx, tx, *jobs[id]); err != nil {
				return err
			}
			if jobs[id].Row != nil && jobs[id].State == StateDone {
				stats.Rows++
			}
		}
		for _, k := range aorder {
			if err := upsertAttempt(ctx, tx, *attempts[k]); err != nil {
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

// readJSON decodes path into v; a missing file leaves v as it is.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
