package jobrun

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/rendezvous"
	"github.com/fleetbench/fleet/internal/topology"
)

// multiJob is a 1-prefill/1-decode job on two 1-GPU nodes, run by the
// fake launcher: node 0 runs the router and prefill-0, node 1 decode-0.
func multiJob(t *testing.T, mode string, concs ...int) *jobspec.Job {
	t.Helper()
	shape := topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 1}, Decode: topology.Pool{Workers: 1, TP: 1}, KVTransfer: "nixl"}
	l, err := topology.Place(shape, 1)
	must(t, err)
	j := testJob(freePort(t), mode)
	j.Conc = concs[0]
	j.NumPrompts, j.NumWarmups = 3*concs[0], 0
	j.Multi = &jobspec.Multi{Shape: shape, Layout: l, ConcList: concs}
	return j
}

type nodeRun struct {
	dir string
	out *syncBuffer
	err error
}

// runNode runs node rank of j in its own work directory with extra
// environment; the result arrives on the returned channel.
func runNode(ctx context.Context, t *testing.T, j *jobspec.Job, rank int, dir string, extra ...string) <-chan nodeRun {
	t.Helper()
	self, err := os.Executable()
	must(t, err)
	ch := make(chan nodeRun, 1)
	out := &syncBuffer{}
	env := append(os.Environ(), jobspec.NodeRankEnv+"="+strconv.Itoa(rank))
	env = append(env, extra...)
	go func() {
		err := Run(ctx, Options{Dir: dir, Job: j, Out: out, Self: self, Environ: env,
			StopGrace: 5 * time.Second, HealthPoll: 20 * time.Millisecond, ProgressEvery: 10 * time.Millisecond,
			DeathGrace: 2 * time.Second, StatePoll: 50 * time.Millisecond, NodeLostAfter: time.Second})
		ch <- nodeRun{dir: dir, out: out, err: err}
	}()
	return ch
}

// headInfo waits for the head's rendezvous file and turns it into the
// environment the controller gives the other nodes of an SSH group.
func headInfo(t *testing.T, dir string) []string {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(jobspec.RendezvousPath))
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		fi, err := os.Stat(path)
		must(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600: it holds the token", jobspec.RendezvousPath, fi.Mode().Perm())
		}
		var info rendezvous.Info
		must(t, json.Unmarshal(b, &info))
		return []string{EnvRendezvous + "=" + strings.Join(info.Addrs, ","), EnvRendezvousToken + "=" + info.Token}
	}
	t.Fatal("the head wrote no rendezvous file")
	return nil
}

// gone checks that the process that wrote dir/pid-NAME has exited.
func gone(t *testing.T, dir, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "pid-"+name))
	if err != nil {
		t.Errorf("%s never started: %v", name, err)
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid > 1 && syscall.Kill(pid, 0) == nil {
		t.Errorf("%s (pid %d) still runs after the job ended", name, pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func envOf(t *testing.T, dir, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "env-"+name))
	must(t, err)
	env := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		env[k] = v
	}
	return env
}

func TestMultiNodeRuns(t *testing.T) {
	j := multiJob(t, "sim", 1, 2)
	d0, d1 := workDir(t), workDir(t)
	head := runNode(context.Background(), t, j, 0, d0)
	other := runNode(context.Background(), t, j, 1, d1, headInfo(t, d0)...)
	h, o := <-head, <-other
	if h.err != nil || o.err != nil {
		t.Fatalf("head: %v\nnode 1: %v\nhead log:\n%s\nnode 1 log:\n%s", h.err, o.err, h.out, o.out)
	}
	for _, c := range []int{1, 2} {
		name := j.Multi.MultiResultName(j.ResultFilename, c) + ".json"
		b, err := os.ReadFile(filepath.Join(d0, "results", name))
		if err != nil {
			t.Fatalf("no result for concurrency %d: %v", c, err)
		}
		var res struct {
			MaxConcurrency int `json:"max_concurrency"`
			Completed      int `json:"completed"`
		}
		must(t, json.Unmarshal(b, &res))
		if res.MaxConcurrency != c || res.Completed != 3*c {
			t.Errorf("concurrency %d: result says max_concurrency %d, completed %d; want %d and %d", c, res.MaxConcurrency, res.Completed, c, 3*c)
		}
	}
	// Every process logged under its own name on its own node.
	for _, f := range []string{filepath.Join(d0, "logs", "router-0.log"), filepath.Join(d0, "logs", "prefill-0.log"), filepath.Join(d1, "logs", "decode-0.log")} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	// The router learnt where each worker listens, from the rendezvous.
	router, prefill, decode := envOf(t, d0, "router-0"), envOf(t, d0, "prefill-0"), envOf(t, d1, "decode-0")
	if want := prefill["NODE_ADDR"] + ":" + prefill["PORT"]; router["PREFILL_ENDPOINTS"] != want {
		t.Errorf("router's PREFILL_ENDPOINTS = %q, want %q", router["PREFILL_ENDPOINTS"], want)
	}
	if want := decode["NODE_ADDR"] + ":" + decode["PORT"]; router["DECODE_ENDPOINTS"] != want {
		t.Errorf("router's DECODE_ENDPOINTS = %q, want %q", router["DECODE_ENDPOINTS"], want)
	}
	if decode["ROLE"] != "decode" || decode["GPU_COUNT"] != "1" || decode["CUDA_VISIBLE_DEVICES"] != "0" {
		t.Errorf("decode-0's environment: %v", decode)
	}
	for _, p := range []struct{ dir, name string }{{d0, "router-0"}, {d0, "prefill-0"}, {d1, "decode-0"}} {
		gone(t, p.dir, p.name)
	}
	// Each process's log streams into its node's output, marked; only the
	// head reports progress.
	if !strings.Contains(h.out.String(), "[router-0] Application startup complete.") || !strings.Contains(o.out.String(), "[decode-0] Application startup complete.") {
		t.Errorf("process logs not forwarded:\nhead:\n%s\nnode 1:\n%s", h.out, o.out)
	}
	if len(o.out.progress()) != 0 || len(h.out.progress()) == 0 {
		t.Errorf("progress lines: head %d, node 1 %d; want some from the head only", len(h.out.progress()), len(o.out.progress()))
	}
	if !strings.Contains(o.out.String(), "[fleet-job node1 ") {
		t.Errorf("node 1's own lines are not marked with its rank:\n%s", o.out)
	}
}

// A process that dies on a node other than the head ends the job on
// every node, with a reason that names the process and its node, and
// leaves nothing running.
func TestMultiNodeRoleDies(t *testing.T) {
	j := multiJob(t, "sim,itl=50ms,die=decode-0@1500ms", 2)
	j.NumPrompts = 400
	d0, d1 := workDir(t), workDir(t)
	head := runNode(context.Background(), t, j, 0, d0)
	other := runNode(context.Background(), t, j, 1, d1, headInfo(t, d0)...)
	h, o := <-head, <-other
	if code(h.err) != jobspec.ExitServerDied || !strings.Contains(h.err.Error(), "decode-0 on node 1") {
		t.Errorf("head ended with %v (code %d), want exit %d naming decode-0 on node 1\n%s", h.err, code(h.err), jobspec.ExitServerDied, h.out)
	}
	if o.err == nil {
		t.Error("node 1 ended well after its process died")
	}
	for _, p := range []struct{ dir, name string }{{d0, "router-0"}, {d0, "prefill-0"}, {d1, "decode-0"}} {
		gone(t, p.dir, p.name)
	}
}

// A node that registers and then falls silent (its machine died) ends
// the job as a lost node; the head stops its own processes.
func TestMultiNodeNodeLost(t *testing.T) {
	j := multiJob(t, "sim", 1)
	d0 := workDir(t)
	head := runNode(context.Background(), t, j, 0, d0)
	env := headInfo(t, d0)
	addrs := strings.Split(strings.TrimPrefix(env[0], EnvRendezvous+"="), ",")
	token := strings.TrimPrefix(env[1], EnvRendezvousToken+"=")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := rendezvous.Dial(ctx, addrs, token, 1)
	must(t, err)
	must(t, cli.Register(ctx, []jobspec.Endpoint{{Role: "decode", Host: "127.0.0.1", Port: freePort(t)}}))
	cli.Close()
	h := <-head
	if code(h.err) != jobspec.ExitNodeLost || !strings.Contains(h.err.Error(), "node 1") {
		t.Errorf("head ended with %v (code %d), want exit %d naming node 1", h.err, code(h.err), jobspec.ExitNodeLost)
	}
	gone(t, d0, "prefill-0")
}

// A node whose head is gone stops its processes and ends as a lost
// node.
func TestMultiNodeHeadLost(t *testing.T) {
	j := multiJob(t, "sim", 1)
	token, err := rendezvous.NewToken()
	must(t, err)
	srv := rendezvous.NewServer(token, 2)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	sctx, stop := context.WithCancel(context.Background())
	go func() { _ = srv.Serve(sctx, ln) }()
	// The "head" registers a prefill, so node 1 starts its decode; then
	// the head vanishes.
	must(t, srv.Register(rendezvous.Registration{Node: 0, Endpoints: []jobspec.Endpoint{{Role: "prefill", Host: "127.0.0.1", Port: 1}}}))
	d1 := workDir(t)
	other := runNode(context.Background(), t, j, 1, d1, EnvRendezvous+"="+ln.Addr().String(), EnvRendezvousToken+"="+token)
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(d1, "pid-decode-0")); err == nil {
			break
		}
	}
	stop()
	o := <-other
	if code(o.err) != jobspec.ExitNodeLost || !strings.Contains(o.err.Error(), "head node") {
		t.Errorf("node 1 ended with %v (code %d), want exit %d about the head node", o.err, code(o.err), jobspec.ExitNodeLost)
	}
	gone(t, d1, "decode-0")
}

// A wrong rank or a missing rendezvous token is refused before anything
// starts.
func TestMultiNodeBadEnv(t *testing.T) {
	j := multiJob(t, "sim", 1)
	for _, tt := range []struct {
		name  string
		rank  int
		extra []string
		says  string
	}{
		{"rank past the layout", 2, nil, jobspec.NodeRankEnv},
		{"address without token", 1, []string{EnvRendezvous + "=127.0.0.1:1"}, EnvRendezvousToken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := <-runNode(context.Background(), t, j, tt.rank, workDir(t), tt.extra...)
			if code(r.err) != jobspec.ExitBadEnv || !strings.Contains(r.err.Error(), tt.says) {
				t.Errorf("ended with %v (code %d), want exit %d naming %s", r.err, code(r.err), jobspec.ExitBadEnv, tt.says)
			}
		})
	}
}

// A worker that never answers /health ends the job at the health timeout,
// naming it.
func TestMultiNodeHealthTimeoutNamesTheWorker(t *testing.T) {
	j := multiJob(t, "sim,hang=decode-0", 1)
	j.HealthTimeout = jobspec.Duration(2 * time.Second)
	d0, d1 := workDir(t), workDir(t)
	head := runNode(context.Background(), t, j, 0, d0)
	other := runNode(context.Background(), t, j, 1, d1, headInfo(t, d0)...)
	h, o := <-head, <-other
	if code(h.err) != jobspec.ExitHealthTimeout || !strings.Contains(h.err.Error(), "decode-0 on node 1") || !strings.Contains(h.err.Error(), "does not answer /health") {
		t.Errorf("head ended with %v (code %d), want exit %d naming decode-0 on node 1", h.err, code(h.err), jobspec.ExitHealthTimeout)
	}
	if o.err != nil {
		t.Errorf("node 1 ended with %v: a node stopped by its head ends well", o.err)
	}
	for _, p := range []struct{ dir, name string }{{d0, "prefill-0"}, {d1, "decode-0"}} {
		gone(t, p.dir, p.name)
	}
}
