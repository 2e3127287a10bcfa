package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/termtext"
	"golang.org/x/term"
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

// Run executes the command line and returns the process exit code.
func (a *App) Run(ctx context.Context, args []string) int {
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	err := root.ExecuteContext(ctx)
	code := exitCode(ctx, err)
	var silent errSilent
	if err == nil || errors.As(err, &silent) {
		return code
	}
	// An error can quote a node's stderr or a hostile file name.
	fmt.Fprintf(a.Stderr, "fleet: %s\n", termtext.Text(err.Error()))
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
		a.inferencexCmd(),
		a.statusCmd(),
		a.versionCmd(),
		a.probeCmd(),
		a.jobCmd(),
	)
	for _, extra := range a.extraCmds() {
		root.AddCommand(extra)
	}
	// cobra adds its completion command at Execute time; adding it now
	// lets typeUsageErrors cover it like every other command.
	root.InitDefaultCompletionCmd()
	typeUsageErrors(root)
	return root
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
