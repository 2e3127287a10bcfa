package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/config"
)

// Options narrow a placement.
type Options struct {
	Node string  // --node: run only on this machine; jobs that do not fit it are skipped
	Only Filters // --only: the gpu and node keys narrow candidates, the rest select jobs
}

// Placement is where each job runs and how long the sweep should take.
type Placement struct {
	Jobs    []*Job // placed jobs, in expansion order; Node and Candidates set
	Skipped []*Job // jobs left out by the filters or the --node pin
	// Unplaced holds the InferenceX jobs fleet cannot run here, each with
	// its reason (Job.Why): no machine of the runner label's kind, or a
	// kind of job fleet does not run yet. A checkout's matrix covers
	// every GPU InferenceX has; an inventory has some of them, so these
	// are reported, not an error.
	Unplaced []*Job
	// Groups holds, by job id, the nodes planned for each multi-node job
	// placed on a group of nodes, in the layout's node order (its Node is
	// the first): an estimate, since the engine reserves a group's nodes
	// when the job starts.
	Groups   map[string][]string
	Machines []MachineLoad // every machine with at least one job, in inventory order
	Makespan time.Duration // estimated duration: machines in parallel, jobs on one lane in sequence
	GPUHours float64       // estimated GPU time of every placed job
}

// MachineLoad is the share of one machine.
type MachineLoad struct {
	Name     string        `json:"node"`
	Kind     string        `json:"kind"`
	GPU      string        `json:"gpu"`
	Jobs     int           `json:"jobs"`
	Busy     time.Duration `json:"-"` // when its last job should end
	GPUHours float64       `json:"gpu_hours"`
}

// ErrUnplaceable is returned (wrapped) when some job fits no machine.
var ErrUnplaceable = errors.New("jobs fit no machine")

// Place finds each job's candidates (every machine whose name, GPU type or
// label a runner entry names, with enough GPUs for tp × pp), applies the
// filters and the --node pin, and assigns each job to one candidate so the
// estimated makespan stays small: longest jobs first, each to the
// candidate where it would end soonest (ties: fewer jobs, then inventory
// order). The assignment is static and deterministic; an engine may still
// move a job to another of its candidates at run time.
//
// Machine lanes: a node runs one job at a time (with packing, jobs on
// disjoint GPUs at once); a cluster runs up to max_nodes jobs at once.
func Place(jobs []*Job, inv *config.Inventory, opts Options) (*Placement, error) {
	machines := inv.Machines()
	if opts.Node != "" {
		if _, ok := inv.Machine(opts.Node); !ok {
			var names []string
			for _, m := range machines {
				names = append(names, m.Name)
			}
			return nil, fmt.Errorf("--node %s: no node or cluster with GPUs has that name; machines: %s", opts.Node, strings.Join(names, ", "))
		}
	}
	p := &Placement{}
	var unplaceable []*Job
	narrowed := opts.Node != "" || opts.Only.globs["node"] != nil || opts.Only.globs["gpu"] != nil
	for _, j := range jobs {
		j.Node, j.Candidates = "", nil
		if !opts.Only.jobKeysMatch(j) {
			p.Skipped = append(p.Skipped, j)
			continue
		}
		if ok, why := IXRunnable(j); !ok {
			j.Why = why
			p.Unplaced = append(p.Unplaced, j)
			continue
		}
		selects := func(m config.Machine) bool { return runnerSelects(j.Runner, m) }
		if j.InferenceX != nil {
			selects = ixRunnerSelects(j.InferenceX.Runner, machines)
		}
		if j.Multi != nil {
			pinned := func(m config.Machine) bool {
				return (opts.Node == "" || m.Name == opts.Node) && opts.Only.matchMachine(m.Name, m.GPU)
			}
			switch fits, why := multiCandidates(j, machines, selects, pinned); {
			case len(j.Candidates) > 0:
				p.Jobs = append(p.Jobs, j)
			case fits && narrowed:
				p.Skipped = append(p.Skipped, j)
			default:
				j.Why = why
				p.Unplaced = append(p.Unplaced, j)
			}
			continue
		}
		fits, kind := false, false
		for _, m := range machines {
			if !selects(m) {
				continue
			}
			kind = true
			if m.GPUs < j.GPUs() {
				continue
			}
			fits = true
			if opts.Node != "" && m.Name != opts.Node || !opts.Only.matchMachine(m.Name, m.GPU) {
				continue
			}
			j.Candidates = append(j.Candidates, m.Name)
		}
		switch {
		case len(j.Candidates) > 0:
			p.Jobs = append(p.Jobs, j)
		case fits && narrowed:
			p.Skipped = append(p.Skipped, j)
		case j.InferenceX != nil:
			j.Why = fmt.Sprintf("no machine in the inventory for runner %s (by label, then GPU type)", j.InferenceX.Runner)
			if kind {
				j.Why = fmt.Sprintf("no machine for runner %s has %d GPUs", j.InferenceX.Runner, j.GPUs())
			}
			p.Unplaced = append(p.Unplaced, j)
		default:
			unplaceable = append(unplaceable, j)
		}
	}
	if len(unplaceable) > 0 {
		ids := make([]string, 0, 5)
		for i, j := range unplaceable {
			if i == 5 {
				ids = append(ids, fmt.Sprintf("and %d more", len(unplaceable)-5))
				break
			}
			ids = append(ids, fmt.Sprintf("%s (runner %s, %d GPUs)", j.ID, strings.Join(j.Runner, ","), j.GPUs()))
		}
		return nil, fmt.Errorf("place %d jobs: %w: %s", len(unplaceable), ErrUnplaceable, strings.Join(ids, "; "))
	}
	assign(p, machines)
	return p, nil
}

func runnerSelects(runner []string, m config.Machine) bool {
	for _, r := range runner {
		if m.Matches(r) {
			return true
		}
	}
	return false
}

// lanes model what runs at once on one machine.
type lanes struct {
	m    config.Machine
	free []time.Duration // when each lane (GPU with packing, node of a cluster) is next free
	jobs int
	gpuH float64
}

func newLanes(m config.Machine) *lanes {
	n := m.Slots
	if m.Kind == "node" && m.Packing {
		n = m.GPUs
	}
	return &lanes{m: m, free: make([]time.Duration, max(n, 1))}
}

// width is how many lanes a job takes: its GPUs on a packing node, one
// otherwise.
func (l *lanes) width(j *Job) int {
	if l.m.Kind == "node" && l.m.Packing {
		return min(j.GPUs(), len(l.free))
	}
	return 1
}

// slot returns the lanes a job would take and when it would start: the
// least busy ones, starting when the last of them is free.
func (l *lanes) slot(j *Job) ([]int, time.Duration) {
	return l.slotN(l.width(j))
}

// slotN is slot for a job n lanes wide.
func (l *lanes) slotN(n int) ([]int, time.Duration) {
	if n == 1 {
		// The common case, without sorting every lane of a large
		// cluster for every job.
		best := 0
		for i, f := range l.free {
			if f < l.free[best] {
				best = i
			}
		}
		return []int{best}, l.free[best]
	}
	idx := make([]int, len(l.free))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return l.free[idx[a]] < l.free[idx[b]] })
	idx = idx[:n]
	var start time.Duration
	for _, i := range idx {
		start = max(start, l.free[i])
	}
	return idx, start
}

func assign(p *Placement, machines []config.Machine) {
	byName := map[string]*lanes{}
	order := map[string]int{}
	for i, m := range machines {
		byName[m.Name] = newLanes(m)
		order[m.Name] = i
	}
	est := make(map[*Job]time.Duration, len(p.Jobs))
	queue := make([]*Job, len(p.Jobs))
	copy(queue, p.Jobs)
	for _, j := range queue {
		est[j] = Estimate(j)
	}
	sort.SliceStable(queue, func(a, b int) bool { return est[queue[a]] > est[queue[b]] })
	for _, j := range queue {
		if j.Multi != nil {
			assignMulti(p, j, byName)
			continue
		}
		var best *lanes
		var bestLanes []int
		var bestEnd time.Duration
		for _, name := range j.Candidates {
			l := byName[name]
			// Estimates are per GPU type; a job's duration depends on
			// which machine it lands on.
			d := estimateOn(j, l.m.GPU)
			idx, start := l.slot(j)
			end := addSat(start, d)
			if best == nil || end < bestEnd || (end == bestEnd && l.jobs < best.jobs) {
				best, bestLanes, bestEnd = l, idx, end
			}
		}
		for _, i := range bestLanes {
			best.free[i] = bestEnd
		}
		best.jobs++
		j.Node = best.m.Name
		j.GPU = best.m.GPU
		best.gpuH += GPUHours(j)
	}
	for _, m := range machines {
		l := byName[m.Name]
		if l.jobs == 0 {
			continue
		}
		var busy time.Duration
		for _, f := range l.free {
			busy = max(busy, f)
		}
		p.Machines = append(p.Machines, MachineLoad{Name: m.Name, Kind: m.Kind, GPU: m.GPU, Jobs: l.jobs, Busy: busy, GPUHours: l.gpuH})
		p.Makespan = max(p.Makespan, busy)
		p.GPUHours += l.gpuH
	}
}
