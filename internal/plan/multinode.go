package plan

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/fleetbench/fleet/internal/inferencex/ixresult"
	"github.com/fleetbench/fleet/internal/topology"
)

// Layout lays a multi-node job out on nodes of gpusPerNode GPUs: the
// nodes it needs, and which of its processes run where on which GPUs.
func (j *Job) Layout(gpusPerNode int) (topology.Layout, error) {
	if j.Multi == nil {
		return topology.Layout{}, errors.New("job " + j.ID + " is a single-node job: it has no layout")
	}
	l, err := topology.Place(*j.Multi, gpusPerNode)
	if err != nil {
		return topology.Layout{}, fmt.Errorf("job %s: %w", j.ID, err)
	}
	return l, nil
}

// NeedsInfra says whether a framework's workers find each other through
// a discovery process (etcd and NATS) that the job starts first: Dynamo's.
func NeedsInfra(framework string) bool { return strings.HasPrefix(framework, "dynamo-") }

// multiPoint is the point part of a multi-node job's id: each role's
// workers and parallelism, InferenceX's way (p2xtp4-ep4-dpatrue-d1xtp8-
// ep8-dpatrue; agg2xtp8-ep1-dpafalse for an aggregated shape), then the
// KV transfer engine and a router policy other than round robin, so that
// two bands that differ only in those have different ids.
func multiPoint(s topology.Shape) string {
	var b strings.Builder
	pool := func(head string, p topology.Pool) {
		fmt.Fprintf(&b, "%s%dxtp%d-ep%d", head, p.Workers, p.TP, p.EP)
		if p.PP > 1 {
			fmt.Fprintf(&b, "-pp%d", p.PP)
		}
		fmt.Fprintf(&b, "-dpa%t", p.DPAttn)
	}
	if s.Disaggregated() {
		pool("p", s.Prefill)
		pool("-d", s.Decode)
	} else {
		pool("agg", s.Prefill)
	}
	if s.KVTransfer != "" {
		b.WriteString("-kv-" + s.KVTransfer)
	}
	if p := s.Router.Policy; p != "" && p != "round_robin" {
		// No '_' in an id's point: JobID's fields split on it.
		b.WriteString("-router-" + strings.ReplaceAll(p, "_", "-"))
	}
	return b.String()
}

// concList is a concurrency list the way InferenceX's multi-node names
// write it: 4x8x16.
func concList(cs []int) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, "x")
}

// multiResultName is a fleet multi-node job's result name: InferenceX's
// multi-node RESULT_FILENAME (ixresult.ResultFilename), so that
// ixresult.ParseName reads fleet's results and InferenceX's alike.
func multiResultName(j *Job, node string) string {
	s := j.Multi
	worker := func(p topology.Pool) *inferencex.Worker {
		if p.Workers == 0 {
			return nil // an aggregated shape's decode role: all zero, as InferenceX's rows have it
		}
		return &inferencex.Worker{NumWorker: p.Workers, TP: p.TP, EP: p.EP, DPAttn: p.DPAttn, PP: max(p.PP, 1), DCPSize: 1, PCPSize: 1}
	}
	spec := j.Spec
	if spec == "" {
		spec = "none"
	}
	row := &inferencex.Job{
		MultiNode:    true,
		ExpName:      j.ModelPrefix + "_" + j.Seq,
		Precision:    j.Precision,
		Framework:    j.Framework,
		Prefill:      worker(s.Prefill),
		Decode:       worker(s.Decode),
		Disagg:       s.Disaggregated(),
		SpecDecoding: spec,
		Conc:         j.ConcList,
	}
	return ixresult.ResultFilename(row, node)
}

// nodeGPUs lists the GPUs each node of a layout uses.
func nodeGPUs(nodes []topology.Node) []int {
	out := make([]int, len(nodes))
	for i, n := range nodes {
		out[i] = n.GPUs
	}
	return out
}
