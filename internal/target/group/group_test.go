package group

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/target"
)

// fakeNode is an in-memory machine: it records what the group asks of
// it, holds files per work directory, and runs a job until told to end.
type fakeNode struct {
	name string

	mu       sync.Mutex
	prepared []*target.Spec
	started  []*target.Spec
	cancels  int
	files    map[string]string // relative path -> contents, in its one work dir
	end      chan target.Exit
}

func newNode(name string) *fakeNode {
	return &fakeNode{name: name, files: map[string]string{}, end: make(chan target.Exit, 1)}
}

func (n *fakeNode) Name() string { return n.name }
func (n *fakeNode) Platform(context.Context) (target.Platform, error) {
	return target.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}, nil
}
func (n *fakeNode) Prepare(_ context.Context, s *target.Spec) (target.Handle, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.prepared = append(n.prepared, s)
	return target.Handle{Target: n.name, JobID: s.JobID, Attempt: s.Attempt, WorkDir: "/w/" + n.name}, nil
}
func (n *fakeNode) Start(_ context.Context, s *target.Spec, h target.Handle) (target.Handle, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.started = append(n.started, s)
	h.Ref = "pg-" + n.name
	return h, nil
}
func (n *fakeNode) Wait(ctx context.Context, h target.Handle) (target.Exit, error) {
	select {
	case ex := <-n.end:
		return ex, nil
	case <-ctx.Done():
		return target.Exit{Code: -1}, ctx.Err()
	}
}
func (n *fakeNode) Logs(ctx context.Context, h target.Handle, w io.Writer) error {
	fmt.Fprintf(w, "line from %s\n", n.name)
	return nil
}
func (n *fakeNode) Fetch(_ context.Context, h target.Handle, paths []string, dir string) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var got []string
	for _, p := range paths {
		body, ok := n.files[p]
		if !ok {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, []byte(body), 0o644); err != nil {
			return got, err
		}
		got = append(got, p)
	}
	return got, nil
}
func (n *fakeNode) Cancel(context.Context, target.Handle) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cancels++
	select {
	case n.end <- target.Exit{Code: 143, Signal: "SIGTERM"}:
	default:
	}
	return nil
}
func (n *fakeNode) Cleanup(context.Context, target.Handle) error { return nil }
func (n *fakeNode) Close() error                                 { return nil }

func (n *fakeNode) set(path, body string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.files[path] = body
}

func (n *fakeNode) startedSpecs() []*target.Spec {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.started)
}

func newGroup(t *testing.T, nodes ...*fakeNode) *Group {
	t.Helper()
	var ms []Member
	for _, n := range nodes {
		ms = append(ms, Member{Name: n.name, Target: n, Env: map[string]string{"OWN": n.name}})
	}
	g, err := New(ms, Options{RendezvousWait: 10 * time.Second, Poll: 10 * time.Millisecond, Linger: time.Second, Command: []string{"bash", "scripts/job.sh"}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGroupStartsTheHeadThenTheOthersWithItsRendezvous(t *testing.T) {
	a, b, c := newNode("a"), newNode("b"), newNode("c")
	g := newGroup(t, a, b, c)
	if g.Name() != "a+b+c" {
		t.Errorf("name %q", g.Name())
	}
	ctx := context.Background()
	spec := &target.Spec{JobID: "j", Attempt: 1, Env: map[string]string{"MODEL": "m"}, Secrets: map[string]string{"HF_TOKEN": "s"}, Command: []string{"bash", "scripts/job.sh"}, Devices: []int{0}}
	h, err := g.Prepare(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Every node: its rank, its own env, the job's secrets and one token
	// for all.
	token := a.prepared[0].Secrets["FLEET_RENDEZVOUS_TOKEN"]
	for i, n := range []*fakeNode{a, b, c} {
		s := n.prepared[0]
		if s.Env[jobspec.NodeRankEnv] != fmt.Sprint(i) || s.Env["OWN"] != n.name || s.Env["MODEL"] != "m" || s.Secrets["HF_TOKEN"] != "s" || s.Devices != nil {
			t.Errorf("node %s prepared with %+v", n.name, s)
		}
		if len(token) < 32 || s.Secrets["FLEET_RENDEZVOUS_TOKEN"] != token {
			t.Errorf("node %s: token %q, want the group's one token", n.name, s.Secrets["FLEET_RENDEZVOUS_TOKEN"])
		}
		if strings.Contains(strings.Join(s.Command, " "), token) {
			t.Errorf("the token is in node %s's command line", n.name)
		}
	}
	if spec.Env[jobspec.NodeRankEnv] != "" {
		t.Error("Prepare changed the caller's spec")
	}
	h, err = g.Start(ctx, spec, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.startedSpecs()) != 1 || len(b.startedSpecs()) != 0 {
		t.Fatalf("after Start: head started %d, others %d; want the head alone", len(a.startedSpecs()), len(b.startedSpecs()))
	}
	waited := make(chan target.Exit, 1)
	go func() {
		ex, err := g.Wait(ctx, h)
		if err != nil {
			t.Error(err)
		}
		waited <- ex
	}()
	time.Sleep(50 * time.Millisecond)
	if len(b.startedSpecs()) != 0 {
		t.Fatal("a node started before the head said where its rendezvous is")
	}
	a.set(jobspec.RendezvousPath, `{"addrs":["10.0.0.1:4000","10.0.1.1:4000"]}`)
	for end := time.Now().Add(5 * time.Second); len(c.startedSpecs()) == 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	for _, n := range []*fakeNode{b, c} {
		s := n.startedSpecs()
		if len(s) != 1 || strings.Join(s[0].Command, " ") != "env FLEET_RENDEZVOUS=10.0.0.1:4000,10.0.1.1:4000 bash scripts/job.sh" {
			t.Fatalf("node %s started with %v", n.name, s)
		}
	}
	// The head ends; the others follow it out.
	b.end <- target.Exit{}
	c.end <- target.Exit{}
	a.end <- target.Exit{Code: 0}
	if ex := <-waited; !ex.OK() {
		t.Errorf("group ended %v", ex)
	}

	// Outputs: the head's as asked, the others' logs and their own output
	// as logs/node-<rank>.log.
	a.set("results/r.json", "{}")
	a.set("job.log", "head")
	b.set("job.log", "node b")
	b.set("logs/decode-0.log", "decode")
	b.set("results/r.json", "not the head's")
	dir := t.TempDir()
	got, err := g.Fetch(ctx, h, []string{"results/r.json", "job.log", "logs/decode-0.log", "logs/prefill-0.log"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"job.log", "logs/decode-0.log", "logs/node-1.log", "results/r.json"}; !slices.Equal(got, want) {
		t.Errorf("fetched %v, want %v", got, want)
	}
	for p, want := range map[string]string{"results/r.json": "{}", "job.log": "head", "logs/node-1.log": "node b", "logs/decode-0.log": "decode"} {
		if b, _ := os.ReadFile(filepath.Join(dir, p)); string(b) != want {
			t.Errorf("%s = %q, want %q", p, b, want)
		}
	}
}

func TestGroupCancelsEveryStartedNode(t *testing.T) {
	a, b := newNode("a"), newNode("b")
	g := newGroup(t, a, b)
	ctx := context.Background()
	spec := &target.Spec{JobID: "j", Attempt: 1, Command: []string{"bash", "scripts/job.sh"}}
	h, _ := g.Prepare(ctx, spec)
	h, _ = g.Start(ctx, spec, h)
	// b never started: only the head is cancelled.
	if err := g.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if a.cancels != 1 || b.cancels != 0 {
		t.Errorf("cancels: head %d, other %d", a.cancels, b.cancels)
	}
}

// A controller that re-attaches (a fresh group, the journalled handle)
// starts the nodes the killed one had not started.
func TestGroupAdoptsAJobAndStartsItsMissingNodes(t *testing.T) {
	a, b := newNode("a"), newNode("b")
	members := []target.Handle{{Target: "a", JobID: "j", Attempt: 1, WorkDir: "/w/a", Ref: "pg-a"}, {Target: "b", JobID: "j", Attempt: 1, WorkDir: "/w/b"}}
	h := encode(target.Handle{Target: "a+b", JobID: "j", Attempt: 1, WorkDir: "/w/a", Ref: "pg-a"}, members)
	g := newGroup(t, a, b)
	a.set(jobspec.RendezvousPath, `{"addrs":["10.0.0.1:4000"]}`)
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Wait(context.Background(), h)
	}()
	for end := time.Now().Add(5 * time.Second); len(b.startedSpecs()) == 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if s := b.startedSpecs(); len(s) != 1 || s[0].Command[0] != "env" {
		t.Fatalf("node b started %v", s)
	}
	b.end <- target.Exit{}
	a.end <- target.Exit{}
	<-done
}
