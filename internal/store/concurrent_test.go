package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment of the test binary run again as another fleet process that
// opens a store and imports one run, like a second controller.
const (
	helperStore   = "FLEET_STORE_TEST_STORE"   // the store's path
	helperRun     = "FLEET_STORE_TEST_RUN"     // the run directory to import
	helperBarrier = "FLEET_STORE_TEST_BARRIER" // a file whose creation starts everyone at once
)

func TestMain(m *testing.M) {
	if path, ok := os.LookupEnv(helperStore); ok {
		os.Exit(importProcess(path, os.Getenv(helperRun), os.Getenv(helperBarrier)))
	}
	os.Exit(m.Run())
}

// importProcess is the other process: it waits for the barrier file, then
// opens the store and imports the run.
func importProcess(path, runDir, barrier string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := importAfter(ctx, path, runDir, func() error { return waitForFile(ctx, barrier) }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// importAfter opens the store at path once ready returns, and imports
// runDir: what a sweep does at its start and as its jobs end.
func importAfter(ctx context.Context, path, runDir string, ready func() error) error {
	if err := ready(); err != nil {
		return err
	}
	s, err := Open(ctx, path)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.ImportRun(ctx, runDir)
	return err
}

func waitForFile(ctx context.Context, path string) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// copyRun copies the fixture run into dir as run id.
func copyRun(t *testing.T, dir, id string) string {
	t.Helper()
	dst := filepath.Join(dir, id)
	if err := os.CopyFS(dst, os.DirFS(fixtureDir)); err != nil {
		t.Fatal(err)
	}
	info := map[string]any{}
	b, err := os.ReadFile(filepath.Join(dst, "run.json"))
	if err == nil {
		err = json.Unmarshal(b, &info)
	}
	if err != nil {
		t.Fatal(err)
	}
	info["run_id"] = id
	if b, err = json.Marshal(info); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "run.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// runCounts is what the store holds of a run: its jobs, rows, metrics and
// attempts.
func runCounts(t *testing.T, s *Store, id string) [4]int {
	t.Helper()
	var c [4]int
	for i, table := range []string{"jobs", "job_rows", "metrics", "attempts"} {
		c[i] = count(t, s, `SELECT COUNT(*) FROM `+table+` WHERE run_id = ?`, id)
	}
	return c
}

func TestControllersOpeningOneStoreAtOnceEachRecordTheirRun(t *testing.T) {
	// What one import of the fixture yields, to compare each run with.
	ref := openTemp(t)
	if _, err := ref.ImportRun(context.Background(), fixtureDir); err != nil {
		t.Fatal(err)
	}
	want := runCounts(t, ref, fixtureRun)
	if want[0] == 0 || want[1] == 0 {
		t.Fatalf("the fixture gives %v: nothing to compare", want)
	}
	const goroutines, processes = 4, 4
	for _, tc := range []struct {
		name string
		from int // the schema version the store starts at; -1: no store
	}{
		{"a new store", -1},
		{"a store of the first schema", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "results", FileName)
			if tc.from >= 0 {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				old, err := openAt(ctx, path, tc.from)
				if err != nil {
					t.Fatal(err)
				}
				old.Close()
			}
			barrier := filepath.Join(dir, "go")
			var ids []string
			errs := make([]error, goroutines+processes)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range goroutines {
				id := fmt.Sprintf("20261101-120000-goroutine%d", i)
				ids = append(ids, id)
				runDir := copyRun(t, dir, id)
				wg.Go(func() {
					errs[i] = importAfter(ctx, path, runDir, func() error { <-start; return nil })
				})
			}
			var cmds []*exec.Cmd
			outs := make([]strings.Builder, processes)
			for i := range processes {
				id := fmt.Sprintf("20261101-120000-process%d", i)
				ids = append(ids, id)
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), helperStore+"="+path, helperRun+"="+copyRun(t, dir, id), helperBarrier+"="+barrier)
				cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, cmd)
			}
			// Everyone is started and waiting: let them all go at once.
			if err := os.WriteFile(barrier, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			close(start)
			for i, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					errs[goroutines+i] = fmt.Errorf("%w: %s", err, strings.TrimSpace(outs[i].String()))
				}
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("%s: %v", ids[i], err)
				}
			}
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if n := count(t, s, `SELECT COUNT(*) FROM schema_migrations`); n != SchemaVersion() {
				t.Errorf("schema_migrations has %d rows, want one per migration (%d)", n, SchemaVersion())
			}
			if n := count(t, s, `SELECT COUNT(*) FROM runs`); n != len(ids) {
				t.Errorf("the store holds %d runs, want %d", n, len(ids))
			}
			for _, id := range ids {
				if got := runCounts(t, s, id); got != want {
					t.Errorf("run %s: jobs, rows, metrics, attempts = %v, want %v", id, got, want)
				}
			}
		})
	}
}

// holdWriteLock opens the store at path as another process would and
// begins a write transaction it keeps open until the returned function
// ends it (committing when commit is true).
func holdWriteLock(t *testing.T, path string) func(commit bool) {
	t.Helper()
	ctx := context.Background()
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := other.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO runs(id, source, recorded_at) VALUES ('holder', 'sweep', '')`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	end := func(commit bool) {
		once.Do(func() {
			end := tx.Rollback
			if commit {
				end = tx.Commit
			}
			if err := end(); err != nil {
				t.Error(err)
			}
			other.Close()
		})
	}
	t.Cleanup(func() { end(false) })
	return end
}

func TestAWriteWaitsForAnotherProcesssWriteAndSaysWhenItGaveUp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	runDir := copyRun(t, dir, "20261101-120000-waiter")

	t.Run("it waits and then writes", func(t *testing.T) {
		release := holdWriteLock(t, path)
		// Opening a store whose schema is current needs no lock.
		s, err := open(ctx, path, time.Hour)
		if err != nil {
			t.Fatalf("open while another process writes: %v", err)
		}
		defer s.Close()
		done := make(chan error, 1)
		go func() {
			_, err := s.ImportRun(ctx, runDir)
			done <- err
		}()
		// The import cannot end while the lock is held; if it has, it
		// failed rather than waited.
		select {
		case err := <-done:
			t.Fatalf("the import ended while another process held the store: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
		release(true)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the import failed once the store was free: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("the import still waits a minute after the store was freed")
		}
		if n := count(t, s, `SELECT COUNT(*) FROM runs WHERE id IN ('holder', '20261101-120000-waiter')`); n != 2 {
			t.Errorf("the store holds %d of the two runs written", n)
		}
	})

	t.Run("it gives up after the busy timeout", func(t *testing.T) {
		release := holdWriteLock(t, path)
		const timeout = 300 * time.Millisecond
		s, err := open(ctx, path, timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		began := time.Now()
		_, err = s.ImportRun(ctx, runDir)
		if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), timeout.String()) {
			t.Fatalf("import while another process holds the store past the timeout: err = %v, want ErrBusy naming the store and the timeout", err)
		}
		t.Logf("the import gave up: %v", err)
		if waited := time.Since(began); waited < timeout {
			t.Errorf("gave up after %s, before the busy timeout (%s)", waited, timeout)
		}
		release(false)
		if _, err := s.ImportRun(ctx, runDir); err != nil {
			t.Fatalf("import once the store was free: %v", err)
		}
	})

	t.Run("it stops waiting when its caller gives up", func(t *testing.T) {
		holdWriteLock(t, path)
		s, err := open(ctx, path, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err = s.ImportRun(cctx, runDir)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrBusy) {
			t.Fatalf("import cancelled while waiting: err = %v, want the context's error", err)
		}
	})
}
