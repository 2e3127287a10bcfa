// Package slurm implements target.Target for a Slurm cluster driven through
// its login node: a job attempt becomes an sbatch script in a work
// directory on the filesystem that the login and compute nodes share, runs
// scripts/job.sh there like every other target, and is followed by one
// batched sacct (or squeue, where accounting is disabled) call per poll
// interval for all of the target's jobs.
//
// Files move through the login node's shelltarget.Host (an SSH connection,
// or this machine when fleet runs on the login node): Prepare, Fetch and
// Cleanup are the shell target's. A Handle's Ref is the Slurm job id, so
// Wait, Logs and Cancel work from a Handle alone, after a controller
// restart as well.
package slurm

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/fleetbench/fleet/internal/shellquote"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// ContainerPyxis runs jobs in containers through pyxis and enroot.
const ContainerPyxis = "pyxis"

// Options describe the cluster. They mirror the inventory's cluster block.
type Options struct {
	// Name is the cluster's inventory name (the target's name).
	Name string
	// WorkDir is the base of job work directories, on a filesystem shared
	// by the login and compute nodes. Each attempt gets
	// <WorkDir>/<run>/<job>/<attempt>.
	WorkDir   string
	Partition string
	Account   string
	// GPUsPerNode is what the inventory says a node has; Preflight
	// rejects larger jobs before asking Slurm.
	GPUsPerNode int
	// TimeLimit is sbatch's --time. Empty: the job's timeout.
	TimeLimit string
	// Shared leaves out --exclusive: jobs may share nodes. Off by default,
	// a benchmark must own its node.
	Shared bool
	// GPUsPerNodeFlag asks for GPUs with --gpus-per-node instead of
	// --gres=gpu:N, for sites that configure GPUs that way.
	GPUsPerNodeFlag bool
	// Container is "pyxis" or empty/"none" (jobs run on the node itself).
	Container string
	// SquashDir holds imported container images; default <WorkDir>/squash.
	SquashDir string
	// HFCache is mounted into containers at the same path.
	HFCache    string
	SbatchArgs []string
	// CommandEnv is exported for every Slurm command fleet runs on the
	// login node (SLURM_CONF for a cluster whose configuration is not the
	// login node's default).
	CommandEnv map[string]string
	// Poll is the interval of the batched state query. Default 5s.
	Poll time.Duration
	// GiveUp is how long polling may keep failing (login node or
	// controller unreachable) before Wait reports a transient error.
	// Default 10 minutes.
	GiveUp time.Duration
	// CancelWait bounds how long Cancel waits for Slurm to confirm the job
	// ended. Default 2 minutes.
	CancelWait time.Duration
}

func (o *Options) squashDir() string {
	if o.SquashDir != "" {
		return o.SquashDir
	}
	return path.Join(o.WorkDir, "squash")
}

// Target is a Slurm cluster.
type Target struct {
	host  shelltarget.Host
	shell *shelltarget.Target
	opts  Options
	poll  *poller
	// cmdEnv exports the cluster's command environment ahead of every
	// Slurm command (Options.CommandEnv).
	cmdEnv string

	mu         sync.Mutex
	accounting int       // 0 unknown, 1 sacct works, -1 accounting storage disabled
	acctRetry  time.Time // polls skip sacct until then, after it failed
	platform   *target.Platform
	followers  int // numbers log followers, for their stop files
	// maxMinutes is the partition's MaxTime, once Preflight has read it:
	// a job timeout above it would make the job pend for ever.
	maxMinutes float64
}

var (
	_ target.Target      = (*Target)(nil)
	_ target.Preflighter = (*Target)(nil)
)

// New returns the target for a cluster whose login node is host.
func New(host shelltarget.Host, opts Options) (*Target, error) {
	if opts.Name == "" {
		opts.Name = host.Name()
	}
	if opts.WorkDir == "" {
		return nil, fmt.Errorf("cluster %s: workdir is required: a directory on a filesystem shared by the login and compute nodes", opts.Name)
	}
	if !path.IsAbs(opts.WorkDir) {
		return nil, fmt.Errorf("cluster %s: workdir %q must be an absolute path", opts.Name, opts.WorkDir)
	}
	switch opts.Container {
	case "", "none":
		opts.Container = ""
	case ContainerPyxis:
	default:
		return nil, fmt.Errorf("cluster %s: container %q: want %q or \"none\"", opts.Name, opts.Container, ContainerPyxis)
	}
	cmdEnv, err := shellquote.Exports(opts.CommandEnv)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: environment for Slurm commands: %w", opts.Name, err)
	}
	for _, a := range opts.SbatchArgs {
		if _, err := sbatchQuote(a); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
		}
	}
	if _, err := timeLimit(opts.TimeLimit, 0); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	if opts.GiveUp <= 0 {
		opts.GiveUp = 10 * time.Minute
	}
	if opts.CancelWait <= 0 {
		opts.CancelWait = 2 * time.Minute
	}
	t := &Target{
		host:   host,
		shell:  shelltarget.New(host, shelltarget.Options{WorkDir: opts.WorkDir}),
		opts:   opts,
		cmdEnv: cmdEnv,
	}
	t.poll = newPoller(t.statuses, opts.Poll, opts.GiveUp)
	return t, nil
}

// Name is the cluster's inventory name.
func (t *Target) Name() string { return t.opts.Name }

// Host is the login node.
func (t *Target) Host() shelltarget.Host { return t.host }

// script prefixes a shell script with the cluster's command environment.
func (t *Target) script(body string) string { return t.cmdEnv + body }

// cmdResult is one command's outcome on the login node.
type cmdResult struct {
	code           int
	stdout, stderr string
}

func (r cmdResult) msg() string {
	m := strings.TrimSpace(r.stderr)
	if m == "" {
		m = strings.TrimSpace(r.stdout)
	}
	return trim(m, 400)
}

// exec runs a script on the login node with the command environment. An
// error means the transport failed; the script's exit status is in the
// result.
func (t *Target) exec(ctx context.Context, what, body string) (cmdResult, error) {
	var out, errb bytes.Buffer
	code, err := t.host.Exec(ctx, t.script(body), nil, &out, &errb)
	if err != nil {
		return cmdResult{code: -1}, fmt.Errorf("cluster %s: %s on login node %s: %w", t.Name(), what, t.host.Name(), err)
	}
	return cmdResult{code: code, stdout: out.String(), stderr: errb.String()}, nil
}

// controllerTrouble recognises Slurm's messages for a controller that is
// down, overloaded or unreachable: worth retrying, unlike a rejected job.
// Slurm tells these apart only in words on stderr.
func controllerTrouble(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{
		"unable to contact slurm controller", "socket timed out", "slurm temporarily unable",
		"resource temporarily unavailable", "transport endpoint", "connection refused",
		"slurmctld not responding", "communication connection failure", "zero bytes were transmitted",
	} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// slurmError is the error of a Slurm command that exited non-zero.
func (t *Target) slurmError(what string, r cmdResult) error {
	err := fmt.Errorf("cluster %s: %s: exit %d: %s", t.Name(), what, r.code, r.msg())
	if controllerTrouble(r.msg()) {
		return target.Transient(err)
	}
	return err
}

// Platform reports the OS and architecture of the partition's compute
// nodes, which can differ from the login node's (an x86 login node in
// front of Grace Hopper nodes). When Slurm does not say, the login node's
// own is used.
func (t *Target) Platform(ctx context.Context) (target.Platform, error) {
	t.mu.Lock()
	if t.platform != nil {
		p := *t.platform
		t.mu.Unlock()
		return p, nil
	}
	t.mu.Unlock()
	part := ""
	if t.opts.Partition != "" {
		part = "-p " + shellquote.Quote(t.opts.Partition) + " "
	}
	r, err := t.exec(ctx, "detect compute node platform",
		"n=$(sinfo -h -N "+part+"-o %N 2>/dev/null | head -n 1)\n[ -n \"$n\" ] && scontrol -o show node \"$n\"")
	if err != nil {
		return target.Platform{}, err
	}
	p, ok := nodePlatform(r.stdout)
	if !ok {
		p, err = t.shell.Platform(ctx)
		if err != nil {
			return target.Platform{}, err
		}
	}
	t.mu.Lock()
	t.platform = &p
	t.mu.Unlock()
	return p, nil
}

// nodePlatform reads OS= and Arch= of `scontrol -o show node`.
func nodePlatform(out string) (target.Platform, bool) {
	var osName, arch string
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "Arch="); ok && arch == "" {
			arch = v
		}
		if v, ok := strings.CutPrefix(f, "OS="); ok && osName == "" {
			osName = v
		}
	}
	if osName == "" || arch == "" || arch == "(null)" {
		return target.Platform{}, false
	}
	p, err := shelltarget.ParseUname(osName + " " + arch)
	return p, err == nil
}

// gpuVars are the packing variables the engine sets for jobs sharing a
// machine. On a cluster Slurm assigns the GPUs (CUDA_VISIBLE_DEVICES from
// the gres), and the job must not override that.
var gpuVars = []string{"GPUS", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"}

// Prepare creates the job's work directory on the shared filesystem and
// pushes its files, environment and secrets (the shell target's protocol).
func (t *Target) Prepare(ctx context.Context, spec *target.Spec) (target.Handle, error) {
	s := *spec
	s.Env = maps.Clone(spec.Env)
	for _, k := range gpuVars {
		delete(s.Env, k)
	}
	h, err := t.shell.Prepare(ctx, &s)
	h.Target = t.Name()
	if err != nil {
		return h, fmt.Errorf("cluster %s: %w", t.Name(), err)
	}
	return h, nil
}

// jobName is the Slurm job name: fleet-<run>-<job>, readable in squeue.
// Queries never select by name alone (another user's job may share it).
func jobName(spec *target.Spec) string {
	return "fleet-" + spec.RunID + "-" + spec.JobID
}

// Start renders the batch script into the work directory and submits it.
func (t *Target) Start(ctx context.Context, spec *target.Spec, h target.Handle) (target.Handle, error) {
	if h.WorkDir == "" {
		return h, fmt.Errorf("cluster %s: start job %s: handle has no work dir (Prepare first)", t.Name(), spec.JobID)
	}
	t.mu.Lock()
	maxMin := t.maxMinutes
	t.mu.Unlock()
	if t.opts.TimeLimit == "" && maxMin > 0 && spec.Timeout > time.Duration(maxMin*float64(time.Minute)) {
		s := *spec
		s.Timeout = time.Duration(maxMin * float64(time.Minute))
		spec = &s
	}
	h, err := t.submit(ctx, spec, h)
	if err != nil && len(spec.Secrets) > 0 {
		// No job will read the secrets file: it goes now, not when a
		// later cleanup gets to it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		t.exec(cctx, "remove secrets file", removeSecretsCmd(h.WorkDir))
		cancel()
	}
	return h, err
}

// submit renders the batch script into the work directory and submits it.
func (t *Target) submit(ctx context.Context, spec *target.Spec, h target.Handle) (target.Handle, error) {
	script, err := renderScript(&t.opts, scriptInput{Name: jobName(spec), WorkDir: h.WorkDir, Spec: spec})
	if err != nil {
		return h, fmt.Errorf("cluster %s: job %s: %w", t.Name(), spec.JobID, err)
	}
	file := path.Join(h.WorkDir, ".fleet", "job.sbatch")
	if err := t.host.Put(ctx, target.File{Path: ".fleet/job.sbatch", Mode: 0o644, Data: script}, file); err != nil {
		return h, fmt.Errorf("cluster %s: push batch script of %s: %w", t.Name(), spec.JobID, err)
	}
	r, err := t.exec(ctx, "submit "+spec.JobID, "cd "+shellquote.Quote(h.WorkDir)+" && sbatch --parsable .fleet/job.sbatch")
	if err != nil {
		// sbatch may have queued the job before the connection dropped:
		// find it by name and work dir, or a retry would run it twice.
		if ref, ok := t.findSubmitted(ctx, jobName(spec), h.WorkDir); ok {
			h.Ref = ref.String()
			return h, nil
		}
		return h, err
	}
	if r.code != 0 {
		return h, t.slurmError("sbatch job "+spec.JobID, r)
	}
	ref, err := parseSubmit(r.stdout)
	if err != nil {
		return h, fmt.Errorf("cluster %s: submit %s: %w", t.Name(), spec.JobID, err)
	}
	h.Ref = ref.String()
	return h, nil
}

// findSubmitted looks for the user's job of this name running in dir, with
// a fresh connection attempt, after a submit whose answer was lost.
func (t *Target) findSubmitted(ctx context.Context, name, dir string) (jobRef, bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	r, err := t.exec(ctx, "look for a submitted job",
		`squeue -h -u "$(id -un)" -t all -n `+shellquote.Quote(name)+` -o '%i|%Z'`)
	if err != nil || r.code != 0 {
		return jobRef{}, false
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		id, wd, ok := strings.Cut(strings.TrimSpace(line), "|")
		if ok && wd == dir {
			if ref, err := parseRef(id); err == nil {
				return ref, true
			}
		}
	}
	return jobRef{}, false
}

// Wait blocks until Slurm reports the job ended for good. A requeued job
// (node failure with JobRequeue) is waited for through its next run.
func (t *Target) Wait(ctx context.Context, h target.Handle) (target.Exit, error) {
	ref, err := parseRef(h.Ref)
	if err != nil {
		return target.Exit{Code: -1}, fmt.Errorf("cluster %s: wait for %s: %w", t.Name(), h.JobID, err)
	}
	ch, stop := t.poll.watch(ref, h.WorkDir)
	defer stop()
	select {
	case <-ctx.Done():
		return target.Exit{Code: -1}, ctx.Err()
	case res := <-ch:
		if res.err != nil {
			return target.Exit{Code: -1}, fmt.Errorf("cluster %s: wait for %s (Slurm job %s): %w", t.Name(), h.JobID, ref, res.err)
		}
		// The script removes the secrets file itself, but not when its
		// node died or the job never ran.
		if h.WorkDir != "" {
			t.exec(ctx, "remove secrets file", removeSecretsCmd(h.WorkDir))
		}
		return res.exit, nil
	}
}

// removeSecretsCmd is the command that removes the secrets file of the
// job in workDir.
func removeSecretsCmd(workDir string) string {
	return "rm -f " + shellquote.Quote(path.Join(workDir, ".fleet", "secrets.env"))
}

// Fetch copies outputs from the shared work directory.
func (t *Target) Fetch(ctx context.Context, h target.Handle, paths []string, dir string) ([]string, error) {
	got, err := t.shell.Fetch(ctx, h, paths, dir)
	if err != nil {
		return got, fmt.Errorf("cluster %s: %w", t.Name(), err)
	}
	return got, nil
}

// Cleanup removes the job's work directory.
func (t *Target) Cleanup(ctx context.Context, h target.Handle) error {
	if err := t.shell.Cleanup(ctx, h); err != nil {
		return fmt.Errorf("cluster %s: %w", t.Name(), err)
	}
	return nil
}

// Cancel scancels the job and waits until Slurm confirms that it ended
// and its processes are gone (not COMPLETING any more).
func (t *Target) Cancel(ctx context.Context, h target.Handle) error {
	if h.Ref == "" {
		return nil // never submitted
	}
	ref, err := parseRef(h.Ref)
	if err != nil {
		return fmt.Errorf("cluster %s: cancel %s: %w", t.Name(), h.JobID, err)
	}
	body := "scancel " + clusterFlag(ref.Cluster) + ref.ID
	if h.WorkDir != "" {
		body += "\nrc=$?; " + removeSecretsCmd(h.WorkDir) + "; exit $rc"
	}
	r, err := t.exec(ctx, "cancel Slurm job "+ref.ID, body)
	if err != nil {
		return err
	}
	if r.code != 0 {
		return t.slurmError("scancel "+ref.ID, r)
	}
	deadline := time.Now().Add(t.opts.CancelWait)
	last := ""
	for {
		st, gone, err := t.memoryState(ctx, ref)
		switch {
		case err != nil:
			last = err.Error()
		case gone || (terminal(st) && st != "COMPLETING"):
			return nil
		default:
			last = st
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster %s: Slurm job %s still %s %s after scancel", t.Name(), ref, last, t.opts.CancelWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func clusterFlag(cluster string) string {
	if cluster == "" {
		return ""
	}
	return "-M " + shellquote.Quote(cluster) + " "
}

// memoryState asks the controller (not accounting) for a job's state:
// squeue shows COMPLETING while processes are being killed. gone means
// the controller no longer knows the job.
func (t *Target) memoryState(ctx context.Context, ref jobRef) (state string, gone bool, err error) {
	r, err := t.exec(ctx, "query Slurm job "+ref.ID,
		`squeue -h -t all `+clusterFlag(ref.Cluster)+`-j `+ref.ID+` -o '%i|%T'`)
	if err != nil {
		return "", false, err
	}
	if r.code != 0 {
		if strings.Contains(strings.ToLower(r.msg()), "invalid job id") {
			return "", true, nil
		}
		return "", false, t.slurmError("squeue -j "+ref.ID, r)
	}
	sts, err := parseSqueue(r.stdout)
	if err != nil {
		return "", false, err
	}
	st, ok := sts[ref.ID]
	if !ok {
		return "", true, nil
	}
	return st.State, false, nil
}

// Close stops polling and closes the login node connection.
func (t *Target) Close() error {
	t.poll.close()
	return t.host.Close()
}

// DefaultWorkDir is where a cluster's jobs go when the inventory sets no
// workdir: fleet-work in the login user's home, which clusters share
// between login and compute nodes as a rule (a site without that sets
// workdir).
func DefaultWorkDir(ctx context.Context, host shelltarget.Host) (string, error) {
	var out, errb bytes.Buffer
	code, err := host.Exec(ctx, `printf '%s' "$HOME"`, nil, &out, &errb)
	if err != nil {
		return "", fmt.Errorf("no workdir set and the login node's home is unknown: %w", err)
	}
	home := strings.TrimSpace(out.String())
	if code != 0 || !path.IsAbs(home) {
		return "", fmt.Errorf("no workdir set and $HOME on %s is %q (exit %d: %s): set workdir in the cluster block", host.Name(), home, code, strings.TrimSpace(errb.String()))
	}
	return path.Join(home, "fleet-work"), nil
}
