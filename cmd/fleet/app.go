package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit codes, documented in the README; scripts and CI rely on them.
const (
	ExitOK        = 0   // everything succeeded
	ExitError     = 1   // bad input (config, flags' values) or a setup failure
	ExitUsage     = 2   // unknown command or flag, wrong number of arguments
	ExitFailed    = 3   // the work ran but some of it failed: jobs, nodes, a failure ratio over its limit
	ExitRegressed = 4   // fleet compare found a regression beyond the threshold
	ExitCancelled = 130 // interrupted (Ctrl-C, SIGTERM)
)

// App carries what every command needs from the outside world, so that
// commands run in-process in tests with their own streams and environment.
type App struct {
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	Getenv  func(string) string
	Environ func() []string

	logFormat string
	logLevel  string
	logOpts   log.Options
	log       *log.Logger
}

// exitError carries a specific exit code up to Run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode makes err end the program with code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// errSilent ends the program with a code after the command already said
// everything (a diagnostics listing, a table of failures).
type errSilent struct{ code int }

func (e errSilent) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Run executes the command line and returns the process exit code.
func (a *App) Run(ctx context.Context, args []string) int {
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var silent errSilent
	if errors.As(err, &silent) {
		return silent.code
	}
	code := ExitError
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		code = ExitCancelled
	case isUsageError(err):
		code = ExitUsage
	}
	fmt.Fprintf(a.Stderr, "fleet: %v\n", err)
	if code == ExitUsage {
		fmt.Fprintln(a.Stderr, "Run 'fleet --help' for usage.")
	}
	return code
}

func (a *App) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "fleet",
		Short: "Run LLM inference benchmarks across a fleet of GPU machines",
		Long: `fleet runs LLM inference benchmark sweeps across GPU machines: this one,
plain SSH nodes and Slurm clusters. It reads an HCL inventory of machines and
sweep files of benchmark configs, launches inference servers and its own
benchmark client on the machines, and brings the results back.

Exit codes: 0 ok, 1 error (bad input, setup), 2 usage, 3 some work failed,
4 regression found (compare), 130 cancelled.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setupLogging(cmd.ErrOrStderr())
		},
	}
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", "", "log format: text, json or logfmt (default text on a terminal, logfmt otherwise)")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		a.benchCmd(),
		a.simCmd(),
		a.planCmd(),
		a.sweepCmd(),
		a.runCmd(),
		a.statusCmd(),
		a.versionCmd(),
		a.probeCmd(),
		a.jobCmd(),
	)
	for _, extra := range a.extraCmds() {
		root.AddCommand(extra)
	}
	return root
}

type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsageError(err error) bool {
	var u usageError
	if errors.As(err, &u) {
		return true
	}
	// cobra reports unknown commands and argument counts as plain errors.
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand", "required flag", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func (a *App) setupLogging(w io.Writer) error {
	level, err := log.ParseLevel(a.logLevel)
	if err != nil {
		return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", a.logLevel)}
	}
	format := a.logFormat
	if format == "" {
		format = "logfmt"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	opts := log.Options{Level: level, ReportTimestamp: true}
	switch format {
	case "text":
		opts.Formatter = log.TextFormatter
	case "json":
		opts.Formatter = log.JSONFormatter
	case "logfmt":
		opts.Formatter = log.LogfmtFormatter
	default:
		return usageError{fmt.Errorf("--log-format %q: want text, json or logfmt", format)}
	}
	a.logOpts = opts
	a.log = log.NewWithOptions(w, opts)
	return nil
}

// loggerTo returns a logger with the configured level and format writing
// to w (a run's log file, or the screen and the file together).
func (a *App) loggerTo(w io.Writer) *log.Logger {
	return log.NewWithOptions(w, a.logOpts)
}

// logger returns the configured logger (a default one before setup ran).
func (a *App) logger() *log.Logger {
	if a.log == nil {
		a.log = log.NewWithOptions(a.Stderr, log.Options{ReportTimestamp: true, Formatter: log.LogfmtFormatter})
	}
	return a.log
}

func (a *App) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print fleet's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "fleet", version())
			return nil
		},
	}
}
