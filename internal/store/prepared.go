package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// execer runs a statement: a transaction, or one that prepares each
// statement once (preparedTx).
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// preparedTx is a transaction that prepares each distinct statement once
// and reuses it. An import runs the same few statements for every job,
// row, metric and attempt; with SQLite, preparing one costs about as much
// as running it, so a 1,000-job run's import spends half its time
// preparing what it prepared a moment before.
type preparedTx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func newPreparedTx(tx *sql.Tx) *preparedTx {
	return &preparedTx{tx: tx, stmts: map[string]*sql.Stmt{}}
}

// ExecContext runs query with args, preparing it the first time.
func (p *preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, ok := p.stmts[query]
	if !ok {
		var err error
		if stmt, err = p.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		p.stmts[query] = stmt
	}
	return stmt.ExecContext(ctx, args...)
}

// Close closes the prepared statements; the transaction stays open.
func (p *preparedTx) Close() error {
	var errs []error
	for _, stmt := range p.stmts {
		errs = append(errs, stmt.Close())
	}
	clear(p.stmts)
	return errors.Join(errs...)
}

// metricsPerInsert is how many metrics one INSERT statement writes: a
// row's few dozen in one or two statements rather than one each.
const metricsPerInsert = 64

// insertMetrics records row n of job j's finite metrics, in name order.
func insertMetrics(ctx context.Context, tx execer, j Job, n int, metrics map[string]float64) error {
	names := make([]string, 0, len(metrics))
	for name, v := range metrics {
		if finite(v) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for len(names) > 0 {
		batch := names[:min(len(names), metricsPerInsert)]
		names = names[len(batch):]
		args := make([]any, 0, 5*len(batch))
		for _, name := range batch {
			args = append(args, j.RunID, j.ID, n, name, metrics[name])
		}
		query := `INSERT INTO metrics(run_id, job_id, n, name, value) VALUES ` + strings.Repeat(`(?, ?, ?, ?, ?), `, len(batch)-1) + `(?, ?, ?, ?, ?)`
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("record metrics %s..%s of job %s: %w", batch[0], batch[len(batch)-1], j.ID, err)
		}
	}
	return nil
}
