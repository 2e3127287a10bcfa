package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fleetbench/fleet/internal/atomicfile"
	"github.com/fleetbench/fleet/internal/filetail"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/results"
)

// Record is everything a run directory says, read through one path: the
// run's info, every job's outcome, every attempt, and the rows of the jobs
// that are done.
type Record struct {
	Dir      string // absolute
	Info     Info
	Outcomes []Outcome
	Attempts []Attempt
	// Rows maps job ids to their aggregated rows: one, or one per
	// concurrency of a multi-node job. Only a done job has rows: a job
	// that failed, even one whose client wrote a partial result, is not a
	// measurement.
	Rows map[string][]*results.Row
}

// Summary is the run's outcome in the one JSON shape that summary.json,
// `fleet sweep --json` and `fleet status --json` print.
type Summary struct {
	RunID  string         `json:"run_id"`
	RunDir string         `json:"run_dir,omitempty"`
	Counts map[string]int `json:"counts"`
	Done   int            `json:"done"`
	// Failed counts jobs that are not done: failed, cancelled, or never
	// finished (queued or running when the controller stopped).
	Failed int            `json:"failed"`
	Jobs   []Outcome      `json:"jobs"`
	Rows   []*results.Row `json:"rows"`
}

// Load reads a run directory. A directory without a journal (copied from
// elsewhere, or written by an old fleet) is read from its summary.json and
// row files.
func Load(dir string) (*Record, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", dir, err)
	}
	if !IsDir(abs) {
		return nil, fmt.Errorf("read run %s: not a run directory (no %s, %s or %s)", dir, InfoFile, JournalFile, SummaryFile)
	}
	rec := &Record{Dir: abs, Rows: map[string][]*results.Row{}}
	if _, err := os.Stat(filepath.Join(abs, InfoFile)); err == nil {
		if rec.Info, err = ReadInfo(abs); err != nil {
			return nil, err
		}
	}
	entries, err := journal.Read(filepath.Join(abs, JournalFile))
	if err != nil {
		return nil, err
	}
	f := Fold(entries)
	rec.Outcomes, rec.Attempts = f.Outcomes(), f.Attempts()
	for i := range rec.Outcomes {
		if o := &rec.Outcomes[i]; Active(o.State) {
			o.Progress = lastProgress(filepath.Join(abs, JobsDir, JobDirName(o.Job), StreamFile))
		}
	}
	var prior Summary
	if err := readJSON(filepath.Join(abs, SummaryFile), &prior); err != nil {
		return nil, err
	}
	rec.mergeSummary(prior)
	if rec.Info.RunID == "" {
		rec.Info.RunID = prior.RunID
	}
	if rec.Info.RunID == "" {
		rec.Info.RunID = filepath.Base(abs)
	}
	// The id names directories (reports go to results/<id>/report) and
	// store keys; a run directory copied from elsewhere may say anything.
	if err := CheckID(rec.Info.RunID); err != nil {
		return nil, fmt.Errorf("read run %s: %w (from its %s or %s)", dir, err, InfoFile, SummaryFile)
	}
	if rec.Info.Started.IsZero() && len(entries) > 0 {
		rec.Info.Started = entries[0].Time
	}
	if err := rec.readRows(len(entries) == 0); err != nil {
		return nil, err
	}
	return rec, nil
}

// mergeSummary fills in what the journal does not say from a summary.json:
// the config and GPU of jobs journalled by an older fleet, and the jobs of
// a run directory that has no journal at all.
func (r *Record) mergeSummary(s Summary) {
	index := map[string]int{}
	for i, o := range r.Outcomes {
		index[o.Job] = i
	}
	for _, so := range s.Jobs {
		i, ok := index[so.Job]
		if !ok {
			r.Outcomes = append(r.Outcomes, so)
			index[so.Job] = len(r.Outcomes) - 1
			continue
		}
		o := &r.Outcomes[i]
		if o.Config == "" {
			o.Config = so.Config
		}
		if o.GPU == "" {
			o.GPU = so.GPU
		}
	}
	sort.Slice(r.Outcomes, func(a, b int) bool { return r.Outcomes[a].Job < r.Outcomes[b].Job })
}

// readRows reads the rows of every done job. In a run directory without
// a journal (copied without it), a row file under jobs/ whose job nothing
// else mentions counts as a done job.
func (r *Record) readRows(noJournal bool) error {
	known := map[string]bool{}
	var paths []string
	var jobs []string
	for i := range r.Outcomes {
		o := &r.Outcomes[i]
		known[o.Job] = true
		if o.State != journal.StateDone {
			continue
		}
		path := filepath.Join(r.Dir, JobsDir, JobDirName(o.Job), RowFile)
		// A result outside the run directory is not this run's: the
		// journal names it, and a journal may come from elsewhere.
		if rel := filepath.FromSlash(o.Result); o.Result != "" && filepath.IsLocal(rel) {
			path = filepath.Join(r.Dir, rel)
		}
		paths, jobs = append(paths, path), append(jobs, o.Job)
	}
	for i, rows := range readRowFiles(paths) {
		if rows != nil { // nil: done without a readable row, shown as done, no row
			r.Rows[jobs[i]] = rows
		}
	}
	if !noJournal {
		return nil
	}
	found, _ := filepath.Glob(filepath.Join(r.Dir, JobsDir, "*", RowFile))
	sort.Strings(found)
	for _, path := range found {
		rows, err := results.ReadRows(path)
		if err != nil {
			return fmt.Errorf("read run %s: %w", r.Dir, err)
		}
		row := rows[0]
		id := row.JobID
		if id == "" {
			id = filepath.Base(filepath.Dir(path))
		}
		if known[id] {
			continue
		}
		known[id] = true
		rel, _ := filepath.Rel(r.Dir, path)
		r.Outcomes = append(r.Outcomes, Outcome{Job: id, State: journal.StateDone, Node: row.Node, Result: filepath.ToSlash(rel)})
		r.Rows[id] = rows
	}
	sort.Slice(r.Outcomes, func(a, b int) bool { return r.Outcomes[a].Job < r.Outcomes[b].Job })
	return nil
}

// Summary returns the record in the summary shape.
func (r *Record) Summary() *Summary {
	s := &Summary{RunID: r.Info.RunID, RunDir: r.Dir, Counts: Counts(r.Outcomes), Jobs: r.Outcomes}
	if s.Jobs == nil {
		s.Jobs = []Outcome{}
	}
	s.Rows = []*results.Row{}
	for _, o := range r.Outcomes {
		if o.State == journal.StateDone {
			s.Done++
		} else {
			s.Failed++
		}
		s.Rows = append(s.Rows, r.Rows[o.Job]...)
	}
	results.SortRows(s.Rows)
	return s
}

// NotDone returns the outcomes of jobs that are not done.
func (s *Summary) NotDone() []Outcome {
	var out []Outcome
	for _, o := range s.Jobs {
		if o.State != journal.StateDone {
			out = append(out, o)
		}
	}
	return out
}

// WriteSummary folds the journal as it stands and writes summary.json and
// summary.txt (the table of rows).
func (d *Dir) WriteSummary() (*Summary, error) {
	rec, err := Load(d.path)
	if err != nil {
		return nil, err
	}
	s := rec.Summary()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteBytes(filepath.Join(d.path, SummaryFile), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write summary: %w", err)
	}
	table := func(w io.Writer) error { return results.WriteTable(w, s.Rows) }
	if err := atomicfile.Write(filepath.Join(d.path, TableFile), 0o644, table); err != nil {
		return nil, fmt.Errorf("write summary table: %w", err)
	}
	return s, nil
}

// lastProgress is the last progress line of a job's streamed output, read
// from the end of the file.
func lastProgress(path string) *jobspec.Progress {
	b, err := filetail.Read(path, 16<<10)
	if err != nil {
		return nil
	}
	if p, ok := jobspec.LastProgress(b); ok {
		return &p
	}
	return nil
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

// Continued records, in continues.jsonl, that a controller took the run
// up again (resume or rerun): run.json keeps the run's start untouched.
func (d *Dir) Continued(mode string, jobs int) error {
	host, _ := os.Hostname()
	b, _ := json.Marshal(map[string]any{
		"time": time.Now().UTC(), "mode": mode, "jobs": jobs, "pid": os.Getpid(), "host": host,
	})
	f, err := os.OpenFile(filepath.Join(d.path, "continues.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("record %s of run %s: %w", mode, d.id, err)
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("record %s of run %s: %w", mode, d.id, err)
	}
	return f.Sync()
}
