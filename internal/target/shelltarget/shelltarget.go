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
	// machine. Each attempt gets <WorkDir>/<run>/<job>/<attempt>. A
	// leading ~/ is the connecting user's home on the machine. Default
	// DefaultWorkDir.
	WorkDir string
	// MaxFetch caps the size of each file Fetch brings back. Default
	// DefaultMaxFetch.
	MaxFetch int64
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
	base     string // opts.WorkDir with ~ resolved on the machine
}

// DefaultWorkDir is the base of work directories when Options name none:
// under the connecting user's home, which nobody else may write (a shared
// /tmp lets any user plant files where fleet looks for them).
const DefaultWorkDir = "~/.cache/fleet/work"

// DefaultMaxFetch is the default cap on one fetched file: results and
// logs are far smaller; a file this large is a runaway log or a trick.
const DefaultMaxFetch = 256 << 20

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
		opts.WorkDir = DefaultWorkDir
	}
	if opts.MaxFetch <= 0 {
		opts.MaxFetch = DefaultMaxFetch
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

// baseDir is the base of work directories on the machine, a leading ~
// resolved to the connecting user's home there (asked once).
func (t *Target) baseDir(ctx context.Context) (string, error) {
	t.mu.Lock()
	b := t.base
	t.mu.Unlock()
	if b != "" {
		return b, nil
	}
	w := t.opts.WorkDir
	if w == "~" || strings.HasPrefix(w, "~/") {
		out, err := t.run(ctx, "find the home directory", `printf '%s' "$HOME"`, nil)
		if err != nil {
			return "", err
		}
		home := strings.TrimSpace(out)
		if !path.IsAbs(home) {
			return "", fmt.Errorf("%s: workdir %s: $HOME on the machine is %q, not an absolute path: set workdir in the inventory", t.Name(), w, home)
		}
		w = path.Join(home, strings.TrimPrefix(w, "~"))
	}
	if !path.IsAbs(w) {
		return "", fmt.Errorf("%s: workdir %q must be an absolute path (or start with ~/)", t.Name(), w)
	}
	w = path.Clean(w)
	t.mu.Lock()
	t.base = w
	t.mu.Unlock()
	return w, nil
}

// WorkDir is the base of work directories on the machine, ~ resolved.
func (t *Target) WorkDir(ctx context.Context) (string, error) { return t.baseDir(ctx) }

// under reports whether dir (from a handle, perhaps a journal's) lies
// inside the base of work directories, so that nothing outside it is
// ever removed or read.
func (t *Target) under(ctx context.Context, what, dir string) error {
	base, err := t.baseDir(ctx)
	if err != nil {
		return err
	}
	if !path.IsAbs(dir) || !strings.HasPrefix(path.Clean(dir), base+"/") {
		return fmt.Errorf("%s: %s: work dir %q is not inside this node's workdir %s: leaving it alone (remove it by hand if it is fleet's)", t.Name(), what, dir, base)
	}
	return nil
}

// Prepare creates a fresh work directory, private to the connecting user
// like every directory above it, and pushes the job's files, its
// environment and its secrets.
func (t *Target) Prepare(ctx context.Context, spec *target.Spec) (target.Handle, error) {
	h := target.Handle{Target: t.Name(), JobID: spec.JobID, Attempt: spec.Attempt}
	base, err := t.baseDir(ctx)
	if err != nil {
		return h, err
	}
	for _, id := range []string{spec.RunID, spec.JobID} {
		if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\\x00") {
			return h, fmt.Errorf("%s: run and job ids must be plain names, got %q", t.Name(), id)
		}
	}
	dir := path.Join(base, spec.RunID, spec.JobID, strconv.Itoa(spec.Attempt))
	h.WorkDir = dir
	type link struct{ cached, dst string }
	var links []link
	var cacheDirs []string
	for _, f := range spec.Files {
		if err := checkRel(f.Path); err != nil {
			return h, err
		}
		if f.Shared {
			name := f.Path
			if len(f.Digest) >= 16 {
				name = path.Join(path.Dir(f.Path), f.Digest[:16]+"-"+path.Base(f.Path))
			}
			cached := path.Join(base, "cache", name)
			links = append(links, link{cached, path.Join(dir, f.Path)})
			cacheDirs = append(cacheDirs, path.Dir(cached))
		}
	}
	if _, err := t.run(ctx, "create work dir "+dir, prepareScript(base, dir, cacheDirs), nil); err != nil {
		return h, err
	}
	var ln []string
	dsts := make([]string, len(spec.Files))
	for i, f := range spec.Files {
		dsts[i] = path.Join(dir, f.Path)
		if f.Shared {
			l := links[0]
			links = links[1:]
			ln = append(ln, fmt.Sprintf("mkdir -p %s && ln -sfn %s %s", shellquote.Quote(path.Dir(l.dst)), shellquote.Quote(l.cached), shellquote.Quote(l.dst)))
			dsts[i] = l.cached
		}
	}
	if err := t.putAll(ctx, spec.Files, dsts); err != nil {
		return h, err
	}
	if len(ln) > 0 {
		if _, err := t.run(ctx, "link cached files", "umask 077 && "+strings.Join(ln, " && "), nil); err != nil {
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
		// On stdin, into a file that is 0600 from its first byte: never
		// in argv, never readable by anyone else, even for a moment.
		// The error must not carry the secret: the script prints none.
		if _, err := t.run(ctx, "write secrets file", secretsScript(dir), strings.NewReader(sec)); err != nil {
			return h, fmt.Errorf("%s: push secrets file: %w", t.Name(), err)
		}
	}
	return h, nil
}

// secretsScript writes its stdin to dir/.fleet/secrets.env, mode 0600.
func secretsScript(dir string) string {
	f := shellquote.Quote(path.Join(dir, ".fleet", "secrets.env"))
	return fmt.Sprintf(`umask 077
rm -f %[1]s.tmp
if cat > %[1]s.tmp && chmod 600 %[1]s.tmp && mv -f %[1]s.tmp %[1]s; then exit 0; fi
rm -f %[1]s.tmp
echo "could not write the secrets file" >&2
exit 1`, f)
}

// removeSecrets removes a secrets file the job never read (its start
// failed), with a context of its own: ctx may be the one that ended.
func (t *Target) removeSecrets(ctx context.Context, dir string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = t.run(cctx, "remove secrets file", "rm -f "+shellquote.Quote(path.Join(dir, ".fleet", "secrets.env")), nil)
}

func checkRel(p string) error {
	if p == "" || path.IsAbs(p) || strings.HasPrefix(path.Clean(p), "..") {
		return fmt.Errorf("file path %q: want a relative path inside the work directory", p)
	}
	return nil
}

// Start launches the job detached in its own session. When the start
// fails, the secrets file goes: no job will read it.
func (t *Target) Start(ctx context.Context, spec *target.Spec, h target.Handle) (target.Handle, error) {
	if len(spec.Command) == 0 {
		return h, errors.New("start: empty command")
	}
	out, err := t.run(ctx, "start job "+spec.JobID, startScript(h.WorkDir, spec.Command), nil)
	if err == nil {
		err = parseStart(out, &h)
		if err != nil {
			err = fmt.Errorf("%s: start job %s: %w", t.Name(), spec.JobID, err)
		}
	}
	if err != nil {
		if len(spec.Secrets) > 0 {
			t.removeSecrets(ctx, h.WorkDir)
		}
		return h, err
	}
	return h, nil
}

// parseStart reads "PGID START BOOT" (.fleet/pgid) into h.
func parseStart(out string, h *target.Handle) error {
	f := strings.Fields(out)
	if len(f) == 0 {
		return fmt.Errorf("no process group id")
	}
	if _, err := pgid(f[0]); err != nil {
		return err
	}
	h.Ref, h.Start, h.Boot = f[0], "", ""
	if len(f) == 3 {
		h.Start, h.Boot = f[1], f[2]
	}
	return nil
}

// pgid reads a handle's Ref: a process group id of 2 or more (kill -- -1
// would signal every process the user may signal; 0 is the caller's own
// group).
func pgid(ref string) (int, error) {
	n, err := strconv.Atoi(ref)
	if err != nil || n < 2 {
		return 0, fmt.Errorf("bad process group id %q", ref)
	}
	return n, nil
}

// ErrUnverified marks a job that may still run but whose process group
// cannot be verified as the job's: fleet neither waits on nor kills it.
var ErrUnverified = errors.New("cannot verify the job's process group")

// Wait blocks until the job ends. A job whose process group vanished
// without an exit status, or whose id now names another process, ends
// with State "LOST".
func (t *Target) Wait(ctx context.Context, h target.Handle) (target.Exit, error) {
	if _, err := pgid(h.Ref); err != nil {
		return target.Exit{}, fmt.Errorf("%s: wait: handle has no process group id: %w", t.Name(), err)
	}
	poll := strconv.FormatFloat(t.opts.Poll.Seconds(), 'f', 2, 64)
	out, err := t.run(ctx, "wait for job "+h.JobID, waitScript(h.WorkDir, h.Ref, h.Start, h.Boot, poll), nil)
	if err != nil {
		return target.Exit{Code: -1}, err
	}
	if strings.TrimSpace(out) == "unverified" {
		return target.Exit{Code: -1}, fmt.Errorf("%s: wait for job %s: %w: process group %s runs, but %s; look with: ps -o pid,lstart,args -s %s, and kill it by hand if it is this job",
			t.Name(), h.JobID, ErrUnverified, h.Ref, unverifiedWhy(h), h.Ref)
	}
	return parseExit(out), nil
}

func unverifiedWhy(h target.Handle) string {
	if h.Start == "" || h.Boot == "" {
		return "the handle has no start time and boot id (an older fleet journalled it), so it may be another process that reused the id"
	}
	return "its leader has exited, so it may be another process that reused the id"
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
	if _, err := pgid(h.Ref); err != nil {
		return fmt.Errorf("%s: logs: handle has no process group id: %w", t.Name(), err)
	}
	_, err := t.host.Exec(ctx, logsScript(h.WorkDir, h.Ref, h.Start, h.Boot), nil, w, io.Discard)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: follow logs of %s: %w", t.Name(), h.JobID, err)
	}
	return nil
}

// FetchMode is the local mode of a fetched file: 0600 for what may carry
// secrets (the job's .fleet/ folder), 0644 for results and logs. It never
// comes from the machine, where a job may have made a file 0666.
func FetchMode(p string) fs.FileMode {
	if p == ".fleet" || strings.HasPrefix(path.Clean(p), ".fleet/") {
		return 0o600
	}
	return 0o644
}

// Fetch copies paths from the work directory into dir: regular files
// only, never through a link, each at most Options.MaxFetch bytes. A file
// refused for that is skipped, the others are fetched, and the error at
// the end names every refusal.
func (t *Target) Fetch(ctx context.Context, h target.Handle, paths []string, dir string) ([]string, error) {
	if err := t.under(ctx, "fetch", h.WorkDir); err != nil {
		return nil, err
	}
	var got []string
	var refused []error
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return got, fmt.Errorf("%s: fetch: %w", t.Name(), err)
		}
		if err := checkRel(p); err != nil {
			return got, err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		err := t.host.Get(ctx, path.Join(h.WorkDir, p), dst, GetOptions{Root: h.WorkDir, MaxSize: t.opts.MaxFetch, Mode: FetchMode(p)})
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case errors.Is(err, ErrRefused):
			refused = append(refused, err)
			continue
		case err != nil:
			return got, fmt.Errorf("%s: fetch %s: %w", t.Name(), p, err)
		}
		got = append(got, p)
	}
	if len(refused) > 0 {
		return got, fmt.Errorf("%s: fetch: %w", t.Name(), errors.Join(refused...))
	}
	return got, nil
}

// Cancel kills the job's whole process group and confirms it is gone. A
// group that is no longer the job's is left alone; one that cannot be
// verified is left alone and reported (ErrUnverified).
func (t *Target) Cancel(ctx context.Context, h target.Handle) error {
	if h.Ref == "" {
		return nil // never started
	}
	if _, err := pgid(h.Ref); err != nil {
		return fmt.Errorf("%s: cancel job %s: %w", t.Name(), h.JobID, err)
	}
	tenths := int(t.opts.Grace / (100 * time.Millisecond))
	var out, errb bytes.Buffer
	code, err := t.host.Exec(ctx, cancelScript(h.WorkDir, h.Ref, h.Start, h.Boot, tenths), nil, &out, &errb)
	switch {
	case err != nil:
		return fmt.Errorf("%s: cancel job %s: %w", t.Name(), h.JobID, err)
	case code == 3:
		return fmt.Errorf("%s: cancel job %s: %w: %s", t.Name(), h.JobID, ErrUnverified, strings.TrimSpace(errb.String()))
	case code != 0:
		return fmt.Errorf("%s: cancel job %s: exit %d: %s", t.Name(), h.JobID, code, strings.TrimSpace(errb.String()))
	}
	return nil
}

// Cleanup removes the job's work directory, only when it lies inside the
// node's workdir (a journal may name any directory).
func (t *Target) Cleanup(ctx context.Context, h target.Handle) error {
	if h.WorkDir == "" {
		return nil
	}
	if err := t.under(ctx, "remove work dir", h.WorkDir); err != nil {
		return err
	}
	_, err := t.run(ctx, "remove work dir", "rm -rf -- "+shellquote.Quote(path.Clean(h.WorkDir)), nil)
	return err
}

// Close closes the host connection.
func (t *Target) Close() error { return t.host.Close() }
