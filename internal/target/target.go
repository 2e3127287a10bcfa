// Package target defines the one small interface through which the engine
// drives a machine: this one (local), an SSH node, or a Slurm cluster.
//
// Transports implement it; they never import the engine. Everything a
// target needs to know about a job travels in a Spec, and everything the
// engine needs to find a started job again (after a controller restart)
// travels in a Handle, which is plain data and serialisable.
package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// Spec is one job as a target sees it: files to push, a command to start
// in a fresh work directory, outputs to bring back.
type Spec struct {
	RunID string // the sweep run this job belongs to
	JobID string // stable job id, unique within the run
	// Attempt counts retries from 1; work directories are per attempt so a
	// retry never sees a half-written result of an earlier one.
	Attempt int

	// Env is the public environment contract of the job scripts (MODEL, TP,
	// CONC, ...). Values are delivered quoted; never interpreted by a shell.
	Env map[string]string
	// Secrets (HF_TOKEN, ...) reach the job without ever appearing in argv,
	// logs or journals: targets deliver them in a 0600 file or on stdin.
	Secrets map[string]string

	Files   []File   // pushed into the work directory before Start
	Command []string // argv, run with the work directory as cwd
	Outputs []string // paths relative to the work directory fetched afterwards

	GPUs int // GPUs the job needs (on each node, for a multi-node job)
	// Nodes is how many nodes the job spans: 1, or more for a multi-node
	// job, which a Slurm target allocates at once (a group of SSH nodes
	// runs it through internal/target/group instead).
	Nodes   int
	Devices []int // GPU indices assigned by the engine when packing; nil means all
	// Timeout bounds the whole job; targets that can enforce it remotely
	// (Slurm --time) do so, the engine enforces it everywhere.
	Timeout time.Duration
}

// File is one file pushed into a job's work directory.
type File struct {
	Path   string      // relative to the work directory, slash separated
	Mode   fs.FileMode // permission bits, e.g. 0o755 for scripts
	Data   []byte      // contents, or
	Source string      // a local path to copy from (large files: the fleet binary)
	// Shared files are kept once per machine in a cache beside the work
	// directories, named by content, and linked into each job's directory;
	// targets skip the copy when the cache already holds them.
	Shared bool
	// Digest is the hex sha256 of the contents, which names a shared
	// file in the cache so that different versions never collide.
	Digest string
}

// Handle finds a started job again. Ref is the target's own id for it: a
// process group id for local and SSH targets, a Slurm job id for Slurm.
type Handle struct {
	Target  string `json:"target"`
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"`
	WorkDir string `json:"work_dir"`
	Ref     string `json:"ref"`
	// Start and Boot pin a Ref that the machine can reuse (a process
	// group id) to one process on one boot: the group leader's start time
	// and the machine's boot id. A job is waited on or killed only when
	// all three still match. Handles journalled by an older fleet lack
	// them; their jobs cannot be verified and are never killed.
	Start string `json:"start,omitempty"`
	Boot  string `json:"boot,omitempty"`
}

// Exit is how a job ended.
type Exit struct {
	Code   int    `json:"code"`             // exit status of the command; -1 when unknown
	Signal string `json:"signal,omitempty"` // set when killed by a signal
	// State is the target's own word for the ending when it has one
	// (Slurm's TIMEOUT, NODE_FAIL, ...); empty for a plain exit.
	State string `json:"state,omitempty"`
}

// OK reports whether the job succeeded.
func (e Exit) OK() bool {
	return e.Code == 0 && e.Signal == "" && (e.State == "" || e.State == "COMPLETED")
}

func (e Exit) String() string {
	switch {
	case e.State != "" && e.State != "COMPLETED":
		return fmt.Sprintf("%s (exit %d)", e.State, e.Code)
	case e.Signal != "":
		return "killed by " + e.Signal
	default:
		return fmt.Sprintf("exit %d", e.Code)
	}
}

// Platform is what a target runs on, so the engine can push a matching
// fleet binary whatever the controller itself runs on.
type Platform struct {
	OS   string // GOOS spelling: linux, darwin
	Arch string // GOARCH spelling: amd64, arm64
}

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Target runs jobs on one machine or cluster.
type Target interface {
	// Name is the inventory name of the node or cluster.
	Name() string
	// Platform reports the OS and architecture jobs run on.
	Platform(ctx context.Context) (Platform, error)
	// Prepare creates the job's fresh work directory and pushes its files.
	Prepare(ctx context.Context, spec *Spec) (Handle, error)
	// Start launches the job's command in its own process group (or
	// submits it) and returns once it is running or queued.
	Start(ctx context.Context, spec *Spec, h Handle) (Handle, error)
	// Wait blocks until the job ends and reports how.
	Wait(ctx context.Context, h Handle) (Exit, error)
	// Logs follows the job's combined output into w until the job ends
	// or ctx is done. It never blocks on a job that has not started yet.
	Logs(ctx context.Context, h Handle, w io.Writer) error
	// Fetch copies paths (relative to the work directory) into dir,
	// atomically per file; missing files are skipped and not returned.
	Fetch(ctx context.Context, h Handle, paths []string, dir string) ([]string, error)
	// Cancel stops the job and everything it started, and confirms it is gone.
	Cancel(ctx context.Context, h Handle) error
	// Cleanup removes the job's work directory.
	Cleanup(ctx context.Context, h Handle) error
	// Close releases connections.
	Close() error
}

// ErrTransient marks failures worth retrying: the machine was unreachable,
// the connection dropped, Slurm lost the node. A failed script is not.
var ErrTransient = errors.New("transient")

// Transient wraps err so that errors.Is(err, ErrTransient) holds.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err}
}

// IsTransient reports whether err is worth retrying.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }

type transientError struct{ err error }

func (e *transientError) Error() string   { return e.err.Error() }
func (e *transientError) Unwrap() []error { return []error{e.err, ErrTransient} }

// Preflighter is implemented by targets that can check, before a run
// starts, that jobs needing these GPU counts will be accepted (Slurm:
// partition exists, enough GPUs per node), so a bad sweep fails at once
// with a clear error rather than job by job.
type Preflighter interface {
	Preflight(ctx context.Context, gpus []int) error
}
