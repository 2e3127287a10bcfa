package jobspec

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/topology"
)

// Multi is a multi-node job: its shape, the shape laid out on nodes, and
// the concurrencies the client runs against the one deployment, in
// order. Every node reads the same job file; FLEET_NODE_RANK in its
// environment says which node of the layout it is.
type Multi struct {
	Shape    topology.Shape  `json:"shape"`
	Layout   topology.Layout `json:"layout"`
	ConcList []int           `json:"conc_list"`
}

// NodeRankEnv names the variable that tells a node of a multi-node job
// its rank in the layout (Slurm: SLURM_PROCID; SSH: set per node).
const NodeRankEnv = "FLEET_NODE_RANK"

// RendezvousPath is where the head node of a multi-node job writes where
// its rendezvous listens (and, when it made one, the token), mode 0600.
const RendezvousPath = ".fleet/rendezvous.json"

// ProcessLogPath is where one process of a multi-node job logs, relative
// to the work directory: logs/<role>-<n>.log.
func ProcessLogPath(p topology.Process) string { return "logs/" + p.Name() + ".log" }

// NodeLogPath is where the fleet job of node rank > 0 of a multi-node job
// logs (the head node's goes to the job's own output).
func NodeLogPath(rank int) string { return "logs/node-" + strconv.Itoa(rank) + ".log" }

// NodeGPUMetricsPath is where node rank's GPU monitor writes in a
// multi-node job.
func NodeGPUMetricsPath(rank int) string { return "logs/gpu-" + strconv.Itoa(rank) + ".csv" }

// Endpoint is where one process of a multi-node job listens, as its
// peers reach it.
type Endpoint struct {
	Role   string `json:"role"`
	Worker int    `json:"worker"`
	Rank   int    `json:"rank,omitempty"`
	Node   int    `json:"node"` // node rank in the layout
	Host   string `json:"host"`
	// Port is the process's HTTP port (etcd's client port for infra).
	Port int `json:"port"`
	// BootstrapPort is SGLang's disaggregation bootstrap port, vLLM's
	// NIXL side channel port; NATS's port for infra.
	BootstrapPort int `json:"bootstrap_port,omitempty"`
	// DistPort is a worker leader's distributed-init port, which the
	// other nodes of a worker that spans nodes join.
	DistPort int `json:"dist_port,omitempty"`
}

// Name is the endpoint's process name (topology.Process.Name).
func (e Endpoint) Name() string {
	return topology.Process{Role: e.Role, Worker: e.Worker, Rank: e.Rank}.Name()
}

// Addr is host:port.
func (e Endpoint) Addr() string { return joinHostPort(e.Host, e.Port) }

func joinHostPort(h string, p int) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]:" + strconv.Itoa(p)
	}
	return h + ":" + strconv.Itoa(p)
}

func (m *Multi) validate(bad func(field, format string, args ...any)) {
	if err := m.Shape.Validate(); err != nil {
		bad("multi.shape", "%v", err)
	}
	if err := m.Layout.Validate(); err != nil {
		bad("multi.layout", "%v", err)
	}
	if len(m.ConcList) == 0 {
		bad("multi.conc_list", "empty: want at least one concurrency")
	}
	for _, c := range m.ConcList {
		if c < 1 {
			bad("multi.conc_list", "%d: want at least 1", c)
		}
	}
}

// MaxConc is the largest concurrency of the list: launchers size their
// batches by it.
func (m *Multi) MaxConc() int {
	c := 0
	for _, v := range m.ConcList {
		c = max(c, v)
	}
	return c
}

// ProcessEnv is the launcher's environment for process p of a multi-node
// job (scripts/README.md, "Multi-node jobs"): the job's environment with
// the process's role, parallelism, GPUs, addresses and ports over it.
// self is where p listens; peers are every endpoint registered so far
// (all workers when p is the router; the worker's own leader when p is a
// later rank of a worker that spans nodes; the infra process if any).
func (j *Job) ProcessEnv(p topology.Process, self Endpoint, peers []Endpoint) map[string]string {
	env := j.Env()
	m := j.Multi
	s := m.Shape
	pool := s.Prefill
	if p.Role == topology.RoleDecode {
		pool = s.Decode
	}
	set := func(k string, v any) { env[k] = fmt.Sprint(v) }
	set("ROLE", p.Role)
	set("ROLE_INDEX", p.Worker)
	set("ROLE_NAME", p.Name())
	set("HOST", "0.0.0.0")
	set("NODE_ADDR", self.Host)
	set("NODE_RANK_IN_JOB", self.Node)
	set("PORT", self.Port)
	set("BOOTSTRAP_PORT", self.BootstrapPort)
	set("DIST_PORT", self.DistPort)
	set("DISAGG", s.Disaggregated())
	set("KV_TRANSFER", s.KVTransfer)
	set("ROUTER_POLICY", s.Router.Policy)
	set("CONC", m.MaxConc())
	ints := make([]string, len(m.ConcList))
	for i, c := range m.ConcList {
		ints[i] = strconv.Itoa(c)
	}
	set("CONC_LIST", strings.Join(ints, " "))
	for _, r := range []struct {
		prefix string
		p      topology.Pool
	}{{"PREFILL", s.Prefill}, {"DECODE", s.Decode}} {
		set(r.prefix+"_WORKERS", r.p.Workers)
		set(r.prefix+"_TP", max(r.p.TP, 1))
		set(r.prefix+"_EP", max(r.p.EP, 1))
		set(r.prefix+"_PP", max(r.p.PP, 1))
		set(r.prefix+"_DP_ATTN", r.p.DPAttn)
		set(r.prefix+"_GPUS", r.p.GPUs())
	}
	delete(env, "GPUS")
	delete(env, "CUDA_VISIBLE_DEVICES")
	delete(env, "HIP_VISIBLE_DEVICES")
	if p.Role == topology.RoleRouter || p.Role == topology.RoleInfra {
		set("GPU_COUNT", 0)
		delete(env, "TP")
		delete(env, "EP")
		delete(env, "PP")
		delete(env, "DP_ATTN")
	} else {
		set("TP", max(pool.TP, 1))
		set("EP", max(pool.EP, 1))
		set("PP", max(pool.PP, 1))
		set("DP_ATTN", pool.DPAttn)
		set("GPU_COUNT", len(p.Devices))
		set("WORKER_NODES", max(p.Nodes, 1))
		set("WORKER_RANK", p.Rank)
		if len(p.Devices) > 0 {
			ids := make([]string, len(p.Devices))
			for i, d := range p.Devices {
				ids[i] = strconv.Itoa(d)
			}
			list := strings.Join(ids, ",")
			set("GPUS", list)
			set("CUDA_VISIBLE_DEVICES", list)
			set("HIP_VISIBLE_DEVICES", list)
		}
	}
	lists := map[string][]string{}
	for _, e := range peers {
		switch {
		case e.Role == topology.RoleInfra:
			set("ETCD_ENDPOINTS", "http://"+e.Addr())
			set("NATS_SERVER", "nats://"+joinHostPort(e.Host, e.BootstrapPort))
		case e.Rank > 0:
		case p.Role != topology.RoleRouter && e.Role == p.Role && e.Worker == p.Worker && p.Rank > 0:
			set("WORKER_LEADER", joinHostPort(e.Host, e.DistPort))
		case p.Role == topology.RoleRouter && e.Role != topology.RoleRouter:
			k := strings.ToUpper(e.Role)
			lists[k+"_ENDPOINTS"] = append(lists[k+"_ENDPOINTS"], e.Addr())
			lists[k+"_BOOTSTRAP_PORTS"] = append(lists[k+"_BOOTSTRAP_PORTS"], strconv.Itoa(e.BootstrapPort))
		}
	}
	if p.Rank == 0 && p.Role != topology.RoleRouter && p.Role != topology.RoleInfra {
		set("WORKER_LEADER", joinHostPort(self.Host, self.DistPort))
	}
	for k, v := range lists {
		env[k] = strings.Join(v, " ")
	}
	if p.Role == topology.RoleInfra {
		set("ETCD_PORT", self.Port)
		set("NATS_PORT", self.BootstrapPort)
	}
	return env
}

// MultiResultName is the result file name, without .json, of one
// concurrency of a multi-node job whose base result name is base: the
// client file InferenceX's multi-node jobs write, with the GPUs of the
// whole deployment and of each role (aggregated: no role counts).
func (m *Multi) MultiResultName(base string, conc int) string {
	s := m.Shape
	name := fmt.Sprintf("%s_conc%d_gpus_%d", base, conc, s.GPUs())
	if s.Disaggregated() {
		name += fmt.Sprintf("_ctx_%d_gen_%d", s.PrefillGPUs(), s.DecodeGPUs())
	}
	return name
}
