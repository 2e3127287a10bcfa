package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/config"
)

// multiCandidates sets a multi-node job's candidates: every Slurm cluster
// the runner selects whose gpus_per_node lays the shape out (within
// max_nodes), and the nodes of the first group of selected nodes (one GPU
// type, one GPU count, in inventory order) with as many nodes as the
// layout needs; the engine reserves that many of them when the job
// starts. allowed narrows the machines (--node, --only node= and gpu=):
// a group narrowed below the layout's node count no longer fits. fits
// says whether anything fits before the narrowing; why, when nothing
// does, what the job needs.
func multiCandidates(j *Job, machines []config.Machine, selects, allowed func(config.Machine) bool) (fits bool, why string) {
	var offered, kept []config.Machine
	for _, m := range machines {
		if !selects(m) {
			continue
		}
		offered = append(offered, m)
		if allowed(m) {
			kept = append(kept, m)
		}
	}
	runner := strings.Join(j.Runner, ",")
	if j.InferenceX != nil {
		runner = j.InferenceX.Runner
	}
	if len(offered) == 0 {
		return false, fmt.Sprintf("no machine in the inventory for runner %s", runner)
	}
	if f := config.FitMultiNode(*j.Multi, offered); !f.Fits() {
		return false, fmt.Sprintf("multi-node job of %d GPUs: %s", j.GPUs(), f.Why)
	}
	f := config.FitMultiNode(*j.Multi, kept)
	take := map[string]bool{}
	for _, c := range f.Clusters {
		take[c.Name] = true
	}
	if len(f.Groups) > 0 {
		for _, n := range f.Groups[0] {
			take[n.Name] = true
		}
	}
	for _, m := range kept {
		if take[m.Name] {
			j.Candidates = append(j.Candidates, m.Name)
		}
	}
	return true, ""
}

// assignMulti places a multi-node job on the candidate where it would end
// soonest: on a cluster it takes as many of its lanes (nodes) as the
// layout has nodes; on a group of nodes, the least busy nodes of the
// group, each whole, from when the last of them is free. Ties go to the
// candidate with fewer jobs, then the first.
func assignMulti(p *Placement, j *Job, byName map[string]*lanes) {
	type option struct {
		head  *lanes
		nodes []*lanes // a group's nodes, in rank order
		lanes []int    // a cluster's lanes
		gpus  []int    // GPUs each node of the layout uses
		end   time.Duration
	}
	var best *option
	consider := func(o *option) {
		if best == nil || o.end < best.end || (o.end == best.end && o.head.jobs < best.head.jobs) {
			best = o
		}
	}
	var group []*lanes
	for _, name := range j.Candidates {
		l := byName[name]
		if l.m.Kind == "node" {
			group = append(group, l)
			continue
		}
		lay, err := j.Layout(l.m.GPUs)
		if err != nil {
			continue // multiCandidates laid it out already
		}
		idx, start := l.slotN(min(lay.NodeCount(), len(l.free)))
		consider(&option{head: l, lanes: idx, gpus: nodeGPUs(lay.Nodes), end: addSat(start, estimateOn(j, l.m.GPU))})
	}
	if len(group) > 0 {
		if lay, err := j.Layout(group[0].m.GPUs); err == nil && lay.NodeCount() <= len(group) {
			busy := func(l *lanes) time.Duration { return slices.Max(l.free) }
			order := slices.Clone(group)
			sort.SliceStable(order, func(a, b int) bool { return busy(order[a]) < busy(order[b]) })
			chosen := order[:lay.NodeCount()]
			var start time.Duration
			for _, l := range chosen {
				start = max(start, busy(l))
			}
			// Rank order is inventory order: the plan reads the same
			// whichever nodes were least busy.
			ranked := make([]*lanes, 0, len(chosen))
			for _, l := range group {
				if slices.Contains(chosen, l) {
					ranked = append(ranked, l)
				}
			}
			consider(&option{head: ranked[0], nodes: ranked, gpus: nodeGPUs(lay.Nodes), end: addSat(start, estimateOn(j, ranked[0].m.GPU))})
		}
	}
	if best == nil {
		return // cannot happen: every candidate was laid out once
	}
	j.Node, j.GPU = best.head.m.Name, best.head.m.GPU
	total := 0
	for _, g := range best.gpus {
		total += g
	}
	hours := GPUHours(j)
	if best.nodes == nil {
		for _, i := range best.lanes {
			best.head.free[i] = best.end
		}
		best.head.jobs++
		best.head.gpuH += hours
		return
	}
	names := make([]string, len(best.nodes))
	for i, l := range best.nodes {
		for k := range l.free {
			l.free[k] = best.end
		}
		l.jobs++
		if total > 0 {
			l.gpuH += hours * float64(best.gpus[i]) / float64(total)
		}
		names[i] = l.m.Name
	}
	if p.Groups == nil {
		p.Groups = map[string][]string{}
	}
	p.Groups[j.ID] = names
}
