package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/termtext"
)

// untilCancelled runs f, returning early when ctx is cancelled. Reading
// and expanding a sweep is HCL evaluation, which does not take a context:
// a file that takes long to evaluate must not hold a Ctrl-C or SIGTERM
// for its whole length. f goes on in the background until the process
// exits, which it does right after; what f returns then is dropped.
func untilCancelled[T any](ctx context.Context, what string, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
}

// printOrphans lists the jobs a cancelled sweep could not stop, each with
// the command that stops it.
func printOrphans(w io.Writer, inv *config.Inventory, runID string, orphans []target.Handle) {
	for _, h := range orphans {
		fmt.Fprintf(w, "WARNING: job %s may still be running on %s (not stopped when cancelled): %s\n",
			cell(h.JobID), cell(h.Target), termtext.Text(stopHint(inv, h)))
	}
	if len(orphans) > 0 {
		fmt.Fprintf(w, "fleet status %s shows the run.\n", runID)
	}
}

// stopHint says how to stop a job left running: scancel for a Slurm job,
// a kill of its process group on a node.
func stopHint(inv *config.Inventory, h target.Handle) string {
	where := fmt.Sprintf("handle %q, work dir %s", h.Ref, h.WorkDir)
	var cluster *config.Cluster
	if inv != nil {
		for _, c := range inv.Clusters {
			if c.Name == h.Target {
				cluster = c
			}
		}
	}
	if cluster != nil {
		id, name, _ := strings.Cut(h.Ref, ";")
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			return where
		}
		cmd := "scancel " + id
		if name != "" {
			cmd += " --clusters=" + name
		}
		return fmt.Sprintf("Slurm job %s; stop it with: %s", id, onMachine(cluster.Login, cmd))
	}
	pgid, err := strconv.Atoi(h.Ref)
	if err != nil || pgid < 2 {
		return where
	}
	return fmt.Sprintf("process group %d in %s; stop it with: %s", pgid, h.WorkDir, onMachine(h.Target, fmt.Sprintf("kill -TERM -- -%d", pgid)))
}

// onMachine is cmd as run on a node: as it is on this machine, through
// fleet exec elsewhere.
func onMachine(node, cmd string) string {
	if node == "" || node == config.LocalNode {
		return cmd
	}
	return fmt.Sprintf("fleet exec %s -- '%s'", node, cmd)
}
