// Package run owns a run directory, results/<run-id>/: it creates it once
// the run's config is known to be good, holds an exclusive lock on it while
// a controller works in it, writes run.json once, keeps the journal, folds
// the journal into job outcomes for every reader, and writes the summary.
// Everything else that reads or writes a run directory goes through here.
package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
)

// File names inside a run directory.
const (
	InfoFile    = "run.json"
	JournalFile = "journal.jsonl"
	SummaryFile = "summary.json"
	TableFile   = "summary.txt"
	LogFile     = "fleet.log"
	LockFile    = ".lock"
	JobsDir     = "jobs"
	RowFile     = "row.json"   // a job's rows: one object, or an array (results.WriteRows)
	StreamFile  = "stream.log" // a job's output as it streamed in
)

// Info is run.json: what the run is, written once when the run starts.
type Info struct {
	RunID        string    `json:"run_id"`
	Sweep        string    `json:"sweep,omitempty"`
	Inventory    string    `json:"inventory,omitempty"`
	Jobs         int       `json:"jobs"`
	Started      time.Time `json:"started"`
	FleetVersion string    `json:"fleet_version,omitempty"`
}

// validID: run ids name a directory under results/ and appear in commands
// people paste, so they are one plain path element.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckID returns an error unless id can name a run directory: letters,
// digits, '.', '_' and '-', not starting with a dot or dash, at most 128.
func CheckID(id string) error {
	if !validID.MatchString(id) || strings.Contains(id, "..") {
		return fmt.Errorf("run id %q: use letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit)", id)
	}
	return nil
}

// NewID names a run started at t from a sweep file's name.
func NewID(t time.Time, sweepName string) string {
	name := unsafeChars.ReplaceAllString(sweepName, "_")
	name = strings.Trim(name, "_.-")
	if name == "" {
		name = "run"
	}
	return t.Format("20060102-150405") + "-" + name
}

// Dir is an open run directory. A Dir from Create or Open holds the run's
// lock until Close.
type Dir struct {
	path string
	id   string
	lock *lock
	jr   *journal.Journal
}

// Path returns the directory.
func (d *Dir) Path() string { return d.path }

// ID returns the run id.
func (d *Dir) ID() string { return d.id }

// ErrExists says a run directory that Create was to make already exists.
var ErrExists = errors.New("run directory exists")

// Create makes results/<info.RunID>/, locks it and writes run.json. It
// fails when the directory exists: a new run never writes into an old one.
func Create(resultsDir string, info Info) (*Dir, error) {
	if err := CheckID(info.RunID); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(resultsDir, 0o755); err != nil {
		return nil, fmt.Errorf("create results directory %s: %w", resultsDir, err)
	}
	path := filepath.Join(resultsDir, info.RunID)
	if err := os.Mkdir(path, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("run %s: %w (%s): pass --resume %s to finish it, or choose another --run-id", info.RunID, ErrExists, path, info.RunID)
		}
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	d := &Dir{path: path, id: info.RunID}
	lk, err := acquire(filepath.Join(path, LockFile), info.RunID)
	if err != nil {
		return nil, err
	}
	d.lock = lk
	if info.Started.IsZero() {
		info.Started = time.Now().UTC()
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		d.Close()
		return nil, err
	}
	if err := writeNew(filepath.Join(path, InfoFile), append(b, '\n')); err != nil {
		d.Close()
		return nil, fmt.Errorf("write %s: %w", InfoFile, err)
	}
	return d, nil
}

// Open locks an existing run directory to continue it (resume, rerun). It
// records who continued the run and when in the journal; run.json, the
// run's start, is never rewritten.
func Open(resultsDir, id string) (*Dir, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	path := filepath.Join(resultsDir, id)
	if _, err := os.Stat(filepath.Join(path, JournalFile)); err != nil {
		return nil, fmt.Errorf("run %s: no journal in %s: is the run id right? (`ls %s`)", id, path, resultsDir)
	}
	lk, err := acquire(filepath.Join(path, LockFile), id)
	if err != nil {
		return nil, err
	}
	return &Dir{path: path, id: id, lock: lk}, nil
}

// Close closes the journal and releases the lock.
func (d *Dir) Close() error {
	var err error
	if d.jr != nil {
		err = d.jr.Close()
		d.jr = nil
	}
	if d.lock != nil {
		d.lock.release()
		d.lock = nil
	}
	return err
}

// Journal opens the run's journal for appending (once; later calls return
// the same journal).
func (d *Dir) Journal() (*journal.Journal, error) {
	if d.jr == nil {
		jr, err := journal.Open(filepath.Join(d.path, JournalFile))
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", d.id, err)
		}
		d.jr = jr
	}
	return d.jr, nil
}

// Entries reads the run's journal as it stands.
func (d *Dir) Entries() ([]journal.Entry, error) {
	return journal.Read(filepath.Join(d.path, JournalFile))
}

// JobDir is the local directory of a job's outputs.
func (d *Dir) JobDir(jobID string) string {
	return filepath.Join(d.path, JobsDir, JobDirName(jobID))
}

// RowPath is where a job's aggregated rows go (results.WriteRows): a
// multi-node job's one per concurrency.
func (d *Dir) RowPath(jobID string) string { return filepath.Join(d.JobDir(jobID), RowFile) }

// Rel makes a path inside the run directory relative to it, slash
// separated, as the journal records result files.
func (d *Dir) Rel(path string) string {
	rel, err := filepath.Rel(d.path, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(rel)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// JobDirName turns a job id into one path element.
func JobDirName(id string) string {
	s := strings.Trim(unsafeChars.ReplaceAllString(id, "_"), "_.")
	if s == "" {
		s = "job"
	}
	return s
}

// writeNew writes a file that must not exist yet, synced.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadInfo reads run.json of a run directory.
func ReadInfo(path string) (Info, error) {
	var info Info
	b, err := os.ReadFile(filepath.Join(path, InfoFile))
	if err != nil {
		return info, fmt.Errorf("read run info: %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("read %s: %w", filepath.Join(path, InfoFile), err)
	}
	return info, nil
}

// Latest returns the id of the run under resultsDir whose journal changed
// last.
func Latest(resultsDir string) (string, error) {
	entries, err := os.ReadDir(resultsDir)
	if err != nil {
		return "", fmt.Errorf("no runs in %s: %w", resultsDir, err)
	}
	var best string
	var bestTime time.Time
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		st, err := os.Stat(filepath.Join(resultsDir, e.Name(), JournalFile))
		if err != nil {
			continue
		}
		if st.ModTime().After(bestTime) {
			best, bestTime = e.Name(), st.ModTime()
		}
	}
	if best == "" {
		return "", fmt.Errorf("no runs in %s", resultsDir)
	}
	return best, nil
}

// IsDir reports whether dir looks like a run directory fleet wrote.
func IsDir(dir string) bool {
	for _, name := range []string{JournalFile, SummaryFile, InfoFile} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}
