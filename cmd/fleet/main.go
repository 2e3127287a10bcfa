// Command fleet runs LLM inference benchmarks across a fleet of GPU
// machines: this one, SSH nodes and Slurm clusters.
package main

import (
	"context"
	"os"

	"github.com/fleetbench/fleet/internal/interrupt"
)

func main() {
	// Ctrl-C, SIGTERM, SIGHUP and a closed stdout or stderr cancel ctx:
	// commands wind down cleanly (remote jobs killed, logs fetched, the
	// journal written). A second interrupt bounds that cleanup to a few
	// seconds, a third exits at once (see package interrupt).
	ctx, w := interrupt.Watch(context.Background(), os.Stderr, interrupt.Options{})
	app := &App{
		Stdin:   os.Stdin,
		Stdout:  w.Guard("stdout", os.Stdout),
		Stderr:  w.Guard("stderr", os.Stderr),
		Getenv:  os.Getenv,
		Environ: os.Environ,
	}
	code := app.Run(ctx, os.Args[1:])
	w.Stop()
	if code == ExitOK && len(w.Broken()) > 0 {
		// The command finished, but its output did not arrive.
		code = ExitCancelled
	}
	os.Exit(code)
}
