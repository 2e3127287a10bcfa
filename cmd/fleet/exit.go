package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// Exit codes, documented in the README ("Exit codes"); scripts and CI rely
// on them. This file is the one place that decides which error ends the
// program with which code.
const (
	ExitOK        = 0   // everything succeeded
	ExitError     = 1   // bad input (config diagnostics) or a setup failure
	ExitUsage     = 2   // unknown command or flag, a flag value that does not parse, wrong arguments
	ExitFailed    = 3   // the work ran but some of it failed: jobs, nodes, a failure ratio over its limit
	ExitRegressed = 4   // fleet compare found a regression beyond the threshold
	ExitSkipped   = 5   // a scheduled run did not start: the previous run of its schedule still runs
	ExitCancelled = 130 // interrupted (Ctrl-C, SIGTERM)
)

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

// usageError marks a mistake in the command line itself: exit 2 and a
// pointer to --help. Every producer of usage mistakes returns it (see
// typeUsageErrors for cobra's own), so exitCode never has to guess from an
// error's text: "invalid argument" is also what EINVAL says.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps the error a command ended with to the process exit code.
func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return ExitOK
	}
	var silent errSilent
	if errors.As(err, &silent) {
		return silent.code
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return ExitCancelled
	}
	var usage usageError
	if errors.As(err, &usage) {
		return ExitUsage
	}
	return ExitError
}

// typeUsageErrors makes cobra report every usage mistake it detects as a
// usageError, for cmd and the commands below it. Flag parse errors go
// through the root's FlagErrorFunc; this covers the rest: argument
// validators (cobra.ExactArgs and friends return plain errors), unknown
// subcommands, required flags and flag groups. Run it once the command tree
// is complete, so that commands added by any file are covered.
func typeUsageErrors(cmd *cobra.Command) {
	if cmd.HasSubCommands() && !cmd.Runnable() {
		// A command group. Left alone, cobra prints its help and succeeds
		// whatever follows it (or, at the root, fails with an untyped
		// "unknown command").
		cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		if cmd.Args == nil {
			cmd.Args = unknownSubcommand
		}
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's default, which it sets only on its own path
		}
	}
	validate := cmd.Args
	cmd.Args = func(c *cobra.Command, args []string) error {
		if validate != nil {
			if err := validate(c, args); err != nil {
				return asUsage(err)
			}
		}
		// cobra checks these after the pre-run hooks, with plain errors;
		// checking them here, flags being parsed already, types them.
		if err := c.ValidateRequiredFlags(); err != nil {
			return asUsage(err)
		}
		if err := c.ValidateFlagGroups(); err != nil {
			return asUsage(err)
		}
		return nil
	}
	for _, sub := range cmd.Commands() {
		typeUsageErrors(sub)
	}
}

// asUsage types err as a usage mistake unless it already is one.
func asUsage(err error) error {
	var u usageError
	if errors.As(err, &u) {
		return err
	}
	return usageError{err}
}

// unknownSubcommand is the argument validator of command groups: any
// argument names a subcommand that does not exist.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return errors.New(msg)
}
