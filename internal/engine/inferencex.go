package engine

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/fleetbench/fleet/internal/inferencex/launch"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/target"
)

// Clients an InferenceX job may benchmark with.
const (
	ClientInferenceX = "inferencex" // the checkout's own client, as its scripts run it
	ClientFleet      = "fleet"      // fleet bench, given the same flags
)

// IXOptions say how jobs expanded from an InferenceX checkout run.
type IXOptions struct {
	// Dir is the InferenceX checkout whose scripts the jobs run.
	Dir string
	// Client is ClientInferenceX (the default) or ClientFleet.
	Client string
	// CacheDir is where the checkout's bundle is written; empty means
	// the run directory's inferencex/, which then records what was run.
	CacheDir string
}

// ixWorkspace is where a job unpacks the bundle, relative to its work
// directory; the container sees it as /workspace.
const ixWorkspace = "ix"

// ixBundle packs the checkout once per run, when the first InferenceX job
// needs it; every job of the run ships the same file.
type ixBundle struct {
	once   sync.Once
	bundle *launch.BundleFile
	err    error
}

func (e *Engine) ixBundle() (*launch.BundleFile, error) {
	b := &e.ix
	b.once.Do(func() {
		o := e.opts.InferenceX
		cache := o.CacheDir
		if cache == "" {
			cache = filepath.Join(e.opts.Run.Path(), "inferencex")
		}
		b.bundle, b.err = launch.BundleTo(o.Dir, cache)
		if b.err == nil {
			e.log.Info("InferenceX checkout packed", "dir", o.Dir, "bundle", b.bundle.Path, "files", len(b.bundle.Files), "bytes", b.bundle.Size)
		}
	})
	return b.bundle, b.err
}

// checkIXOptions refuses settings no job could run with, before any job
// starts.
func (e *Engine) checkIXOptions() error {
	o := e.opts.InferenceX
	if o == nil {
		return nil
	}
	switch o.Client {
	case "", ClientInferenceX, ClientFleet:
		return nil
	}
	return fmt.Errorf("InferenceX client %q: want %s or %s", o.Client, ClientInferenceX, ClientFleet)
}

// inferenceX is the job file's InferenceX section of js on machine m and
// the bundle file to ship with it. It fails, before anything starts on
// the machine, when the run has no checkout, the checkout cannot be
// packed, or the row has no benchmark script in it.
func (e *Engine) inferenceX(js *jobState, m *machine.Machine) (*jobspec.InferenceX, target.File, error) {
	row := js.job.InferenceX
	o := e.opts.InferenceX
	if o == nil || o.Dir == "" {
		return nil, target.File{}, fmt.Errorf("job %s is an InferenceX row, but the run names no InferenceX checkout", js.job.ID)
	}
	b, err := e.ixBundle()
	if err != nil {
		return nil, target.File{}, fmt.Errorf("InferenceX checkout: %w", err)
	}
	script, _, err := launch.Script(b.Has, row)
	if err != nil {
		return nil, target.File{}, err
	}
	client := o.Client
	if client == "" {
		client = ClientInferenceX
	}
	rf := js.resultName(m.Name)
	section := &jobspec.InferenceX{
		Bundle:         launch.BundleName,
		Workspace:      ixWorkspace,
		Script:         script,
		Env:            launch.Env(row, m.Name, rf),
		Client:         client,
		ResultFilename: rf,
	}
	file := target.File{Path: launch.BundleName, Mode: 0o644, Source: b.Path, Digest: b.Digest, Shared: true}
	return section, file, nil
}
