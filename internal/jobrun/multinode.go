package jobrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetbench/fleet/internal/atomicfile"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/rendezvous"
	"github.com/fleetbench/fleet/internal/topology"
)

// Environment a multi-node job's nodes read besides the job file.
const (
	// EnvRendezvous lists host:port candidates of the head's rendezvous,
	// comma separated; without it a node waits for the head's rendezvous
	// file in the (shared) work directory.
	EnvRendezvous = "FLEET_RENDEZVOUS"
	// EnvRendezvousToken is the rendezvous's token when the controller
	// made it (a secret: it reaches the nodes in their secrets file).
	EnvRendezvousToken = "FLEET_RENDEZVOUS_TOKEN"
	// EnvNodeAddr overrides the address other nodes reach this one on.
	EnvNodeAddr = "FLEET_NODE_ADDR"
)

// multi is one node's part of a multi-node job.
type multi struct {
	r    *runner
	j    *jobspec.Job
	m    *jobspec.Multi
	rank int
	node topology.Node
	addr string // where the other nodes reach this node

	srv *rendezvous.Server // on the head
	cli *rendezvous.Client // on the others

	self    map[string]jobspec.Endpoint // this node's processes, by name
	mu      sync.Mutex
	procs   map[string]*proc
	started []string // process names in start order

	stopping   atomic.Bool
	forwarding sync.WaitGroup // log forwarders, done once their process exits
	failOnce   sync.Once
	failed     chan struct{} // closed at the first failure
	failure    *Failure      // set before failed closes
	healthy    atomic.Bool   // every worker answered /health
}

// env reads a variable of the node's base environment.
func (r *runner) env(name string) string {
	for _, e := range r.o.Environ {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v
		}
	}
	return ""
}

// runMulti runs this node's processes of a multi-node job; the head node
// (rank 0) also runs the rendezvous, checks every worker's health, starts
// the router and runs the client at each concurrency of the list.
func (r *runner) runMulti(ctx context.Context) error {
	m := &multi{r: r, j: r.j, m: r.j.Multi, self: map[string]jobspec.Endpoint{}, procs: map[string]*proc{}, failed: make(chan struct{})}
	rank, err := strconv.Atoi(r.env(jobspec.NodeRankEnv))
	if err != nil || rank < 0 || rank >= m.m.Layout.NodeCount() {
		return fail(jobspec.ExitBadEnv, "%s=%q: want this node's rank in the job's layout, 0..%d", jobspec.NodeRankEnv, r.env(jobspec.NodeRankEnv), m.m.Layout.NodeCount()-1)
	}
	m.rank, m.node = rank, m.m.Layout.Nodes[rank]
	if rank > 0 {
		// The head speaks for the job: the others' progress would mix
		// with its own where their outputs meet (one Slurm log).
		r.quiet = true
		r.tag = " node" + strconv.Itoa(rank)
	}
	launcher := filepath.Join("scripts", "server", r.j.Framework+".sh")
	if _, err := os.Stat(filepath.Join(r.o.Dir, launcher)); err != nil {
		return fail(jobspec.ExitBadEnv, "no server launcher for framework %q (%s)", r.j.Framework, launcher)
	}
	for _, d := range []string{"logs", "results"} {
		if err := os.MkdirAll(filepath.Join(r.o.Dir, d), 0o755); err != nil {
			return fail(jobspec.ExitBadEnv, "work directory: %w", err)
		}
	}
	if err := m.choosePorts(); err != nil {
		return err
	}
	defer m.stopAll()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if rank == 0 {
		if r.j.Agentic != nil {
			if r.trees, err = r.loadTraces(); err != nil {
				return err
			}
		}
		return m.head(ctx, launcher)
	}
	return m.follow(ctx, launcher)
}

// choosePorts gives each process of this node three free ports: HTTP,
// bootstrap (or side channel) and distributed init.
func (m *multi) choosePorts() error {
	used := map[int]bool{}
	// Each node starts from its own base: nodes that share a machine (a
	// test, containers on one host) then never pick the same free port
	// at the same moment.
	next := m.j.Port + 100*m.rank
	pick := func() (int, error) {
		for p := next; p < next+m.r.o.PortTries*4 && p <= 65535; p++ {
			if !used[p] && portFree(p) {
				used[p] = true
				next = p + 1
				return p, nil
			}
		}
		return 0, fail(jobspec.ExitPortClash, "no free port from %d on this node", next)
	}
	for _, p := range m.node.Processes {
		e := jobspec.Endpoint{Role: p.Role, Worker: p.Worker, Rank: p.Rank, Node: m.rank}
		var err error
		if e.Port, err = pick(); err != nil {
			return err
		}
		if e.BootstrapPort, err = pick(); err != nil {
			return err
		}
		if e.DistPort, err = pick(); err != nil {
			return err
		}
		m.self[p.Name()] = e
	}
	return nil
}

// endpoints are this node's processes with its address.
func (m *multi) endpoints() []jobspec.Endpoint {
	var out []jobspec.Endpoint
	for _, p := range m.node.Processes {
		e := m.self[p.Name()]
		e.Host = m.addr
		out = append(out, e)
	}
	return out
}

// fail records the job's first failure and wakes everything that waits.
func (m *multi) fail(code int, format string, args ...any) {
	m.failOnce.Do(func() {
		m.failure = fail(code, format, args...)
		m.r.logf("%v", m.failure.Err)
		close(m.failed)
	})
}

func (m *multi) hasFailed() *Failure {
	select {
	case <-m.failed:
		return m.failure
	default:
		return nil
	}
}

// where names a node in reasons: its rank and address.
func (m *multi) where(node int, st *rendezvous.State) string {
	var names []string
	host := ""
	if st != nil {
		for _, e := range st.Endpoints {
			if e.Node == node {
				names = append(names, e.Name())
				host = e.Host
			}
		}
	}
	s := "node " + strconv.Itoa(node)
	if host != "" {
		s += " (" + host + ")"
	}
	if len(names) > 0 {
		s += " running " + strings.Join(names, ", ")
	}
	return s
}

// startReady starts every process of this node whose peers are known:
// all of them once the processes they need have registered (a worker's
// leader for its later ranks, the infra process for everyone). The
// router is the head's to start, after the workers are healthy.
func (m *multi) startReady(launcher string, st rendezvous.State) (done bool, err error) {
	have := map[string]bool{}
	infra := false
	for _, e := range st.Endpoints {
		have[e.Name()] = true
		infra = infra || e.Role == topology.RoleInfra
	}
	done = true
	for _, p := range m.node.Processes {
		if p.Role == topology.RoleRouter || m.isStarted(p.Name()) {
			continue
		}
		ready := (!m.m.Shape.Infra || infra || p.Role == topology.RoleInfra) &&
			(p.Rank == 0 || have[topology.Process{Role: p.Role, Worker: p.Worker}.Name()])
		if !ready {
			done = false
			continue
		}
		if err := m.startProcess(launcher, p, st.Endpoints); err != nil {
			return false, err
		}
	}
	return done, nil
}

func (m *multi) isStarted(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.procs[name] != nil
}

// startProcess starts one process of this node with its launcher
// environment, and watches it: a process that exits before the job is
// stopping fails the job.
func (m *multi) startProcess(launcher string, p topology.Process, peers []jobspec.Endpoint) error {
	self := m.self[p.Name()]
	self.Host = m.addr
	env := m.j.ProcessEnv(p, self, peers)
	if m.r.o.Self != "" {
		env["FLEET_BIN"] = m.r.o.Self
	}
	logRel := jobspec.ProcessLogPath(p)
	m.r.logf("starting %s on node %d (%s:%d)", p.Name(), m.rank, m.addr, self.Port)
	pr, err := startProc(p.Name(), m.r.o.Dir, launcher, filepath.Join(m.r.o.Dir, filepath.FromSlash(logRel)), m.r.o.Environ, env, m.j.ServerArgs)
	if err != nil {
		return fail(jobspec.ExitServerExited, "start %s on node %d: %w", p.Name(), m.rank, err)
	}
	m.mu.Lock()
	m.procs[p.Name()] = pr
	m.started = append(m.started, p.Name())
	m.mu.Unlock()
	// The process's log streams into the job's output as it grows, so the
	// controller shows every role live.
	fctx, stopForward := context.WithCancel(context.Background())
	m.forwarding.Add(1)
	go func() {
		defer m.forwarding.Done()
		m.r.forwardLog(fctx, pr.log, "["+p.Name()+"] ", m.r.o.StatePoll)
	}()
	go func() {
		<-pr.exited
		stopForward()
		if m.stopping.Load() {
			return
		}
		code, when := jobspec.ExitServerExited, "before the job was healthy"
		if m.healthy.Load() {
			code, when = jobspec.ExitServerDied, "during the benchmark"
		}
		m.fail(code, "%s on node %d (%s) exited (%s) %s: %s", p.Name(), m.rank, m.addr, exitStatus(pr.status), when, lastLinesOf(pr.log, logRel, 3))
	}()
	return nil
}

// stopAll stops this node's processes, the last started first, all at
// once: TERM to each, then KILL to what outlives the grace period.
func (m *multi) stopAll() {
	m.stopping.Store(true)
	m.mu.Lock()
	var ps []*proc
	for i := len(m.started) - 1; i >= 0; i-- {
		ps = append(ps, m.procs[m.started[i]])
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(m.r.o.StopGrace, m.r.logf)
		}()
	}
	wg.Wait()
	m.forwarding.Wait()
}

// head runs node 0: the rendezvous, its own processes, the health of all
// workers, the router and the client.
func (m *multi) head(ctx context.Context, launcher string) error {
	r := m.r
	token := r.env(EnvRendezvousToken)
	info := rendezvous.Info{}
	if token == "" {
		t, err := rendezvous.NewToken()
		if err != nil {
			return fail(jobspec.ExitBadEnv, "%w", err)
		}
		token, info.Token = t, t
	}
	nodes := m.m.Layout.NodeCount()
	m.srv = rendezvous.NewServer(token, nodes)
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return fail(jobspec.ExitPortClash, "rendezvous: %w", err)
	}
	go func() { _ = m.srv.Serve(ctx, ln) }()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	hosts := rendezvous.LocalAddrs()
	if a := r.env(EnvNodeAddr); a != "" {
		hosts = append([]string{a}, hosts...)
	}
	if nodes == 1 || len(hosts) == 0 {
		hosts = append(hosts, "127.0.0.1")
	}
	for _, h := range hosts {
		info.Addrs = append(info.Addrs, net.JoinHostPort(h, port))
	}
	b, _ := json.Marshal(info)
	rvPath := filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.RendezvousPath))
	if err := os.MkdirAll(filepath.Dir(rvPath), 0o700); err != nil {
		return fail(jobspec.ExitBadEnv, "write %s: %w", jobspec.RendezvousPath, err)
	}
	if err := atomicfile.WriteBytes(rvPath, b, 0o600); err != nil {
		return fail(jobspec.ExitBadEnv, "write %s: %w", jobspec.RendezvousPath, err)
	}
	r.logf("multi-node job: %d nodes; rendezvous on %s", nodes, strings.Join(info.Addrs, ", "))
	r.progress(jobspec.Progress{Phase: jobspec.PhaseStarting})

	joinBy := time.Now().Add(r.j.HealthTimeout.D())
	go m.watchNodes(ctx, joinBy)
	if err := m.headAddr(ctx); err != nil {
		return err
	}
	if err := m.srv.Register(rendezvous.Registration{Node: 0, Endpoints: m.endpoints()}); err != nil {
		return fail(jobspec.ExitBadEnv, "%w", err)
	}

	// Start this node's processes as their peers register, then wait for
	// every worker to answer /health.
	r.progress(jobspec.Progress{Phase: jobspec.PhaseHealth})
	deadline := time.NewTimer(r.j.HealthTimeout.D())
	defer deadline.Stop()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 3 * time.Second}
	defer client.CloseIdleConnections()
	for {
		st, changed := m.srv.State()
		all, err := m.startReady(launcher, st)
		if err != nil {
			m.srv.SetPhase(rendezvous.PhaseFailed, err.Error())
			return err
		}
		if all && len(st.Joined) == nodes && m.workersHealthy(ctx, client, st) {
			break
		}
		if err := m.wait(ctx, deadline.C, changed, func() string {
			return fmt.Sprintf("multi-node job not healthy after %s: %s", r.j.HealthTimeout.D(), m.unhealthy(ctx, client, st))
		}); err != nil {
			return err
		}
	}
	st, _ := m.srv.State()
	r.logf("every worker is healthy: %s", names(st.Endpoints))

	// The router, once it knows every worker.
	var router topology.Process
	for _, p := range m.node.Processes {
		if p.Role == topology.RoleRouter {
			router = p
		}
	}
	if err := m.startProcess(launcher, router, st.Endpoints); err != nil {
		m.srv.SetPhase(rendezvous.PhaseFailed, err.Error())
		return err
	}
	routerPort := m.self[router.Name()].Port
	url := fmt.Sprintf("http://127.0.0.1:%d/health", routerPort)
	for !healthy(ctx, client, url) {
		if err := m.wait(ctx, deadline.C, nil, func() string {
			return fmt.Sprintf("router not healthy after %s: %s", r.j.HealthTimeout.D(), lastLinesOf(m.procs[router.Name()].log, jobspec.ProcessLogPath(router), 3))
		}); err != nil {
			return err
		}
	}
	m.healthy.Store(true)
	m.srv.SetPhase(rendezvous.PhaseRunning, "")
	r.logf("router healthy on port %d; running the client at concurrency %v", routerPort, m.m.ConcList)

	if err := m.clients(ctx, routerPort); err != nil {
		if f := m.hasFailed(); f != nil {
			return m.endFailed()
		}
		m.srv.SetPhase(rendezvous.PhaseFailed, err.Error())
		return err
	}
	m.srv.SetPhase(rendezvous.PhaseDone, "")
	r.progress(jobspec.Progress{Phase: jobspec.PhaseStopping})
	m.stopAll()
	m.awaitNodes(ctx)
	return nil
}

// wait blocks the head until its next poll or a change of the
// rendezvous (changed may be nil); it returns the error to end with when
// the job failed, ctx ended, or the deadline passed (timeout says why).
func (m *multi) wait(ctx context.Context, deadline <-chan time.Time, changed <-chan struct{}, timeout func() string) error {
	select {
	case <-m.failed:
		return m.endFailed()
	case <-ctx.Done():
		m.srv.SetPhase(rendezvous.PhaseFailed, "cancelled")
		return ctx.Err()
	case <-deadline:
		m.fail(jobspec.ExitHealthTimeout, "%s", timeout())
		return m.endFailed()
	case <-changed:
	case <-time.After(m.r.o.HealthPoll):
	}
	return nil
}

// endFailed tells every node the job failed, and returns the failure.
func (m *multi) endFailed() error {
	m.srv.SetPhase(rendezvous.PhaseFailed, m.failure.Err.Error())
	m.r.progress(jobspec.Progress{Phase: jobspec.PhaseStopping})
	m.stopAll()
	m.awaitNodes(context.Background())
	return m.failure
}

// awaitNodes gives the other nodes a few polls to see the job's end, so
// they stop their processes before the head's rendezvous goes away.
func (m *multi) awaitNodes(ctx context.Context) {
	end := time.Now().Add(3*m.r.o.StatePoll + time.Second)
	for time.Now().Before(end) && ctx.Err() == nil {
		time.Sleep(m.r.o.StatePoll)
	}
}

// headAddr finds the head's own address as the other nodes reach it: set
// by FLEET_NODE_ADDR, or learnt from the first node that reaches the
// rendezvous (127.0.0.1 when the job has one node).
func (m *multi) headAddr(ctx context.Context) error {
	if a := m.r.env(EnvNodeAddr); a != "" {
		m.addr = a
		return nil
	}
	if m.m.Layout.NodeCount() == 1 {
		m.addr = "127.0.0.1"
		return nil
	}
	for {
		if a, ok := m.srv.HeadAddr(); ok {
			m.addr = a
			return nil
		}
		select {
		case <-m.failed:
			return m.endFailed()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// watchNodes fails the job when a node reports a failure, stops
// answering, or never joins.
func (m *multi) watchNodes(ctx context.Context, joinBy time.Time) {
	tick := time.NewTicker(m.r.o.StatePoll)
	defer tick.Stop()
	for {
		select {
		case f := <-m.srv.Failures():
			if f.Code == 0 {
				f.Code = jobspec.ExitServerDied
			}
			m.fail(f.Code, "%s", f.Reason)
		case <-tick.C:
			silent := m.srv.Silent(m.r.o.NodeLostAfter, joinBy)
			if len(silent) == 0 {
				continue
			}
			st, _ := m.srv.State()
			var parts []string
			for _, n := range silent {
				if slices.Contains(st.Joined, n) {
					parts = append(parts, fmt.Sprintf("%s stopped answering for %s", m.where(n, &st), m.r.o.NodeLostAfter))
				} else {
					parts = append(parts, fmt.Sprintf("node %d never joined the job", n))
				}
			}
			m.fail(jobspec.ExitNodeLost, "%s", strings.Join(parts, "; "))
		case <-m.failed:
			return
		case <-ctx.Done():
			return
		}
	}
}

// workers are the endpoints that serve a worker's HTTP API.
func workers(eps []jobspec.Endpoint) []jobspec.Endpoint {
	var out []jobspec.Endpoint
	for _, e := range eps {
		if e.Rank == 0 && (e.Role == topology.RolePrefill || e.Role == topology.RoleDecode || e.Role == topology.RoleAgg) {
			out = append(out, e)
		}
	}
	return out
}

func names(eps []jobspec.Endpoint) string {
	var out []string
	for _, e := range eps {
		out = append(out, e.Name()+"@"+e.Addr())
	}
	return strings.Join(out, ", ")
}

func (m *multi) workersHealthy(ctx context.Context, client *http.Client, st rendezvous.State) bool {
	ws := workers(st.Endpoints)
	if len(ws) == 0 {
		return false
	}
	for _, e := range ws {
		if !healthy(ctx, client, "http://"+e.Addr()+"/health") {
			return false
		}
	}
	return true
}

// unhealthy says which workers do not answer, for a timeout's reason.
func (m *multi) unhealthy(ctx context.Context, client *http.Client, st rendezvous.State) string {
	var out []string
	for n := 1; n < m.m.Layout.NodeCount(); n++ {
		if !slices.Contains(st.Joined, n) {
			out = append(out, fmt.Sprintf("node %d never joined", n))
		}
	}
	for _, e := range workers(st.Endpoints) {
		if !healthy(ctx, client, "http://"+e.Addr()+"/health") {
			out = append(out, fmt.Sprintf("%s on node %d (%s) does not answer /health", e.Name(), e.Node, e.Addr()))
		}
	}
	return strings.Join(out, "; ")
}

// clients runs the client against the router at each concurrency of the
// list, one result file each; the number of prompts and warmups scales
// with the concurrency as the job's first point sets it.
func (m *multi) clients(ctx context.Context, routerPort int) error {
	r := m.r
	r.port = routerPort
	r.exited = m.failed
	for _, p := range m.node.Processes {
		if p.Role == topology.RoleRouter {
			r.log = filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.ProcessLogPath(p)))
		}
	}
	if m.j.Agentic != nil {
		// One replay against the router, with every worker's /metrics.
		st, _ := m.srv.State()
		var urls []string
		for _, e := range workers(st.Endpoints) {
			urls = append(urls, "http://"+e.Addr()+"/metrics")
		}
		if err := r.replayAt(ctx, urls); err != nil {
			if f := m.hasFailed(); f != nil {
				return f
			}
			return err
		}
		return nil
	}
	for _, c := range m.m.ConcList {
		fl, err := r.benchFlags()
		if err != nil {
			return fail(jobspec.ExitBadEnv, "client extra_args: %w", err)
		}
		base := max(m.j.Conc, 1)
		fl.Config.MaxConcurrency = c
		fl.Config.NumPrompts = max(m.j.NumPrompts*c/base, 1)
		fl.Config.NumWarmups = m.j.NumWarmups * c / base
		rel := filepath.Join("results", m.m.MultiResultName(m.j.ResultFilename, c)+".json")
		if err := r.benchmark(ctx, fl, rel); err != nil {
			if f := m.hasFailed(); f != nil {
				return f
			}
			return err
		}
	}
	return nil
}

// follow runs a node other than the head: it finds the rendezvous,
// registers, starts its processes as their peers register, and stops
// them when the job ends, fails, or the head is gone.
func (m *multi) follow(ctx context.Context, launcher string) error {
	r := m.r
	info, err := m.rendezvousInfo(ctx)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, r.j.HealthTimeout.D())
	m.cli, err = rendezvous.Dial(dctx, info.Addrs, info.Token, m.rank)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fail(jobspec.ExitNodeLost, "node %d: %v", m.rank, err)
	}
	defer m.cli.Close()
	m.addr = r.env(EnvNodeAddr)
	if m.addr == "" {
		m.addr = m.cli.LocalAddr()
	}
	r.logf("multi-node job: node %d of %d at %s; head at %s", m.rank, m.m.Layout.NodeCount(), m.addr, m.cli.HeadHost())
	if err := m.cli.Register(ctx, m.endpoints()); err != nil {
		return fail(jobspec.ExitNodeLost, "node %d: %v", m.rank, err)
	}
	lastOK := time.Now()
	for {
		st, err := m.cli.State(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			if time.Since(lastOK) > r.o.NodeLostAfter {
				m.fail(jobspec.ExitNodeLost, "node %d: the head node (%s) stopped answering for %s: %v", m.rank, m.cli.HeadHost(), r.o.NodeLostAfter, err)
				m.stopAll()
				return m.failure
			}
		default:
			lastOK = time.Now()
			switch st.Phase {
			case rendezvous.PhaseDone:
				r.logf("the job is done; stopping this node's processes")
				return nil
			case rendezvous.PhaseFailed:
				// The head ends the job with its own status: this node's
				// part ended as asked (on Slurm, the step's status is its
				// tasks' worst, which must stay the head's).
				r.logf("the job failed on another node (%s); stopping this node's processes", st.Reason)
				return nil
			case rendezvous.PhaseRunning:
				m.healthy.Store(true)
			}
			if _, err := m.startReady(launcher, st); err != nil {
				var f *Failure
				errors.As(err, &f)
				m.report(ctx, f)
				return err
			}
		}
		select {
		case <-m.failed:
			m.report(ctx, m.failure)
			return m.failure
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.o.StatePoll):
		}
	}
}

// report tells the head about this node's failure (best effort: a head
// that does not hear it sees the node fall silent).
func (m *multi) report(ctx context.Context, f *Failure) {
	if f == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := m.cli.Fail(rctx, rendezvous.Failure{Reason: f.Err.Error(), Code: f.Code}); err != nil {
		m.r.logf("could not tell the head node: %v", err)
	}
}

// rendezvousInfo is where the head's rendezvous listens: from the
// environment the controller gave this node, or from the rendezvous file
// the head writes into the work directory (shared between the nodes of
// a Slurm job).
func (m *multi) rendezvousInfo(ctx context.Context) (rendezvous.Info, error) {
	r := m.r
	token := r.env(EnvRendezvousToken)
	if v := r.env(EnvRendezvous); v != "" {
		if token == "" {
			return rendezvous.Info{}, fail(jobspec.ExitBadEnv, "%s is set without %s", EnvRendezvous, EnvRendezvousToken)
		}
		return rendezvous.Info{Addrs: strings.Split(v, ","), Token: token}, nil
	}
	path := filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.RendezvousPath))
	deadline := time.Now().Add(r.j.HealthTimeout.D())
	for {
		if b, err := os.ReadFile(path); err == nil {
			var info rendezvous.Info
			if err := json.Unmarshal(b, &info); err == nil && len(info.Addrs) > 0 {
				if info.Token == "" {
					info.Token = token
				}
				if info.Token == "" {
					return info, fail(jobspec.ExitBadEnv, "%s names no token and %s is not set", jobspec.RendezvousPath, EnvRendezvousToken)
				}
				return info, nil
			}
		}
		if time.Now().After(deadline) {
			return rendezvous.Info{}, fail(jobspec.ExitNodeLost, "node %d: the head node wrote no %s in %s", m.rank, jobspec.RendezvousPath, r.j.HealthTimeout.D())
		}
		select {
		case <-ctx.Done():
			return rendezvous.Info{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lastLinesOf is the last n lines of a process's log on one line, for a
// reason.
func lastLinesOf(path, rel string, n int) string {
	s := lastLines(path, n)
	return strings.Replace(s, jobspec.ScriptLogPath, rel, 1)
}
