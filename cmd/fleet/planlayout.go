package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/topology"
)

// planLayout is a placed multi-node job's layout on the machine the plan
// chose, with the nodes planned for it when that is a group of nodes
// (Machines[i] is node i; a cluster's nodes are Slurm's to choose).
type planLayout struct {
	topology.Layout
	Machines []string `json:"machines,omitempty"`
}

// jobLayout lays a placed multi-node job out on its machine's GPUs per
// node; nil for a single-node job or one the plan holds no machine for.
func jobLayout(inv *config.Inventory, p *plan.Placement, j *plan.Job) *planLayout {
	if j.Multi == nil {
		return nil
	}
	m, ok := inv.Machine(j.Node)
	if !ok {
		return nil
	}
	l, err := j.Layout(m.GPUs)
	if err != nil {
		return nil // placement laid it out on this machine already
	}
	return &planLayout{Layout: l, Machines: p.Groups[j.ID]}
}

// layoutLines describes a layout under its job's line: what the job
// holds, then one line per node with its processes and their GPUs.
//
//	2 nodes of 8 GPUs, 2 GPUs in use: 1 prefill worker of tp 1, 1 decode worker of tp 1; KV over nixl; router round_robin
//	  node 0 sim-1: router-0, prefill-0 [GPU 0]
//	  node 1 sim-2: decode-0 [GPU 0]
func layoutLines(s *topology.Shape, l *planLayout) []string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s of %s, %s in use: ", plural(l.NodeCount(), "node"), plural(l.GPUsPerNode, "GPU"), plural(s.GPUs(), "GPU"))
	pool := func(role string, p topology.Pool) string {
		if role == topology.RoleAgg {
			role = "aggregated"
		}
		w := plural(p.Workers, role+" worker")
		desc := fmt.Sprintf("%s of tp %d", w, p.TP)
		if p.PP > 1 {
			desc += fmt.Sprintf(" x pp %d", p.PP)
		}
		if p.EP > 1 {
			desc += fmt.Sprintf(", ep %d", p.EP)
		}
		if p.DPAttn {
			desc += ", dp-attention"
		}
		return desc
	}
	b.WriteString(pool(s.FirstRole(), s.Prefill))
	if s.Disaggregated() {
		b.WriteString("; " + pool(topology.RoleDecode, s.Decode))
	}
	if s.KVTransfer != "" {
		b.WriteString("; KV over " + s.KVTransfer)
	}
	policy := s.Router.Policy
	if policy == "" {
		policy = "round_robin"
	}
	b.WriteString("; router " + policy)
	lines := []string{b.String()}
	for _, n := range l.Nodes {
		head := "    node " + strconv.Itoa(n.Rank)
		if n.Rank < len(l.Machines) {
			head += " " + l.Machines[n.Rank]
		}
		procs := make([]string, len(n.Processes))
		for i, pr := range n.Processes {
			procs[i] = pr.Name()
			if len(pr.Devices) > 0 {
				procs[i] += " [" + devices(pr.Devices) + "]"
			}
		}
		lines = append(lines, head+": "+strings.Join(procs, ", "))
	}
	return lines
}

// devices names a process's GPUs: GPU 3, GPU 0-7, or GPUs 0,2,5.
func devices(ds []int) string {
	contiguous := true
	for i := 1; i < len(ds); i++ {
		if ds[i] != ds[i-1]+1 {
			contiguous = false
		}
	}
	switch {
	case len(ds) == 1:
		return "GPU " + strconv.Itoa(ds[0])
	case contiguous:
		return fmt.Sprintf("GPU %d-%d", ds[0], ds[len(ds)-1])
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = strconv.Itoa(d)
	}
	return "GPUs " + strings.Join(parts, ",")
}

// concColumn is a job's concurrency as the plan shows it: a multi-node
// job's whole list, 4x8x16, as its id and result name write it.
func concColumn(j *plan.Job) string {
	if j.Multi == nil || len(j.ConcList) == 0 {
		return strconv.Itoa(j.Conc)
	}
	parts := make([]string, len(j.ConcList))
	for i, c := range j.ConcList {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, "x")
}
