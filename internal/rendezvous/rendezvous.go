// Package rendezvous is how the nodes of one multi-node job find each
// other: the head node (rank 0) serves a small authenticated HTTP API on
// a free port; every node registers where its processes listen, polls
// the job's state (each poll is also its heartbeat), and reports a
// process that died. The head learns from the polls which nodes are
// alive, and every node learns the others' addresses and ports from it:
// nothing is guessed, and no port is fixed in advance.
//
// The API is private to one job: a random bearer token, written only to
// files of mode 0600 and environments, guards it; bodies are bounded.
package rendezvous

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
)

// The job's phases, as every node sees them.
const (
	PhaseStarting = "starting" // nodes start and register their processes
	PhaseRunning  = "running"  // every worker is healthy; the client runs
	PhaseDone     = "done"     // the client finished: stop everything
	PhaseFailed   = "failed"   // something failed: stop everything
)

// maxBody bounds what either side reads from the other.
const maxBody = 1 << 20

// State is the job as the head node sees it.
type State struct {
	Phase     string             `json:"phase"`
	Reason    string             `json:"reason,omitempty"`
	Endpoints []jobspec.Endpoint `json:"endpoints"`
	// Joined lists the node ranks that have registered.
	Joined []int `json:"joined"`
}

// Registration is one node's processes.
type Registration struct {
	Node      int                `json:"node"`
	Endpoints []jobspec.Endpoint `json:"endpoints"`
}

// Failure is a process (or a node) that failed.
type Failure struct {
	Node    int    `json:"node"`
	Process string `json:"process"` // topology.Process.Name, or "" for the node itself
	Reason  string `json:"reason"`
	Code    int    `json:"code"` // the exit code the job should end with
}

// Info is what the rendezvous file (jobspec.RendezvousPath) holds.
type Info struct {
	// Addrs are host:port candidates for the head's API, in the order to
	// try them.
	Addrs []string `json:"addrs"`
	// Token is set when the head made it; a token given to the nodes in
	// their environment (FLEET_RENDEZVOUS_TOKEN) is never written here.
	Token string `json:"token,omitempty"`
}

// NewToken returns a fresh random token.
func NewToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("rendezvous token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Server is the head node's side.
type Server struct {
	token string
	nodes int

	mu        sync.Mutex
	phase     string
	reason    string
	endpoints map[string]jobspec.Endpoint // by process name
	joined    map[int]bool
	seen      map[int]time.Time // last request of each node
	local     map[int]string    // the head's address as each node reached it
	failures  chan Failure
	changed   chan struct{} // closed and replaced on every change
	now       func() time.Time
}

// NewServer returns the head's rendezvous for a job of nodes nodes.
func NewServer(token string, nodes int) *Server {
	return &Server{token: token, nodes: nodes, phase: PhaseStarting,
		endpoints: map[string]jobspec.Endpoint{}, joined: map[int]bool{}, seen: map[int]time.Time{},
		local: map[int]string{}, failures: make(chan Failure, 64), changed: make(chan struct{}), now: time.Now}
}

// Failures delivers failures the nodes report.
func (s *Server) Failures() <-chan Failure { return s.failures }

// Serve answers on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Register records the processes of a node (the head registers its own
// this way).
func (s *Server) Register(r Registration) error {
	if r.Node < 0 || r.Node >= s.nodes {
		return fmt.Errorf("node %d: want 0..%d", r.Node, s.nodes-1)
	}
	if len(r.Endpoints) > 4096 {
		return fmt.Errorf("node %d registers %d processes", r.Node, len(r.Endpoints))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range r.Endpoints {
		e.Node = r.Node
		s.endpoints[e.Name()] = e
	}
	s.joined[r.Node] = true
	s.seen[r.Node] = s.now()
	s.notify()
	return nil
}

// SetPhase moves the job on; a failure's reason is kept (the first one).
func (s *Server) SetPhase(phase, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase == PhaseFailed || s.phase == PhaseDone {
		return
	}
	s.phase, s.reason = phase, reason
	s.notify()
}

// State returns the job's state now, and a channel closed at its next
// change.
func (s *Server) State() (State, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Phase: s.phase, Reason: s.reason}
	for _, e := range s.endpoints {
		st.Endpoints = append(st.Endpoints, e)
	}
	sort.Slice(st.Endpoints, func(a, b int) bool {
		x, y := st.Endpoints[a], st.Endpoints[b]
		if x.Node != y.Node {
			return x.Node < y.Node
		}
		return x.Name() < y.Name()
	})
	for n := range s.joined {
		st.Joined = append(st.Joined, n)
	}
	sort.Ints(st.Joined)
	return st, s.changed
}

// Silent lists the nodes other than the head that joined but sent
// nothing for longer than lost, and, once joinBy has passed, those that
// never joined.
func (s *Server) Silent(lost time.Duration, joinBy time.Time) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []int
	for n := 1; n < s.nodes; n++ {
		last, ok := s.seen[n]
		if (ok && now.Sub(last) > lost) || (!ok && now.After(joinBy)) {
			out = append(out, n)
		}
	}
	return out
}

// HeadAddr is the head's address as the first node that reached it saw
// it (the address the others route to), once one has.
func (s *Server) HeadAddr() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := 1; n < s.nodes; n++ {
		if a, ok := s.local[n]; ok {
			return a, true
		}
	}
	return "", false
}

// ServeHTTP is the API: POST /v1/register, GET /v1/state?node=N, POST
// /v1/fail.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	node, err := strconv.Atoi(r.URL.Query().Get("node"))
	if err != nil || node < 0 || node >= s.nodes {
		http.Error(w, "node: want 0.."+strconv.Itoa(s.nodes-1), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.seen[node] = s.now()
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, _, err := net.SplitHostPort(a.String()); err == nil {
			s.local[node] = host
		}
	}
	s.mu.Unlock()
	body := func(v any) bool {
		dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
		if err := dec.Decode(v); err != nil {
			http.Error(w, "bad body: "+err.Error(), http.StatusBadRequest)
			return false
		}
		return true
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/state":
		st, _ := s.State()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/register":
		var reg Registration
		if !body(&reg) {
			return
		}
		reg.Node = node
		// A node's processes listen on the address its request came
		// from unless it says otherwise.
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			for i := range reg.Endpoints {
				if reg.Endpoints[i].Host == "" {
					reg.Endpoints[i].Host = host
				}
			}
		}
		if err := s.Register(reg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/fail":
		var f Failure
		if !body(&f) {
			return
		}
		f.Node = node
		if len(f.Reason) > 2048 {
			f.Reason = f.Reason[:2048]
		}
		select {
		case s.failures <- f:
		default: // the head already has failures to act on
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// Client is a node's side.
type Client struct {
	node  int
	token string
	addr  string // the head's API, host:port
	local string // this node's address as the head sees it
	http  *http.Client
}

// Dial finds the head among addrs (trying each in turn until one answers
// or ctx ends) and returns a client for node.
func Dial(ctx context.Context, addrs []string, token string, node int) (*Client, error) {
	if len(addrs) == 0 {
		return nil, errors.New("rendezvous: no address of the head node")
	}
	var last error
	for {
		for _, a := range addrs {
			d := net.Dialer{Timeout: 2 * time.Second}
			conn, err := d.DialContext(ctx, "tcp", a)
			if err != nil {
				last = err
				continue
			}
			local, _, _ := net.SplitHostPort(conn.LocalAddr().String())
			conn.Close()
			c := &Client{node: node, token: token, addr: a, local: local,
				http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 3 * time.Second}).DialContext}}}
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("rendezvous: no answer from the head node at %s: %w", strings.Join(addrs, ", "), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// LocalAddr is this node's address on the route to the head: where the
// other nodes reach its processes.
func (c *Client) LocalAddr() string { return c.local }

// HeadHost is the head's host as this node reaches it.
func (c *Client) HeadHost() string {
	h, _, _ := net.SplitHostPort(c.addr)
	return h
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addr+path+"?node="+strconv.Itoa(c.node), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("rendezvous %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("rendezvous %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("rendezvous %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Register records this node's processes.
func (c *Client) Register(ctx context.Context, eps []jobspec.Endpoint) error {
	return c.do(ctx, http.MethodPost, "/v1/register", Registration{Node: c.node, Endpoints: eps}, nil)
}

// State polls the job's state; it is also the node's heartbeat.
func (c *Client) State(ctx context.Context) (State, error) {
	var st State
	err := c.do(ctx, http.MethodGet, "/v1/state", nil, &st)
	return st, err
}

// Fail reports a failure of this node's.
func (c *Client) Fail(ctx context.Context, f Failure) error {
	return c.do(ctx, http.MethodPost, "/v1/fail", f, nil)
}

// Close releases the client's connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// LocalAddrs lists this machine's addresses other nodes may reach it on:
// every up, non-loopback interface's unicast addresses, IPv4 first.
func LocalAddrs() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || !ipn.IP.IsGlobalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				v4 = append(v4, ipn.IP.String())
			} else {
				v6 = append(v6, ipn.IP.String())
			}
		}
	}
	return append(v4, v6...)
}
