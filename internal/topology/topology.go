// Package topology is the shape of a multi-node job: its worker pools
// (prefill and decode for disaggregated serving, or one aggregated pool),
// the router in front of them, and how those processes are laid out on
// nodes of a given GPU count. The planner, the job file and the node that
// runs the job all read the one layout computed here.
package topology

import (
	"errors"
	"fmt"
	"strconv"
)

// The roles of a multi-node job's processes.
const (
	RolePrefill = "prefill" // prompt processing; hands its KV cache over
	RoleDecode  = "decode"  // receives KV, runs decode steps, streams tokens
	RoleAgg     = "agg"     // an aggregated worker: prefill and decode in one
	RoleRouter  = "router"  // the OpenAI endpoint the client talks to
	RoleInfra   = "infra"   // discovery and messaging (Dynamo's etcd and NATS)
)

// Pool is one role's workers: how many and how each is parallelised.
type Pool struct {
	Workers int  `json:"workers"`
	TP      int  `json:"tp"`
	EP      int  `json:"ep,omitempty"`
	PP      int  `json:"pp,omitempty"`
	DPAttn  bool `json:"dp_attn,omitempty"`
	// Nodes, when set, is how many nodes the pool must span: a check of
	// the layout (InferenceX's PREFILL_NODES/DECODE_NODES), not a
	// different one.
	Nodes int `json:"nodes,omitempty"`
}

// GPUsPerWorker is tp x pp.
func (p Pool) GPUsPerWorker() int { return max(p.TP, 1) * max(p.PP, 1) }

// GPUs is every GPU of the pool.
func (p Pool) GPUs() int { return p.Workers * p.GPUsPerWorker() }

// Router is the front of the job.
type Router struct {
	// Policy picks a worker for a request: round_robin (the default),
	// random, or session (requests of one conversation go to one worker).
	Policy string `json:"policy,omitempty"`
}

// Shape is a multi-node job: a prefill pool, a decode pool (no workers:
// the prefill pool is an aggregated one), a router, and how KV moves
// between the pools.
type Shape struct {
	Prefill Pool   `json:"prefill"`
	Decode  Pool   `json:"decode"`
	Router  Router `json:"router"`
	// KVTransfer is the KV transfer engine (nixl, mooncake, mori, ucx);
	// disaggregated shapes only.
	KVTransfer string `json:"kv_transfer,omitempty"`
	// Infra adds a discovery process (etcd and NATS) on the first node,
	// started before the workers: Dynamo's frameworks need it.
	Infra bool `json:"infra,omitempty"`
}

// Disaggregated says whether prefill and decode run on separate workers.
func (s Shape) Disaggregated() bool { return s.Decode.Workers > 0 }

// GPUs is every GPU the job holds: all workers of both pools.
func (s Shape) GPUs() int { return s.Prefill.GPUs() + s.Decode.GPUs() }

// PrefillGPUs and DecodeGPUs are the GPUs of each role, as InferenceX's
// per-GPU throughputs count them: an aggregated shape has no decode GPUs.
func (s Shape) PrefillGPUs() int { return s.Prefill.GPUs() }

// DecodeGPUs is the decode pool's GPUs (0 when aggregated).
func (s Shape) DecodeGPUs() int { return s.Decode.GPUs() }

// FirstRole is the role of the first pool: prefill, or agg when the shape
// is aggregated.
func (s Shape) FirstRole() string {
	if s.Disaggregated() {
		return RolePrefill
	}
	return RoleAgg
}

// Validate checks the shape, naming each bad field.
func (s Shape) Validate() error {
	var errs []error
	pool := func(name string, p Pool, minWorkers int) {
		if p.Workers < minWorkers {
			errs = append(errs, fmt.Errorf("%s.workers: %d: want at least %d", name, p.Workers, minWorkers))
		}
		if p.Workers > 0 && p.TP < 1 {
			errs = append(errs, fmt.Errorf("%s.tp: %d: want at least 1", name, p.TP))
		}
		if p.EP < 0 || p.PP < 0 || p.Nodes < 0 {
			errs = append(errs, fmt.Errorf("%s: ep, pp and nodes want 0 or more", name))
		}
		if p.Workers > 1024 || p.TP > 1024 || p.PP > 1024 {
			errs = append(errs, fmt.Errorf("%s: more than 1024 workers or ranks", name))
		}
	}
	pool(RolePrefill, s.Prefill, 1)
	pool(RoleDecode, s.Decode, 0)
	switch s.Router.Policy {
	case "", "round_robin", "random", "session":
	default:
		errs = append(errs, fmt.Errorf("router.policy: %q: want round_robin, random or session", s.Router.Policy))
	}
	if !s.Disaggregated() && s.KVTransfer != "" {
		errs = append(errs, fmt.Errorf("kv_transfer: %q: an aggregated shape (decode.workers = 0) moves no KV", s.KVTransfer))
	}
	return errors.Join(errs...)
}

// Process is one process of the job on one node.
type Process struct {
	Role   string `json:"role"`
	Worker int    `json:"worker"`         // index within its role
	Rank   int    `json:"rank,omitempty"` // rank within a worker that spans nodes; 0 leads
	// Nodes is how many nodes the worker spans (1 when it fits in one).
	Nodes   int   `json:"nodes,omitempty"`
	Devices []int `json:"devices,omitempty"` // GPU indices on its node
}

// Name names the process in logs and reasons: prefill-0, decode-1,
// router-0, and prefill-0-node1 for the second node of a worker that
// spans nodes.
func (p Process) Name() string {
	n := p.Role + "-" + strconv.Itoa(p.Worker)
	if p.Rank > 0 {
		n += "-node" + strconv.Itoa(p.Rank)
	}
	return n
}

// Leads says whether the process serves its worker's HTTP endpoint: a
// worker's first rank, the router, the infra process.
func (p Process) Leads() bool { return p.Rank == 0 }

// Node is one node of the layout with what runs on it.
type Node struct {
	Rank      int       `json:"rank"`
	GPUs      int       `json:"gpus"` // GPUs its processes use
	Processes []Process `json:"processes"`
}

// Layout is the shape placed on nodes of GPUsPerNode GPUs. Node 0 is the
// head: it also runs the router (and infra), and its fleet job runs the
// client.
type Layout struct {
	GPUsPerNode int    `json:"gpus_per_node"`
	Nodes       []Node `json:"nodes"`
}

// NodeCount is how many nodes the layout needs.
func (l Layout) NodeCount() int { return len(l.Nodes) }

// Processes lists every process, node by node.
func (l Layout) Processes() []Process {
	var out []Process
	for _, n := range l.Nodes {
		out = append(out, n.Processes...)
	}
	return out
}

// MaxNodes bounds a layout: past this a shape is a typo, not a cluster.
const MaxNodes = 4096

// Place lays s out on nodes of gpusPerNode GPUs, as InferenceX's Slurm
// launchers do: the first pool's workers first, then the decode pool's,
// each pool starting on a fresh node; a worker needing a node or more
// takes whole nodes (a multiple of them), a smaller one takes the next
// free GPUs of the pool's current node. The router (and infra) run on
// node 0.
func Place(s Shape, gpusPerNode int) (Layout, error) {
	if err := s.Validate(); err != nil {
		return Layout{}, err
	}
	if gpusPerNode < 1 {
		return Layout{}, fmt.Errorf("place on nodes of %d GPUs: want at least 1 GPU per node", gpusPerNode)
	}
	l := Layout{GPUsPerNode: gpusPerNode}
	placePool := func(role string, p Pool) error {
		if p.Workers == 0 {
			return nil
		}
		g := p.GPUsPerWorker()
		first := len(l.Nodes)
		if g >= gpusPerNode {
			if g%gpusPerNode != 0 {
				return fmt.Errorf("%s: a worker of %d GPUs (tp %d x pp %d) does not fill whole nodes of %d GPUs", role, g, max(p.TP, 1), max(p.PP, 1), gpusPerNode)
			}
			span := g / gpusPerNode
			if len(l.Nodes)+p.Workers*span > MaxNodes {
				return fmt.Errorf("%s: %d workers of %d nodes each: more than %d nodes", role, p.Workers, span, MaxNodes)
			}
			for w := 0; w < p.Workers; w++ {
				for r := 0; r < span; r++ {
					l.Nodes = append(l.Nodes, Node{Rank: len(l.Nodes), GPUs: gpusPerNode, Processes: []Process{{
						Role: role, Worker: w, Rank: r, Nodes: span, Devices: seq(0, gpusPerNode)}}})
				}
			}
		} else {
			perNode := gpusPerNode / g
			need := (p.Workers + perNode - 1) / perNode
			if len(l.Nodes)+need > MaxNodes {
				return fmt.Errorf("%s: %d workers need more than %d nodes", role, p.Workers, MaxNodes)
			}
			for w := 0; w < p.Workers; w++ {
				slot := w % perNode
				if slot == 0 {
					l.Nodes = append(l.Nodes, Node{Rank: len(l.Nodes)})
				}
				n := &l.Nodes[len(l.Nodes)-1]
				n.GPUs += g
				n.Processes = append(n.Processes, Process{Role: role, Worker: w, Nodes: 1, Devices: seq(slot*g, g)})
			}
		}
		if used := len(l.Nodes) - first; p.Nodes > 0 && p.Nodes != used {
			return fmt.Errorf("%s.nodes: %d, but %d workers of %d GPUs on nodes of %d GPUs take %d", role, p.Nodes, p.Workers, g, gpusPerNode, used)
		}
		return nil
	}
	if err := placePool(s.FirstRole(), s.Prefill); err != nil {
		return Layout{}, err
	}
	if err := placePool(RoleDecode, s.Decode); err != nil {
		return Layout{}, err
	}
	head := []Process{{Role: RoleRouter}}
	if s.Infra {
		head = append([]Process{{Role: RoleInfra}}, head...)
	}
	l.Nodes[0].Processes = append(head, l.Nodes[0].Processes...)
	return l, nil
}

func seq(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

// Validate checks a layout read from a job file: ranks in order, every
// device on its node, one router.
func (l Layout) Validate() error {
	if l.GPUsPerNode < 1 {
		return fmt.Errorf("gpus_per_node: %d: want at least 1", l.GPUsPerNode)
	}
	if len(l.Nodes) == 0 || len(l.Nodes) > MaxNodes {
		return fmt.Errorf("nodes: %d: want 1..%d", len(l.Nodes), MaxNodes)
	}
	routers := 0
	for i, n := range l.Nodes {
		if n.Rank != i {
			return fmt.Errorf("nodes[%d].rank: %d: want %d", i, n.Rank, i)
		}
		for _, p := range n.Processes {
			switch p.Role {
			case RolePrefill, RoleDecode, RoleAgg, RoleInfra:
			case RoleRouter:
				routers++
				if i != 0 {
					return fmt.Errorf("nodes[%d]: the router runs on node 0", i)
				}
			default:
				return fmt.Errorf("nodes[%d]: role %q: want prefill, decode, agg, router or infra", i, p.Role)
			}
			for _, d := range p.Devices {
				if d < 0 || d >= l.GPUsPerNode {
					return fmt.Errorf("nodes[%d] %s: device %d: want 0..%d", i, p.Name(), d, l.GPUsPerNode-1)
				}
			}
		}
	}
	if routers != 1 {
		return fmt.Errorf("layout has %d routers: want 1", routers)
	}
	return nil
}
