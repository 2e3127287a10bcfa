package engine

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/target/group"
	"github.com/fleetbench/fleet/internal/topology"
)

// hold is what one attempt took of one machine.
type hold struct {
	ms   *machineState
	slot slot
}

// placement is where an attempt runs: one machine (a node, or a Slurm
// cluster, which allocates a multi-node job's nodes itself), or a group
// of nodes reserved together for a multi-node job.
type placement struct {
	m     *machine.Machine
	holds []hold
}

// place finds where js can start now among the machines that allow it
// the units it would take of them (packing.go), and takes it; nil when
// nothing fits now.
func (e *Engine) place(machines map[string]*machineState, js *jobState, allow func(*machineState, int) bool) *placement {
	if js.job.Multi != nil {
		if js.reattach != nil && len(group.Names(js.reattach.Target)) > 1 {
			return e.takeGroup(machines, js, group.Names(js.reattach.Target))
		}
		if pl := placeAllowed(e.pickCluster(machines, js), allow); pl != nil {
			return pl
		}
		return placeAllowed(e.pickGroup(machines, js), allow)
	}
	ms := e.pickFit(machines, js, allow)
	if ms == nil {
		return nil
	}
	return &placement{m: ms.m, holds: []hold{{ms, ms.take(js.job)}}}
}

// layout is js laid out on nodes of gpus GPUs.
func layout(j *plan.Job, gpus int) (topology.Layout, error) {
	return topology.Place(*j.Multi, gpus)
}

// pickCluster places a multi-node job on a Slurm cluster among its
// candidates whose nodes lay it out: one allocation of all its nodes.
//
// A cluster's max_nodes bounds the nodes its jobs hold at once: a job of
// n nodes takes n of them.
func (e *Engine) pickCluster(machines map[string]*machineState, js *jobState) *placement {
	take := func(ms *machineState) *placement {
		if ms == nil || !ms.m.Cluster || ms.aside {
			return nil
		}
		l, err := layout(js.job, ms.m.GPUs)
		if err != nil || ms.running+l.NodeCount() > ms.m.Capacity() {
			return nil
		}
		s := ms.take(js.job)
		ms.running += l.NodeCount() - 1
		s.weight = l.NodeCount()
		return &placement{m: ms.m, holds: []hold{{ms, s}}}
	}
	if js.reattach != nil {
		return take(machines[js.reattach.Target])
	}
	for _, name := range e.candidates(js) {
		if pl := take(machines[name]); pl != nil {
			return pl
		}
	}
	return nil
}

// idleNode: a node (not a cluster) with nothing running and not set
// aside; a node of a group is the job's alone.
func idleNode(ms *machineState) bool {
	return ms != nil && !ms.m.Cluster && !ms.aside && ms.running == 0
}

// pickGroup reserves, all at once or not at all, as many idle nodes of
// one GPU count among js's candidates as its layout needs there. Taking
// all or nothing in the one scheduling loop means no job ever holds part
// of a group while it waits for the rest, so two multi-node jobs cannot
// deadlock on each other's nodes.
func (e *Engine) pickGroup(machines map[string]*machineState, js *jobState) *placement {
	byGPUs := map[int][]string{}
	var counts []int
	for _, name := range e.candidates(js) {
		ms := machines[name]
		if !idleNode(ms) {
			continue
		}
		if _, ok := byGPUs[ms.m.GPUs]; !ok {
			counts = append(counts, ms.m.GPUs)
		}
		byGPUs[ms.m.GPUs] = append(byGPUs[ms.m.GPUs], name)
	}
	for _, g := range counts {
		l, err := layout(js.job, g)
		if err != nil {
			continue
		}
		names := byGPUs[g]
		if l.NodeCount() == 1 {
			// Every process fits one node: that node, whole, alone.
			ms := machines[names[0]]
			s := slot{weight: ms.m.Capacity(), port: 8000}
			ms.running += s.weight
			return &placement{m: ms.m, holds: []hold{{ms, s}}}
		}
		if len(names) < l.NodeCount() {
			continue
		}
		// The nodes of the group where the last attempt failed go last.
		if js.lastNode != "" && len(names) > l.NodeCount() {
			last := group.Names(js.lastNode)
			var fresh, used []string
			for _, n := range names {
				if slices.Contains(last, n) {
					used = append(used, n)
				} else {
					fresh = append(fresh, n)
				}
			}
			names = append(fresh, used...)
		}
		return e.takeGroup(machines, js, names[:l.NodeCount()])
	}
	return nil
}

// takeGroup takes every node of names whole and makes them one machine.
func (e *Engine) takeGroup(machines map[string]*machineState, js *jobState, names []string) *placement {
	var mss []*machineState
	for _, n := range names {
		ms := machines[n]
		if !idleNode(ms) {
			return nil
		}
		mss = append(mss, ms)
	}
	pl := &placement{}
	members := make([]group.Member, len(mss))
	for i, ms := range mss {
		s := slot{weight: ms.m.Capacity(), port: 8000}
		ms.running += s.weight
		pl.holds = append(pl.holds, hold{ms, s})
		members[i] = group.Member{Name: ms.m.Name, Target: ms.m.Target, Env: ms.m.Env, Secrets: ms.m.Secrets}
	}
	g, err := group.New(members, group.Options{RendezvousWait: e.opts.Timeouts.ServerStart, Command: jobCommand()})
	if err != nil {
		for _, h := range pl.holds {
			h.ms.release(h.slot)
		}
		return nil
	}
	head := mss[0].m
	pl.m = &machine.Machine{Name: g.Name(), GPU: head.GPU, GPUs: head.GPUs, Runtime: head.Runtime, HFCache: head.HFCache,
		Env: maps.Clone(head.Env), Secrets: maps.Clone(head.Secrets), Target: g}
	return pl
}

// groupPlaceable reports whether some cluster, or enough nodes not set
// aside, could still take a multi-node job.
func (e *Engine) groupPlaceable(machines map[string]*machineState, js *jobState) bool {
	byGPUs := map[int]int{}
	for _, name := range e.candidates(js) {
		ms := machines[name]
		if ms == nil || ms.aside {
			continue
		}
		l, err := layout(js.job, ms.m.GPUs)
		if err != nil {
			continue
		}
		if ms.m.Cluster {
			if l.NodeCount() <= ms.m.Capacity() {
				return true
			}
			continue
		}
		byGPUs[ms.m.GPUs]++
		if byGPUs[ms.m.GPUs] >= l.NodeCount() {
			return true
		}
	}
	return false
}

// multiOutputs are a multi-node job's outputs: a result per concurrency,
// every process's log, every node's log and GPU samples.
func multiOutputs(j *plan.Job, l topology.Layout, resultName string) []string {
	m := &jobspec.Multi{Shape: *j.Multi, Layout: l, ConcList: j.ConcList}
	var out []string
	if j.Agentic != nil {
		out = append(out, "results/"+resultName+".json") // one replay, one row
	} else {
		for _, c := range concList(j) {
			out = append(out, "results/"+m.MultiResultName(resultName, c)+".json")
		}
	}
	out = append(out, "logs/client.log", "logs/gpu.csv", "job.log")
	for _, n := range l.Nodes {
		for _, p := range n.Processes {
			out = append(out, jobspec.ProcessLogPath(p))
		}
		if n.Rank > 0 {
			out = append(out, jobspec.NodeLogPath(n.Rank), jobspec.NodeGPUMetricsPath(n.Rank))
		}
	}
	return append(out, zoneFiles(multiNodeSamples(l))...)
}

// concList is a multi-node job's concurrencies: its list, or its one.
func concList(j *plan.Job) []int {
	if len(j.ConcList) > 0 {
		return j.ConcList
	}
	return []int{j.Conc}
}

// describeLayout is a layout in one line for the log.
func describeLayout(l topology.Layout) string {
	var parts []string
	for _, n := range l.Nodes {
		var ps []string
		for _, p := range n.Processes {
			ps = append(ps, p.Name())
		}
		parts = append(parts, "node "+strconv.Itoa(n.Rank)+": "+strings.Join(ps, ","))
	}
	return strings.Join(parts, "; ")
}

// aggregateMulti computes a row per concurrency of a multi-node job, its
// throughputs per GPU over every GPU of both roles, and keeps them all
// as the job's rows; it returns the first.
func (e *Engine) aggregateMulti(js *jobState, m *machine.Machine, jobDir, name string) (*results.Row, error) {
	j := js.job
	l, err := layout(j, m.GPUs)
	if err != nil {
		return nil, err
	}
	mj := &jobspec.Multi{Shape: *j.Multi, Layout: l, ConcList: concList(j)}
	var rows []*results.Row
	for _, c := range mj.ConcList {
		file := mj.MultiResultName(name, c) + ".json"
		raw, err := os.ReadFile(filepath.Join(jobDir, "results", file))
		if err != nil {
			return nil, fmt.Errorf("no result file for concurrency %d: %w", c, err)
		}
		meta := results.Meta{
			RunID: e.opts.Run.ID(), JobID: j.ID, Node: m.Name, HW: m.GPU,
			Model: j.Model, Framework: j.Framework, Precision: j.Precision, Image: j.Image,
			Conc: c, ISL: j.ISL, OSL: j.OSL, Fingerprint: j.Fingerprint,
		}
		if ix := j.InferenceX; ix != nil && ix.Router != nil && ix.Router.Name != "" && ix.Router.Version != "" {
			// The row says which router InferenceX's config names.
			meta.Router = &results.RouterInfo{Name: ix.Router.Name, Version: ix.Router.Version}
		}
		row, err := results.AggregateMulti(meta, *j.Multi, c, raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		setEnergy(row, raw, jobDir, j.Multi.GPUs(), multiNodeSamples(l))
		rows = append(rows, row)
	}
	if err := results.WriteRows(filepath.Join(jobDir, run.RowFile), rows); err != nil {
		return nil, err
	}
	return rows[0], nil
}
