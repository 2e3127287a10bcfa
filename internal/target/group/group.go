// Package group runs one multi-node job on a group of machines (SSH or
// local nodes) as one target, so the engine drives it like any job.
//
// Every member gets the same files and job file, with its rank in the
// job's layout (FLEET_NODE_RANK) and a rendezvous token made for this
// attempt (a secret). The head (rank 0) starts first and writes where its
// rendezvous listens; the others start once that is known, with the
// address in their command line and the token in their secrets file. The
// job ends when the head's fleet job ends: the other nodes stop when the
// head says the job is done or failed, or when it stops answering, so a
// node never outlives its job even when the controller is gone.
package group

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/rendezvous"
	"github.com/fleetbench/fleet/internal/target"
)

// Member is one machine of the group, in rank order.
type Member struct {
	Name   string
	Target target.Target
	// Env and Secrets are this machine's own, over the job's.
	Env     map[string]string
	Secrets map[string]string
}

// Options tune a group.
type Options struct {
	// RendezvousWait bounds how long the others wait for the head to say
	// where its rendezvous listens (the head first checks its GPUs and
	// downloads the model): the job's server start timeout.
	RendezvousWait time.Duration
	// Poll is how often the head's rendezvous file is looked for (1s).
	Poll time.Duration
	// Linger is how long the other nodes may outlive the head's exit
	// before they are cancelled (30s).
	Linger time.Duration
	// Command starts a node's job (bash scripts/job.sh): a controller
	// that re-attaches to a job whose other nodes had not started yet
	// starts them with it.
	Command []string
}

// Group is a target over members.
type Group struct {
	members []Member
	o       Options

	mu   sync.Mutex
	jobs map[string]*attempt // by leader work directory
}

// attempt is what the group knows of one started job.
type attempt struct {
	specs   []*target.Spec
	handles []target.Handle // every member's, Ref set once started
	started []bool
	err     error // why the others could not start
	ready   chan struct{}
}

// Name joins the members' names with "+": the name journals and
// handles carry, from which the engine finds the machines again.
func Name(names []string) string { return strings.Join(names, "+") }

// Names splits a group's name; a single name is not a group.
func Names(name string) []string { return strings.Split(name, "+") }

// New returns the group of members (at least two).
func New(members []Member, o Options) (*Group, error) {
	if len(members) < 2 {
		return nil, fmt.Errorf("a group needs two machines or more, got %d", len(members))
	}
	if o.RendezvousWait <= 0 {
		o.RendezvousWait = 20 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Linger <= 0 {
		o.Linger = 30 * time.Second
	}
	return &Group{members: members, o: o, jobs: map[string]*attempt{}}, nil
}

// Name is the members' names joined by "+".
func (g *Group) Name() string {
	names := make([]string, len(g.members))
	for i, m := range g.members {
		names[i] = m.Name
	}
	return Name(names)
}

// Platform is the head's; every member must match it.
func (g *Group) Platform(ctx context.Context) (target.Platform, error) {
	var first target.Platform
	for i, m := range g.members {
		p, err := m.Target.Platform(ctx)
		if err != nil {
			return p, err
		}
		if i == 0 {
			first = p
		} else if p != first {
			return first, fmt.Errorf("group %s: %s runs %s, %s runs %s: a multi-node job needs one platform", g.Name(), g.members[0].Name, first, m.Name, p)
		}
	}
	return first, nil
}

// refPrefix marks a group's handle: its Ref holds the members' handles.
const refPrefix = "group:"

func encode(h target.Handle, members []target.Handle) target.Handle {
	b, _ := json.Marshal(members)
	h.Ref = refPrefix + string(b)
	return h
}

// Members decodes the members' handles of a group's handle.
func Members(h target.Handle) ([]target.Handle, error) {
	s, ok := strings.CutPrefix(h.Ref, refPrefix)
	if !ok {
		return nil, fmt.Errorf("handle %q of %s is not a group's", h.Ref, h.Target)
	}
	var hs []target.Handle
	if err := json.Unmarshal([]byte(s), &hs); err != nil {
		return nil, fmt.Errorf("group handle of %s: %w", h.Target, err)
	}
	return hs, nil
}

// Prepare prepares every member at once, each with its rank and the
// attempt's rendezvous token.
func (g *Group) Prepare(ctx context.Context, spec *target.Spec) (target.Handle, error) {
	token, err := rendezvous.NewToken()
	if err != nil {
		return target.Handle{}, err
	}
	a := &attempt{specs: make([]*target.Spec, len(g.members)), handles: make([]target.Handle, len(g.members)),
		started: make([]bool, len(g.members)), ready: make(chan struct{})}
	eg, ectx := errgroup.WithContext(ctx)
	for i, m := range g.members {
		s := *spec
		s.Env = maps.Clone(spec.Env)
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		maps.Copy(s.Env, m.Env)
		s.Env[jobspec.NodeRankEnv] = strconv.Itoa(i)
		s.Secrets = maps.Clone(spec.Secrets)
		if s.Secrets == nil {
			s.Secrets = map[string]string{}
		}
		maps.Copy(s.Secrets, m.Secrets)
		s.Secrets["FLEET_RENDEZVOUS_TOKEN"] = token
		s.Devices = nil // whole nodes
		a.specs[i] = &s
		eg.Go(func() error {
			h, err := m.Target.Prepare(ectx, &s)
			if err != nil {
				return fmt.Errorf("%s (node %d of the group): %w", m.Name, i, err)
			}
			a.handles[i] = h
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		g.cleanupPrepared(ctx, a)
		return target.Handle{}, err
	}
	h := a.handles[0]
	h.Target = g.Name()
	g.mu.Lock()
	g.jobs[h.WorkDir] = a
	g.mu.Unlock()
	return encode(h, a.handles), nil
}

func (g *Group) cleanupPrepared(ctx context.Context, a *attempt) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for i, h := range a.handles {
		if h.WorkDir != "" {
			_ = g.members[i].Target.Cleanup(cctx, h)
		}
	}
}

func (g *Group) attempt(h target.Handle) *attempt {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.jobs[h.WorkDir]
}

// Start starts the head. The other nodes start from Wait, once the head
// has said where its rendezvous listens: the head may first spend long
// minutes on its model's download, and the engine must hold (and
// journal) the head's handle all that time.
func (g *Group) Start(ctx context.Context, spec *target.Spec, h target.Handle) (target.Handle, error) {
	a := g.attempt(h)
	if a == nil {
		return h, fmt.Errorf("group %s: start of a job it did not prepare", g.Name())
	}
	lh, err := g.members[0].Target.Start(ctx, a.specs[0], a.handles[0])
	if err != nil {
		return h, fmt.Errorf("%s (head of the group): %w", g.members[0].Name, err)
	}
	g.mu.Lock()
	a.handles[0], a.started[0] = lh, true
	g.mu.Unlock()
	out := lh
	out.Target = g.Name()
	return encode(out, a.handles), nil
}

// Wait starts the other nodes once the head's rendezvous is known, then
// waits for the head's job and gives the others a moment to follow it
// out before cancelling them.
func (g *Group) Wait(ctx context.Context, h target.Handle) (target.Exit, error) {
	hs, err := Members(h)
	if err != nil {
		return target.Exit{Code: -1}, err
	}
	head := hs[0]
	a := g.attempt(h)
	if a == nil {
		a = g.adopt(h, hs)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		ex  target.Exit
		err error
	}
	headDone := make(chan result, 1)
	go func() {
		ex, err := g.members[0].Target.Wait(wctx, head)
		headDone <- result{ex, err}
	}()
	if a != nil {
		go g.startOthers(wctx, a)
	}
	var r result
	select {
	case r = <-headDone:
	case <-ctx.Done():
		return target.Exit{Code: -1}, ctx.Err()
	}
	if a == nil {
		return r.ex, r.err
	}
	cancel() // stops startOthers if the head ended first
	<-a.ready
	if r.err == nil && a.err != nil && r.ex.OK() {
		r.err = a.err
	}
	g.lingerOthers(ctx, a)
	return r.ex, r.err
}

// adopt takes over a job another controller started (a resume): the
// nodes it had started are known by their handles, the others are
// started with Options.Command once the head's rendezvous is known.
// Without a command it starts none (nil).
func (g *Group) adopt(h target.Handle, hs []target.Handle) *attempt {
	if len(g.o.Command) == 0 || len(hs) != len(g.members) {
		return nil
	}
	a := &attempt{specs: make([]*target.Spec, len(hs)), handles: hs, started: make([]bool, len(hs)), ready: make(chan struct{})}
	for i, mh := range hs {
		a.started[i] = mh.Ref != ""
		a.specs[i] = &target.Spec{JobID: mh.JobID, Attempt: mh.Attempt, Command: g.o.Command}
	}
	g.mu.Lock()
	g.jobs[h.WorkDir] = a
	g.mu.Unlock()
	return a
}

// startOthers waits for the head's rendezvous file, then starts every
// other node not yet started with the head's addresses.
func (g *Group) startOthers(ctx context.Context, a *attempt) {
	defer close(a.ready)
	g.mu.Lock()
	all := !slices.Contains(a.started[1:], false)
	g.mu.Unlock()
	if all {
		return
	}
	tmp, err := os.MkdirTemp("", "fleet-group-")
	if err != nil {
		a.err = err
		return
	}
	defer os.RemoveAll(tmp)
	deadline := time.Now().Add(g.o.RendezvousWait)
	var info rendezvous.Info
	for {
		g.mu.Lock()
		head := a.handles[0]
		g.mu.Unlock()
		got, err := g.members[0].Target.Fetch(ctx, head, []string{jobspec.RendezvousPath}, tmp)
		if err == nil && len(got) == 1 {
			b, rerr := os.ReadFile(filepath.Join(tmp, filepath.FromSlash(jobspec.RendezvousPath)))
			if rerr == nil && json.Unmarshal(b, &info) == nil && len(info.Addrs) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			a.err = fmt.Errorf("group %s: the head wrote no %s in %s", g.Name(), jobspec.RendezvousPath, g.o.RendezvousWait)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(g.o.Poll):
		}
	}
	eg, ectx := errgroup.WithContext(ctx)
	for i := 1; i < len(g.members); i++ {
		g.mu.Lock()
		started := a.started[i]
		g.mu.Unlock()
		if started {
			continue
		}
		eg.Go(func() error {
			s := *a.specs[i]
			// Addresses are no secret; the token is in the secrets file.
			s.Command = append([]string{"env", "FLEET_RENDEZVOUS=" + strings.Join(info.Addrs, ",")}, s.Command...)
			h, err := g.members[i].Target.Start(ectx, &s, a.handles[i])
			if err != nil {
				return fmt.Errorf("%s (node %d of the group): start: %w", g.members[i].Name, i, err)
			}
			g.mu.Lock()
			a.handles[i], a.started[i] = h, true
			g.mu.Unlock()
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		a.err = target.Transient(err)
		// The head waits for nodes that will never join: end it now.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		g.mu.Lock()
		head := a.handles[0]
		g.mu.Unlock()
		_ = g.members[0].Target.Cancel(cctx, head)
	}
}

// lingerOthers waits a little for the other nodes to end on their own
// (they follow the head out), then cancels those still running.
func (g *Group) lingerOthers(ctx context.Context, a *attempt) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.o.Linger+2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := 1; i < len(g.members); i++ {
		g.mu.Lock()
		h, started := a.handles[i], a.started[i]
		g.mu.Unlock()
		if !started {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lctx, lcancel := context.WithTimeout(cctx, g.o.Linger)
			_, err := g.members[i].Target.Wait(lctx, h)
			lcancel()
			if err != nil {
				_ = g.members[i].Target.Cancel(cctx, h)
			}
		}()
	}
	wg.Wait()
}

// Logs follows every node's output into w, a line at a time: the
// head's as it is (its progress lines drive the controller), the others'
// each line marked with the node ("[node1] ..."), from when each starts.
func (g *Group) Logs(ctx context.Context, h target.Handle, w io.Writer) error {
	hs, err := Members(h)
	if err != nil {
		return err
	}
	lw := &lockedWriter{w: w}
	var wg sync.WaitGroup
	follow := func(i int, mh target.Handle) {
		defer wg.Done()
		out := &lineWriter{dst: lw}
		if i > 0 {
			out.prefix = "[" + g.members[i].Name + "] "
		}
		_ = g.members[i].Target.Logs(ctx, mh, out)
		out.flush()
	}
	wg.Add(1)
	go follow(0, hs[0])
	a := g.attempt(h)
	for i := 1; i < len(g.members); i++ {
		wg.Add(1)
		go func() {
			// A node starts once the head's rendezvous is known (Wait).
			for {
				mh, ok := g.member(a, hs, i)
				if ok {
					follow(i, mh)
					return
				}
				select {
				case <-ctx.Done():
					wg.Done()
					return
				case <-time.After(g.o.Poll):
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// member is node i's handle once it started.
func (g *Group) member(a *attempt, hs []target.Handle, i int) (target.Handle, bool) {
	if a == nil {
		return hs[i], hs[i].Ref != ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return a.handles[i], a.started[i]
}

// lockedWriter serialises whole lines from several followers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lineWriter hands dst whole lines, each with prefix.
type lineWriter struct {
	dst    io.Writer
	prefix string
	buf    []byte
}

// maxLine bounds a line held while its end has not come.
const maxLine = 64 << 10

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		if _, err := l.dst.Write(append([]byte(l.prefix), l.buf[:i+1]...)); err != nil {
			return 0, err
		}
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > maxLine {
		l.flush()
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		_, _ = l.dst.Write(append(append([]byte(l.prefix), l.buf...), '\n'))
		l.buf = nil
	}
}

// Fetch brings back the head's outputs and, from the other nodes, what
// they write under logs/ (each process's and node's log, named apart).
func (g *Group) Fetch(ctx context.Context, h target.Handle, paths []string, dir string) ([]string, error) {
	hs, err := g.handles(h)
	if err != nil {
		return nil, err
	}
	var logs []string
	for _, p := range paths {
		if strings.HasPrefix(path.Clean(p), "logs/") {
			logs = append(logs, p)
		}
	}
	var all []string
	var errs []error
	for i := len(hs) - 1; i >= 0; i-- { // the head last: its files win
		if hs[i].WorkDir == "" {
			continue
		}
		if i == 0 {
			got, err := g.members[i].Target.Fetch(ctx, hs[i], paths, dir)
			all = append(all, got...)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", g.members[i].Name, err))
			}
			continue
		}
		got, err := g.fetchOther(ctx, i, hs[i], logs, dir)
		all = append(all, got...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", g.members[i].Name, err))
		}
	}
	return dedupe(all), errors.Join(errs...)
}

// fetchOther brings back node i's logs, and its own output (job.log
// there) as logs/node-<i>.log.
func (g *Group) fetchOther(ctx context.Context, i int, h target.Handle, logs []string, dir string) ([]string, error) {
	got, err := g.members[i].Target.Fetch(ctx, h, logs, dir)
	tmp, terr := os.MkdirTemp(dir, ".node-")
	if terr != nil {
		return got, errors.Join(err, terr)
	}
	defer os.RemoveAll(tmp)
	own, ferr := g.members[i].Target.Fetch(ctx, h, []string{"job.log"}, tmp)
	if len(own) == 1 {
		rel := jobspec.NodeLogPath(i)
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if merr := os.MkdirAll(filepath.Dir(dst), 0o755); merr == nil {
			if os.Rename(filepath.Join(tmp, "job.log"), dst) == nil {
				got = append(got, rel)
			}
		}
	}
	return got, errors.Join(err, ferr)
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// handles are the members' handles, as started so far when this group
// started them, else as the journalled handle says.
func (g *Group) handles(h target.Handle) ([]target.Handle, error) {
	if a := g.attempt(h); a != nil {
		g.mu.Lock()
		defer g.mu.Unlock()
		return append([]target.Handle(nil), a.handles...), nil
	}
	return Members(h)
}

// Cancel stops the job on every node it started on, each checked.
func (g *Group) Cancel(ctx context.Context, h target.Handle) error {
	hs, err := g.handles(h)
	if err != nil {
		return err
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, mh := range hs {
		if mh.Ref == "" {
			continue // prepared, never started
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.members[i].Target.Cancel(ctx, mh); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", g.members[i].Name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Cleanup removes the job's work directory on every node.
func (g *Group) Cleanup(ctx context.Context, h target.Handle) error {
	hs, err := g.handles(h)
	if err != nil {
		return err
	}
	var errs []error
	for i, mh := range hs {
		if mh.WorkDir == "" {
			continue
		}
		if err := g.members[i].Target.Cleanup(ctx, mh); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", g.members[i].Name, err))
		}
	}
	g.mu.Lock()
	delete(g.jobs, h.WorkDir)
	g.mu.Unlock()
	return errors.Join(errs...)
}

// Close closes nothing: the members are the engine's machines, closed
// with them.
func (g *Group) Close() error { return nil }
