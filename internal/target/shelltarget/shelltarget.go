package shelltarget

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleetbench/fleet/internal/shellquote"
	"github.com/fleetbench/fleet/internal/target"
)

// Options tune a shell target.
type Options struct {
	// WorkDir is the base directory for job work directories on the
	// machine. Each attempt gets <WorkDir>/<run>/<job>/<attempt>.
	WorkDir string
	// Grace is how long Cancel waits after TERM before KILL.
	Grace time.Duration
	// Poll is how often the remote wait loop checks on the job.
	Poll time.Duration
}

// Target drives jobs on a Host through the launch protocol of this package.
type Target struct {
	host Host
	opts Options

	mu       sync.Mutex
	platform *target.Platform
}

var _ target.Target = (*Target)(nil)

// New returns a target for host.
func New(host Host, opts Options) *Target {
	if opts.Grace <= 0 {
		opts.Grace = 10 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.WorkDir == "" {
		opts.WorkDir = "/tmp/fleet-work"
	}
	return &Target{host: host, opts: opts}
}

// Name is the machine's inventory name.
func (t *Target) Name() string { return t.host.Name() }

// Host is the machine this target runs on.
func (t *Target) Host() Host { return t.host }

// run executes cmd and returns its stdout; a non-zero exit is an error
// carrying stderr.
func (t *Target) run(ctx context.Context, what, cmd string, stdin io.Reader) (string, error) {
	var out, errb bytes.Buffer
	code, err := t.host.Exec(ctx, cmd, stdin, &out, &errb)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", t.Name(), what, err)
	}
	if code != 0 {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		return "", fmt.Errorf("%s: %s: exit %d: %s", t.Name(), what, code, msg)
	}
	return out.String(), nil
}

// Platform reports the machine's OS and architecture from uname.
func (t *Target) Platform(ctx context.Context) (target.Platform, error) {
	t.mu.Lock()
	if t.platform != nil {
		p := *t.platform
		t.mu.Unlock()
		return p, nil
	}
	t.mu.Unlock()
	out, err := t.run(ctx, "detect platform", "uname -s; uname -m", nil)
	if err != nil {
		return target.Platform{}, err
	}
	p, err := ParseUname(out)
	if err != nil {
		return target.Platform{}, fmt.Errorf("%s: %w", t.Name(), err)
	}
	t.mu.Lock()
	t.platform = &p
	t.mu.Unlock()
	return p, nil
}

// ParseUname maps `uname -s; uname -m` output to GOOS/GOARCH names.
func ParseUname(out string) (target.Platform, error) {
	f := strings.Fields(out)
	if len(f) < 2 {
		return target.Platform{}, fmt.Errorf("unexpected uname output %q", out)
	}
	p := target.Platform{OS: strings.ToLower(f[0])}
	switch f[1] {
	case "x86_64", "amd64":
		p.Arch = "amd64"
	case "aarch64", "arm64":
		p.Arch = "arm64"
	case "ppc64le":
		p.Arch = "ppc64le"
	default:
		return target.Platform{}, fmt.Errorf("unsupported architecture %q", f[1])
	}
	return p, nil
}

// workDir is where one attempt of a job runs.
func (t *Target) workDir(spec *target.Spec) string {
	return path.Join(t.opts.WorkDir, spec.RunID, spec.JobID, strconv.Itoa(spec.Attempt))
}

// Prepare creates a fresh work directory and pushes the job's files, its
// environment and its secrets.
func (t *Target) Prepare(ctx context.Context, spec *target.Spec) (target.Handle, error) {
	dir := t.workDir(spec)
	h := target.Handle{Target: t.Name(), JobID: spec.JobID, Attempt: spec.Attempt, WorkDir: dir}
	// A fresh directory: an earlier, interrupted try of the same attempt
	// must not leave a result that looks like ours.
	mk := fmt.Sprintf("rm -rf %[1]s && mkdir -p %[1]s/.fleet && chmod 700 %[1]s/.fleet", shellquote.Quote(dir))
	if _, err := t.run(ctx, "create work dir "+dir, mk, nil); err != nil {
		return h, err
	}
	var links []string
	for _, f := range spec.Files {
		if err := checkRel(f.Path); err != nil {
			return h, err
		}
		dst := path.Join(dir, f.Path)
		if f.Shared {
			name := f.Path
			if len(f.Digest) >= 16 {
				name = path.Join(path.Dir(f.Path), f.Digest[:16]+"-"+path.Base(f.Path))
			}
			cached := path.Join(t.opts.WorkDir, "cache", name)
			links = append(links, fmt.Sprintf("mkdir -p %s && ln -sfn %s %s", shellquote.Quote(path.Dir(dst)), shellquote.Quote(cached), shellquote.Quote(dst)))
			dst = cached
		}
		if err := t.host.Put(ctx, f, dst); err != nil {
			return h, fmt.Errorf("%s: push %s: %w", t.Name(), f.Path, err)
		}
	}
	if len(links) > 0 {
		if _, err := t.run(ctx, "link cached files", strings.Join(links, " && "), nil); err != nil {
			return h, err
		}
	}
	env, err := shellquote.Exports(spec.Env)
	if err != nil {
		return h, err
	}
	if err := t.host.Put(ctx, target.File{Path: ".fleet/env.sh", Mode: 0o600, Data: []byte(env)}, path.Join(dir, ".fleet/env.sh")); err != nil {
		return h, fmt.Errorf("%s: push environment: %w", t.Name(), err)
	}
	if len(spec.Secrets) > 0 {
		sec, err := shellquote.Exports(spec.Secrets)
		if err != nil {
			return h, err
		}
		if err := t.host.Put(ctx, target.File{Path: ".fleet/secrets.env", Mode: 0o600, Data: []byte(sec)}, path.Join(dir, ".fleet/secrets.env")); err != nil {
			// The error must not carry the secret: hosts report paths only.
			return h, fmt.Errorf("%s: push secrets file: %w", t.Name(), err)
		}
	}
	return h, nil
}

func checkRel(p string) error {
	if p == "" || path.IsAbs(p) || strings.HasPrefix(path.Clean(p), "..") {
		return fmt.Errorf("file path %q: want a relative path inside the work directory", p)
	}
	return nil
}

// Start launches the job detached in its own session.
func (t *Target) Start(ctx context.Context, spec *target.Spec, h target.Handle) (target.Handle, error) {
	if len(spec.Command) == 0 {
		return h, errors.New("start: empty command")
	}
	out, err := t.run(ctx, "start job "+spec.JobID, startScript(h.WorkDir, spec.Command), nil)
	if err != nil {
		return h, err
	}
	pgid := strings.TrimSpace(out)
	if _, err := strconv.Atoi(pgid); err != nil {
		return h, fmt.Errorf("%s: start job %s: bad process group id %q", t.Name(), spec.JobID, pgid)
	}
	h.Ref = pgid
	return h, nil
}

// Wait blocks until the job ends. A job whose process group vanished
// without an exit status ends with State "LOST".
func (t *Target) Wait(ctx context.Context, h target.Handle) (target.Exit, error) {
	if _, err := strconv.Atoi(h.Ref); err != nil {
		return target.Exit{}, fmt.Errorf("%s: wait: handle has no process group id", t.Name())
	}
	poll := strconv.FormatFloat(t.opts.Poll.Seconds(), 'f', 2, 64)
	out, err := t.run(ctx, "wait for job "+h.JobID, waitScript(h.WorkDir, h.Ref, poll), nil)
	if err != nil {
		return target.Exit{Code: -1}, err
	}
	return parseExit(out), nil
}

func parseExit(out string) target.Exit {
	s := strings.TrimSpace(out)
	if s == "gone" {
		return target.Exit{Code: -1, State: "LOST"}
	}
	code, err := strconv.Atoi(s)
	if err != nil {
		return target.Exit{Code: -1, State: "LOST"}
	}
	e := target.Exit{Code: code}
	if code > 128 && code < 160 {
		e.Signal = signalName(code - 128)
	}
	return e
}

func signalName(n int) string {
	names := map[int]string{1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM"}
	if s, ok := names[n]; ok {
		return s
	}
	return "signal " + strconv.Itoa(n)
}

// Logs follows job.log into w until the job ends.
func (t *Target) Logs(ctx context.Context, h target.Handle, w io.Writer) error {
	if _, err := strconv.Atoi(h.Ref); err != nil {
		return fmt.Errorf("%s: logs: handle has no process group id", t.Name())
	}
	_, err := t.host.Exec(ctx, logsScript(h.WorkDir, h.Ref), nil, w, io.Discard)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: follow logs of %s: %w", t.Name(), h.JobID, err)
	}
	return nil
}

// Fetch copies paths from the work directory into dir.
func (t *Target) Fetch(ctx context.Context, h target.Handle, paths []string, dir string) ([]string, error) {
	var got []string
	for _, p := range paths {
		if err := checkRel(p); err != nil {
			return got, err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		err := t.host.Get(ctx, path.Join(h.WorkDir, p), dst)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return got, fmt.Errorf("%s: fetch %s: %w", t.Name(), p, err)
		}
		got = append(got, p)
	}
	return got, nil
}

// Cancel kills the job's whole process group and confirms it is gone.
func (t *Target) Cancel(ctx context.Context, h target.Handle) error {
	if _, err := strconv.Atoi(h.Ref); err != nil {
		return nil // never started
	}
	tenths := int(t.opts.Grace / (100 * time.Millisecond))
	_, err := t.run(ctx, "cancel job "+h.JobID, cancelScript(h.WorkDir, h.Ref, tenths), nil)
	return err
}

// Cleanup removes the job's work directory.
func (t *Target) Cleanup(ctx context.Context, h target.Handle) error {
	if h.WorkDir == "" {
		return nil
	}
	_, err := t.run(ctx, "remove work dir", "rm -rf "+shellquote.Quote(h.WorkDir), nil)
	return err
}

// Close closes the host connection.
func (t *Target) Close() error { return t.host.Close() }
