// Package store keeps every run's jobs, attempts and aggregated results in
// one SQLite file (results/fleet.db), so reports and comparisons can reach
// across runs and results made elsewhere can join them.
//
// Writes are idempotent: a job is keyed by (run, job id), so recording or
// importing the same run again replaces its rows rather than adding
// duplicates.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the pure-Go database/sql driver "sqlite"
)

// FileName is the store's file inside a results directory.
const FileName = "fleet.db"

// DefaultPath is the store of a results directory.
func DefaultPath(resultsDir string) string { return filepath.Join(resultsDir, FileName) }

// Store is an open results database.
type Store struct {
	db   *sql.DB
	path string
	now  func() time.Time
}

// Open opens (creating if needed) the store at path and brings its schema
// up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	q := url.Values{}
	// A second fleet process (a report during a sweep) waits for the
	// writer rather than failing; WAL lets readers go on meanwhile.
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// One connection serialises this process's writers (the engine's jobs
	// finish concurrently), which SQLite would otherwise refuse as busy.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, path: path, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// migrations are applied in order; each runs once, recorded in
// schema_migrations. Append only: never edit a released one.
var migrations = []struct {
	name string
	sql  string
}{
	{"initial schema", `
CREATE TABLE runs (
	id          TEXT PRIMARY KEY,
	source      TEXT NOT NULL,            -- sweep or import
	location    TEXT NOT NULL DEFAULT '', -- run directory or imported path
	sweep       TEXT NOT NULL DEFAULT '',
	started_at  TEXT NOT NULL DEFAULT '', -- RFC 3339, UTC
	recorded_at TEXT NOT NULL
);
CREATE TABLE jobs (
	run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	job_id      TEXT NOT NULL,
	config      TEXT NOT NULL DEFAULT '',
	state       TEXT NOT NULL,
	node        TEXT NOT NULL DEFAULT '',
	hw          TEXT NOT NULL DEFAULT '',
	attempts    INTEGER NOT NULL DEFAULT 0,
	reason      TEXT NOT NULL DEFAULT '',
	source_sha256 TEXT NOT NULL DEFAULT '', -- of the imported file, to refuse it twice
	has_row     INTEGER NOT NULL DEFAULT 0,
	model       TEXT NOT NULL DEFAULT '',
	framework   TEXT NOT NULL DEFAULT '',
	precision   TEXT NOT NULL DEFAULT '',
	image       TEXT NOT NULL DEFAULT '',
	tp          INTEGER NOT NULL DEFAULT 0,
	ep          INTEGER NOT NULL DEFAULT 0,
	dp_attention INTEGER NOT NULL DEFAULT 0,
	conc        INTEGER NOT NULL DEFAULT 0,
	isl         INTEGER NOT NULL DEFAULT 0,
	osl         INTEGER NOT NULL DEFAULT 0,
	tput_per_gpu        REAL NOT NULL DEFAULT 0,
	output_tput_per_gpu REAL NOT NULL DEFAULT 0,
	input_tput_per_gpu  REAL NOT NULL DEFAULT 0,
	completed   INTEGER NOT NULL DEFAULT 0,
	failed      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (run_id, job_id)
);
CREATE INDEX jobs_source ON jobs(source_sha256) WHERE source_sha256 != '';
CREATE TABLE attempts (
	run_id     TEXT NOT NULL,
	job_id     TEXT NOT NULL,
	attempt    INTEGER NOT NULL,
	node       TEXT NOT NULL DEFAULT '',
	state      TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	exit_code  INTEGER,
	started_at TEXT NOT NULL DEFAULT '',
	ended_at   TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (run_id, job_id, attempt),
	FOREIGN KEY (run_id, job_id) REFERENCES jobs(run_id, job_id) ON DELETE CASCADE
);
CREATE TABLE metrics (
	run_id TEXT NOT NULL,
	job_id TEXT NOT NULL,
	name   TEXT NOT NULL,
	value  REAL NOT NULL,
	PRIMARY KEY (run_id, job_id, name),
	FOREIGN KEY (run_id, job_id) REFERENCES jobs(run_id, job_id) ON DELETE CASCADE
);`},
	// An imported row's keys that are neither columns nor numbers
	// (InferenceX's spec_decoding, disagg, router, ...), as a JSON object.
	{"job extra keys", `ALTER TABLE jobs ADD COLUMN extra TEXT NOT NULL DEFAULT '';`},
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`); err != nil {
		return fmt.Errorf("create migration table: %w", err)
	}
	var have int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this fleet knows (%d): use a newer fleet", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		m := migrations[v-1]
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`,
				v, m.name, s.now().UTC().Format(time.RFC3339))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate to schema %d (%s): %w", v, m.name, err)
		}
	}
	return nil
}

// tx runs fn in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}
