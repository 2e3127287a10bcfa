// Package store keeps every run's jobs, attempts and aggregated results in
// one SQLite file (results/fleet.db), so reports and comparisons can reach
// across runs and results made elsewhere can join them.
//
// Writes are idempotent: a job is keyed by (run, job id), so recording or
// importing the same run again replaces its rows rather than adding
// duplicates.
//
// Several fleet processes may share one store: two sweeps started at once
// from one directory, a report during a sweep. Every write is one
// transaction begun with BEGIN IMMEDIATE, so it takes SQLite's write lock
// before it reads anything and a second writer queues for that lock rather
// than failing half-way. A writer waits for the lock up to [BusyTimeout]
// (30 seconds), set on every connection Open makes as the driver's
// busy_timeout pragma in the DSN; after that the write fails with an error
// that wraps [ErrBusy]. Where SQLite gives up on a lock at once rather
// than wait (it could deadlock: two processes turning a new store to WAL
// at the same moment), the store tries again within the same timeout.
// Open migrates the schema the same way, re-reading the schema version
// once it holds the lock, so however many processes open a new store at
// once, each migration is applied exactly once. Readers do not wait for
// a writer: the store is in WAL mode, which needs every process on one
// host (a results directory on a network file system that several hosts
// share is not supported).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"modernc.org/sqlite" // the pure-Go database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the store's file inside a results directory.
const FileName = "fleet.db"

// DefaultPath is the store of a results directory.
func DefaultPath(resultsDir string) string { return filepath.Join(resultsDir, FileName) }

// BusyTimeout is how long a write waits for another process's write to
// end before it fails with ErrBusy. The longest write fleet makes is one
// import of a large results directory, a few seconds; a sweep's indexer
// only warns when it gives up and indexes again as the next job ends.
const BusyTimeout = 30 * time.Second

// ErrBusy is wrapped by the error of a write that waited BusyTimeout for
// another process to release the store and gave up.
var ErrBusy = errors.New("results store busy")

// Store is an open results database.
type Store struct {
	db   *sql.DB
	path string
	now  func() time.Time
	busy time.Duration // the connections' busy timeout, for errors
}

// Open opens (creating if needed) the store at path and brings its schema
// up to date. Any number of processes may open one store at once.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, BusyTimeout)
}

// open is Open with a busy timeout of busy.
func open(ctx context.Context, path string, busy time.Duration) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	q := url.Values{}
	// Another fleet process's write makes this one's wait rather than
	// fail (the driver applies busy_timeout first, before the pragmas
	// that may need a lock); WAL lets readers go on meanwhile.
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// A deferred transaction that reads and then writes cannot wait for
	// the lock: once another process has written since its read, SQLite
	// fails it at once with SQLITE_BUSY. An immediate one takes the write
	// lock first, waiting for it as long as busy_timeout allows.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// One connection serialises this process's writers (the engine's jobs
	// finish concurrently), which SQLite would otherwise make wait for
	// each other through the busy timeout.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, path: path, now: time.Now, busy: busy}
	// Connecting runs the pragmas above. Turning a new store to WAL
	// upgrades a read lock to a write lock, which SQLite refuses at once
	// rather than wait (it could deadlock) when another process converts
	// it at the same moment: try again, the other one will have done it.
	if err := s.retryBusy(ctx, func() error { return db.PingContext(ctx) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, s.busyError(ctx, err))
	}
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
	{"eval scores", evalsMigration},
}

func (s *Store) migrate(ctx context.Context) error { return s.migrateTo(ctx, len(migrations)) }

// migrateTo applies the migrations up to version to. Several processes
// may migrate one store at once: each migration is applied in its own
// immediate transaction that first re-reads the schema version, so the
// first process applies it and the others, having waited for its lock,
// find it done.
func (s *Store) migrateTo(ctx context.Context, to int) error {
	// Most opens find the schema current: reading it needs no lock, so
	// they need not wait for another process's write.
	have, err := schemaVersion(ctx, s.db)
	if err != nil {
		return err
	}
	for have < to {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`); err != nil {
				return fmt.Errorf("create migration table: %w", err)
			}
			var err error
			if have, err = schemaVersion(ctx, tx); err != nil || have >= to {
				return err
			}
			v, m := have+1, migrations[have]
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migrate to schema %d (%s): %w", v, m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`,
				v, m.name, s.now().UTC().Format(time.RFC3339)); err != nil {
				return fmt.Errorf("migrate to schema %d (%s): %w", v, m.name, err)
			}
			have = v
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// schemaVersion is the store's schema version, 0 for a new store. A
// version newer than this fleet's migrations is an error.
func schemaVersion(ctx context.Context, q queryer) (int, error) {
	// SQLite resolves a statement's tables before running it, so the
	// version table's absence is asked first.
	var tables, have int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables)
	if err == nil && tables > 0 {
		err = q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have)
	}
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if have > len(migrations) {
		return 0, fmt.Errorf("schema version %d is newer than this fleet knows (%d): use a newer fleet", have, len(migrations))
	}
	return have, nil
}

// tx runs fn in an immediate transaction, committing when it returns nil.
// Waiting for another process's write is the driver's (busy_timeout); a
// wait that ran out is told as ErrBusy.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	var tx *sql.Tx
	err := s.retryBusy(ctx, func() error {
		var err error
		tx, err = s.db.BeginTx(ctx, nil)
		return err
	})
	if err != nil {
		return s.busyError(ctx, err)
	}
	if err := fn(tx); err != nil {
		return s.busyError(ctx, errors.Join(err, tx.Rollback()))
	}
	return s.busyError(ctx, tx.Commit())
}

// retryBusy runs op, and again while it fails with SQLITE_BUSY, until the
// busy timeout has passed since the first try. It is for the few waits
// SQLite's busy timeout does not cover, where it gives up at once rather
// than risk a deadlock; op must be safe to repeat.
func (s *Store) retryBusy(ctx context.Context, op func() error) error {
	deadline := time.Now().Add(s.busy)
	pause := time.Millisecond
	for {
		err := op()
		if !isBusy(err) || !time.Now().Before(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY, extended codes
// included.
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// busyError says what a write that gave up waiting for the store's lock
// waited for; other errors pass unchanged.
func (s *Store) busyError(ctx context.Context, err error) error {
	if !isBusy(err) {
		return err
	}
	if ctx.Err() != nil {
		// The wait ended because the caller gave up, not the timeout.
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return fmt.Errorf("%w: another process kept %s locked for writing longer than %s: %w", ErrBusy, s.path, s.busy, err)
}
