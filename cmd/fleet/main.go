// Command fleet runs LLM inference benchmarks across a fleet of GPU
// machines: this one, SSH nodes and Slurm clusters.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx and commands wind down cleanly (remote
	// jobs killed, logs fetched); restoring the default handlers makes a
	// second signal end the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	app := &App{
		Stdin:   os.Stdin,
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Getenv:  os.Getenv,
		Environ: os.Environ,
	}
	code := app.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
