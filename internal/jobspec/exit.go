package jobspec

import (
	"bytes"
	"fmt"
	"strings"
)

// Exit codes a job ends with. scripts/lib/exitcodes.sh and the table in
// scripts/README.md are generated from Exits; tests fail when they drift.
const (
	ExitOK            = 0
	ExitClientError   = 1
	ExitFailureRatio  = 3
	ExitServerExited  = 10
	ExitHealthTimeout = 11
	ExitBenchTimeout  = 12
	ExitServerDied    = 13
	ExitBadEnv        = 14
	ExitGPUsBusy      = 15
	ExitDownload      = 16
	ExitImageImport   = 17
	ExitPortClash     = 18
	ExitScriptFailed  = 19
	ExitNoResult      = 20
	ExitNodeLost      = 21
	ExitEvalFailed    = 22
)

// ExitCode is one row of the exit code table.
type ExitCode struct {
	Code int
	// Name is short and stable: the shell variable is FLEET_EXIT_<NAME>
	// with dashes as underscores.
	Name    string
	Meaning string // what happened, in words fit for a failure reason
	// Retry: fleet tries the job again (on another machine when Machine).
	Retry bool
	// Machine: the machine, not the job, is to blame; failures in a row
	// set a machine aside for the rest of the run.
	Machine bool
}

var exits = []ExitCode{
	{ExitOK, "ok", "done", false, false},
	{ExitClientError, "client-error", "the benchmark client failed", false, false},
	{ExitFailureRatio, "failure-ratio", "too many failed requests (client failure ratio over its limit; the result is still written)", false, false},
	{ExitServerExited, "server-exited", "server exited before it became healthy", false, false},
	{ExitHealthTimeout, "health-timeout", "server did not become healthy in time", false, false},
	{ExitBenchTimeout, "bench-timeout", "benchmark timed out", false, false},
	{ExitServerDied, "server-died", "server died during the benchmark", false, false},
	{ExitBadEnv, "bad-env", "job rejected its job file or environment (or no launcher for the framework)", false, false},
	{ExitGPUsBusy, "gpus-busy", "the GPUs were busy (another process held them)", true, true},
	{ExitDownload, "download", "model download failed", true, true},
	{ExitImageImport, "image-import", "container image import failed (Slurm with pyxis: enroot import)", true, true},
	// A clash left after the node moved off a taken port is two jobs
	// starting at once on a shared machine: worth a retry, and nothing
	// against the machine (three in a row would set a cluster aside).
	{ExitPortClash, "port-clash", "the server could not listen on its port (address already in use)", true, false},
	// An InferenceX benchmark script runs server and client itself: fleet
	// sees only its status and whether it left its result file.
	{ExitScriptFailed, "script-failed", "the InferenceX benchmark script failed", false, false},
	{ExitNoResult, "no-result", "the InferenceX benchmark script ended without its result file", false, false},
	// A multi-node job needs every node to the end: a node that stops
	// answering its head (or a head its nodes cannot reach) ends the job,
	// and a retry takes a fresh group.
	{ExitNodeLost, "node-lost", "a node of the multi-node job stopped answering", true, true},
	// A score under its threshold is the model's or the recipe's, not
	// the machine's: another try gives the same answers.
	{ExitEvalFailed, "eval-failed", "an accuracy eval scored under its threshold, or could not be run", false, false},
}

// Exits returns the exit code table, ordered by code.
func Exits() []ExitCode { return append([]ExitCode(nil), exits...) }

// Lookup returns the row of code.
func Lookup(code int) (ExitCode, bool) {
	for _, e := range exits {
		if e.Code == code {
			return e, true
		}
	}
	return ExitCode{}, false
}

// Describe says in words why a job ended with code.
func Describe(code int) string {
	if e, ok := Lookup(code); ok {
		return e.Meaning
	}
	return fmt.Sprintf("job failed: exit %d", code)
}

// ShellVar is the variable scripts/lib/exitcodes.sh defines for e.
func (e ExitCode) ShellVar() string {
	return "FLEET_EXIT_" + strings.ToUpper(strings.ReplaceAll(e.Name, "-", "_"))
}

// ShellFile renders scripts/lib/exitcodes.sh.
func ShellFile() []byte {
	var b bytes.Buffer
	b.WriteString(`# shellcheck shell=bash
# exitcodes.sh: the exit codes of a job, one variable per code.
# Generated from internal/jobspec (go generate ./internal/jobspec); do not edit.
# shellcheck disable=SC2034
`)
	for _, e := range exits {
		fmt.Fprintf(&b, "%s=%d # %s\n", e.ShellVar(), e.Code, e.Meaning)
	}
	return b.Bytes()
}

// READMEBegin and READMEEnd enclose the generated exit code table in
// scripts/README.md.
const (
	READMEBegin = "<!-- exit codes: generated from internal/jobspec, do not edit -->"
	READMEEnd   = "<!-- end of exit codes -->"
)

// READMETable renders the exit code table of scripts/README.md.
func READMETable() string {
	var b strings.Builder
	b.WriteString("| code | variable | meaning | fleet retries? |\n|---|---|---|---|\n")
	for _, e := range exits {
		retry := "no"
		switch {
		case e.Code == ExitOK:
			retry = ""
		case e.Retry && e.Machine:
			retry = "yes, on another machine if it can"
		case e.Retry:
			retry = "yes"
		}
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s |\n", e.Code, e.ShellVar(), e.Meaning, retry)
	}
	b.WriteString("| other | | killed by a signal (128+N), or a launcher's own status | no |\n")
	return b.String()
}

// ReplaceREADMETable returns readme with the text between READMEBegin and
// READMEEnd replaced by the current table.
func ReplaceREADMETable(readme []byte) ([]byte, error) {
	i := bytes.Index(readme, []byte(READMEBegin))
	j := bytes.Index(readme, []byte(READMEEnd))
	if i < 0 || j < i {
		return nil, fmt.Errorf("no %q ... %q section", READMEBegin, READMEEnd)
	}
	var out bytes.Buffer
	out.Write(readme[:i+len(READMEBegin)])
	out.WriteString("\n")
	out.WriteString(READMETable())
	out.Write(readme[j:])
	return out.Bytes(), nil
}
