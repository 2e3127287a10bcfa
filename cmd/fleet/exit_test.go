package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestUsageMistakesExit2 runs each kind of usage mistake through the whole
// CLI: every one must come back typed, whichever part of cobra or fleet
// found it.
func TestUsageMistakesExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		says string // a piece of the message, so that the mistake is the one meant
	}{
		{"unknown command", []string{"bogus"}, `unknown command "bogus"`},
		{"unknown command, close to a real one", []string{"plna"}, `did you mean "plan"`},
		{"unknown subcommand of a group", []string{"nodes", "bogus"}, `unknown command "bogus" for "fleet nodes"`},
		{"unknown subcommand of results", []string{"results", "bogus"}, `unknown command "bogus"`},
		{"unknown subcommand of completion", []string{"completion", "tcsh"}, `unknown command "tcsh"`},
		{"unknown flag", []string{"plan", "--bogus", "x.hcl"}, "unknown flag: --bogus"},
		{"unknown shorthand", []string{"plan", "-Z", "x.hcl"}, "unknown shorthand flag: 'Z'"},
		{"flag value that does not parse", []string{"sim", "--port", "eighty"}, `invalid argument "eighty" for "--port"`},
		{"missing flag value", []string{"sim", "--port"}, "flag needs an argument"},
		{"too many arguments (MaximumNArgs)", []string{"status", "a", "b"}, "accepts at most 1 arg"},
		{"too few arguments (ExactArgs)", []string{"compare", "only-one"}, "accepts 2 arg"},
		{"no argument (ExactArgs)", []string{"inferencex", "convert"}, "accepts 1 arg"},
		{"plan without a sweep or a checkout", []string{"plan"}, "plan needs a sweep file, or --inferencex DIR"},
		{"InferenceX selections without a checkout", []string{"plan", "../../sweeps/demo.hcl", "--single-node"}, "give --inferencex DIR"},
		{"two eval selections", []string{"plan", "--inferencex", ".", "--no-evals", "--all-evals"}, "exclude each other"},
		{"argument to a command that takes none (NoArgs)", []string{"version", "extra"}, `unknown command "extra"`},
		{"no argument (MinimumNArgs)", []string{"results", "import"}, "requires at least 1 arg"},
		{"required flag missing", []string{"run", "demo.hcl"}, `required flag(s) "node" not set`},
		{"fleet's own check: exclusive flags", []string{"sweep", "--resume", "a", "--rerun-failed", "b"}, "exclude each other"},
		{"fleet's own check: log level", []string{"--log-level", "loud", "version"}, "--log-level"},
		{"fleet's own check: bench argument", []string{"bench", "stray"}, `unexpected argument "stray"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runFleet(t, nil, tt.args...)
			if code != ExitUsage {
				t.Errorf("fleet %s: exit %d, want %d\n%s", strings.Join(tt.args, " "), code, ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.says) {
				t.Errorf("fleet %s: stderr does not say %q:\n%s", strings.Join(tt.args, " "), tt.says, stderr)
			}
			if !strings.Contains(stderr, "fleet --help") {
				t.Errorf("fleet %s: stderr does not point to --help:\n%s", strings.Join(tt.args, " "), stderr)
			}
		})
	}
}

// TestUsageGroupsStillPrintHelp: a command group named alone shows its
// help and succeeds, as before usage errors were typed.
func TestUsageGroupsStillPrintHelp(t *testing.T) {
	for _, args := range [][]string{{}, {"nodes"}, {"results"}, {"completion"}} {
		code, stdout, stderr := runFleet(t, nil, args...)
		if code != ExitOK || !strings.Contains(stdout, "Usage:") {
			t.Errorf("fleet %s: exit %d, want 0 and the help\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

// TestExitCodeOfErrorsThatSayInvalidArgument: EINVAL's text is "invalid
// argument", which is also how cobra words a bad flag value; only the
// type may decide.
func TestExitCodeOfErrorsThatSayInvalidArgument(t *testing.T) {
	einval := &os.PathError{Op: "read", Path: "/dev/sdz", Err: syscall.EINVAL}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"an os error", einval, ExitError},
		{"an os error, wrapped", fmt.Errorf("load sweep: %w", einval), ExitError},
		{"a syscall errno", syscall.EINVAL, ExitError},
		{"plain text", errors.New(`invalid argument "x" for "--port" flag`), ExitError},
		{"typed usage", usageError{errors.New("invalid argument")}, ExitUsage},
		{"typed usage, wrapped", fmt.Errorf("sim: %w", usageError{einval}), ExitUsage},
		{"an explicit code wins", withCode(ExitFailed, einval), ExitFailed},
		{"silent", errSilent{ExitRegressed}, ExitRegressed},
		{"cancelled", fmt.Errorf("sweep: %w", context.Canceled), ExitCancelled},
		{"nil", nil, ExitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err != nil && tt.want == ExitError && !strings.Contains(tt.err.Error(), "invalid argument") {
				t.Fatalf("the case must say invalid argument to mean anything: %q", tt.err)
			}
			if got := exitCode(context.Background(), tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// TestExitCodeOfRealEINVAL: an I/O error that says "invalid argument"
// (a path with a NUL byte: EINVAL from stat) is bad input, exit 1, not a
// usage mistake.
func TestExitCodeOfRealEINVAL(t *testing.T) {
	code, _, stderr := runFleet(t, nil, "results", "import", "--results", t.TempDir(), "bad\x00path")
	if code != ExitError {
		t.Errorf("exit %d, want %d\n%s", code, ExitError, stderr)
	}
	if !strings.Contains(stderr, "invalid argument") {
		t.Errorf("stderr does not show EINVAL's text, so the test proves nothing:\n%s", stderr)
	}
	if strings.Contains(stderr, "fleet --help") {
		t.Errorf("an I/O error points to --help:\n%s", stderr)
	}
}
