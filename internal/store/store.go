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
	// A job may have several rows (a multi-node job has one per
	// concurrency): rows and their metrics move out of jobs into job_rows,
	// numbered from 0 within their job.
	{"several rows per job", `
CREATE TABLE job_rows (
	run_id      TEXT NOT NULL,
	job_id      TEXT NOT NULL,
	n           INTEGER NOT NULL,
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
	extra       TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (run_id, job_id, n),
	FOREIGN KEY (run_id, job_id) REFERENCES jobs(run_id, job_id) ON DELETE CASCADE
);
INSERT INTO job_rows(run_id, job_id, n, model, framework, precision, image, tp, ep, dp_attention, conc, isl, osl,
	tput_per_gpu, output_tput_per_gpu, input_tput_per_gpu, completed, failed, extra)
SELECT run_id, job_id, 0, model, framework, precision, image, tp, ep, dp_attention, conc, isl, osl,
	tput_per_gpu, output_tput_per_gpu, input_tput_per_gpu, completed, failed, extra FROM jobs WHERE has_row;
CREATE TABLE row_metrics (
	run_id TEXT NOT NULL,
	job_id TEXT NOT NULL,
	n      INTEGER NOT NULL,
	name   TEXT NOT NULL,
	value  REAL NOT NULL,
	PRIMARY KEY (run_id, job_id, n, name),
	FOREIGN KEY (run_id, job_id, n) REFERENCES job_rows(run_id, job_id, n) ON DELETE CASCADE
);
INSERT INTO row_metrics(run_id, job_id, n, name, value)
SELECT m.run_id, m.job_id, 0, m.name, m.value FROM metrics m
JOIN job_rows r ON r.run_id = m.run_id AND r.job_id = m.job_id AND r.n = 0;
DROP TABLE metrics;
ALTER TABLE row_metrics RENAME TO metrics;
ALTER TABLE jobs DROP COLUMN has_row;
ALTER TABLE jobs DROP COLUMN model;
ALTER TABLE jobs DROP COLUMN framework;
ALTER TABLE jobs DROP COLUMN precision;
ALTER TABLE jobs DROP COLUMN image;
ALTER TABLE jobs DROP COLUMN tp;
ALTER TABLE jobs DROP COLUMN ep;
ALTER TABLE jobs DROP COLUMN dp_attention;
ALTER TABLE jobs DROP COLUMN conc;
ALTER TABLE jobs DROP COLUMN isl;
ALTER TABLE jobs DROP COLUMN osl;
ALTER TABLE jobs DROP COLUMN tput_per_gpu;
ALTER TABLE jobs DROP COLUMN output_tput_per_gpu;
ALTER TABLE jobs DROP COLUMN input_tput_per_gpu;
ALTER TABLE jobs DROP COLUMN completed;
ALTER TABLE jobs DROP COLUMN failed;
ALTER TABLE jobs DROP COLUMN extra;`},
}

func (s *Store) migrate(ctx context.Context) error { return s.migrateTo(ctx, len(migrations)) }

// migrateTo applies the migrations up to version to.
func (s *Store) migrateTo(ctx context.Context, to int) error {
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
	for v := have + 1; v <= to; v++ {
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
