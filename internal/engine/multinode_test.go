package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/topology"
)

func multiJobs(n int, candidates ...string) []*plan.Job {
	jobs := jobsFor(n, candidates...)
	for _, j := range jobs {
		j.ID = fmt.Sprintf("cfg/1k1k/p1x8-d1x8/conc%d", j.Conc)
		j.Multi = &topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 8}, Decode: topology.Pool{Workers: 1, TP: 8}}
		j.ConcList = []int{j.Conc}
	}
	return jobs
}

// Multi-node jobs take whole groups of nodes, all at once: two of them
// over three nodes never share a node or half-hold one while waiting, and
// a single-node job uses the node no group holds.
func TestMultiNodeJobsReserveWholeGroups(t *testing.T) {
	var ts []*scriptedTarget
	for _, n := range []string{"a", "b", "c"} {
		s := newScripted(n, ok)
		s.delay = 30 * time.Millisecond
		ts = append(ts, s)
	}
	jobs := append(multiJobs(3, "a", "b", "c"), jobsFor(2, "a", "b", "c")...)
	sum, err := newEngine(t, t.TempDir(), Options{}, ts...).Run(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	for id, st := range states(sum) {
		if st != journal.StateDone {
			t.Errorf("job %s ended %s", id, st)
		}
	}
	heads := 0
	for _, s := range ts {
		if s.peak > 1 {
			t.Errorf("node %s ran %d jobs at once: a node of a group is the group's alone", s.name, s.peak)
		}
		for _, st := range s.started {
			if strings.Contains(st, "p1x8-d1x8") {
				heads++
			}
		}
	}
	// Every multi-node job started on two nodes.
	if heads != 2*3 {
		t.Errorf("multi-node jobs started %d node parts, want 6 (3 jobs x 2 nodes)", heads)
	}
	for _, o := range sum.Jobs {
		if strings.Contains(o.Job, "p1x8-d1x8") && !strings.Contains(o.Node, "+") {
			t.Errorf("multi-node job %s ran on %q, want a group of nodes", o.Job, o.Node)
		}
	}
}

// A multi-node job that needs more nodes than there are fails at once,
// saying so, rather than waiting forever.
func TestMultiNodeJobThatFitsNowhereFails(t *testing.T) {
	a := newScripted("a", ok)
	jobs := multiJobs(1, "a")
	sum, err := newEngine(t, t.TempDir(), Options{}, a).Run(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	if st := states(sum)[jobs[0].ID]; st != journal.StateFailed {
		t.Errorf("job ended %s, want failed (two nodes needed, one given)", st)
	}
	if len(a.started) != 0 {
		t.Errorf("started %v on the only node", a.started)
	}
}

// A multi-node shape whose processes all fit one node runs on one node,
// whole, as its head.
func TestMultiRoleJobOnOneNode(t *testing.T) {
	a := newScripted("a", ok)
	jobs := multiJobs(1, "a")
	jobs[0].Multi = &topology.Shape{Prefill: topology.Pool{Workers: 2, TP: 1}}
	e := newEngine(t, t.TempDir(), Options{}, a)
	specs := recordSpecs(e, a)
	sum, err := e.Run(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	if o := sum.Jobs[0]; o.State != journal.StateDone || o.Node != "a" {
		t.Fatalf("job ended %s on %q, want done on a", o.State, o.Node)
	}
	got := specs()
	if len(got) != 1 || got[0].Env["FLEET_NODE_RANK"] != "0" || got[0].Nodes != 1 || got[0].GPUs != 8 || got[0].Devices != nil {
		t.Errorf("spec: %+v", got)
	}
}

// An InferenceX multi-node row runs fleet's own launchers for its roles:
// its job file carries the layout and no InferenceX script.
func TestInferenceXMultiNodeRowRunsFleetsLaunchers(t *testing.T) {
	var ts []*scriptedTarget
	for _, n := range []string{"a", "b"} {
		ts = append(ts, newScripted(n, ok))
	}
	jobs := ixJobs(1, "a", "b")
	j := jobs[0]
	j.InferenceX.MultiNode = true
	j.InferenceX.Prefill = &inferencex.Worker{NumWorker: 1, TP: 8, EP: 1}
	j.InferenceX.Decode = &inferencex.Worker{NumWorker: 1, TP: 8, EP: 1}
	j.Multi = &topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 8}, Decode: topology.Pool{Workers: 1, TP: 8}, KVTransfer: "nixl"}
	j.ConcList = []int{j.Conc}
	e := newEngine(t, t.TempDir(), Options{InferenceX: &IXOptions{Dir: ixCheckout(t)}}, ts...)
	m := &machine.Machine{Name: "a+b", GPU: "h200", GPUs: 8, Target: ts[0]}
	spec, err := e.buildSpec(&jobState{job: j}, m, agentbin.Binary{Path: os.Args[0]}, slot{port: 8000}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var file []byte
	for _, f := range spec.Files {
		if f.Path == jobspec.Path {
			file = f.Data
		}
		if strings.HasSuffix(f.Path, ".tar") {
			t.Errorf("the InferenceX bundle %s ships with a multi-node job", f.Path)
		}
	}
	jf := &jobspec.Job{}
	if err := json.Unmarshal(file, jf); err != nil {
		t.Fatal(err)
	}
	if jf.InferenceX != nil || jf.Multi == nil || jf.Multi.Layout.NodeCount() != 2 || spec.Nodes != 2 {
		t.Errorf("job file: inferencex %v, multi %+v, spec nodes %d", jf.InferenceX, jf.Multi, spec.Nodes)
	}
}

// A job's recipe fingerprint reaches its row, which is how a later
// `fleet sweep --only-changed` finds it.
func TestRowsCarryTheJobsFingerprint(t *testing.T) {
	a := newScripted("a", ok)
	jobs := jobsFor(1, "a")
	jobs[0].Fingerprint = "f00d"
	dir := t.TempDir()
	if _, err := newEngine(t, dir, Options{}, a).Run(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	rows, err := results.ReadRows(filepath.Join(dir, "run", "jobs", run.JobDirName(jobs[0].ID), run.RowFile))
	if err != nil || len(rows) != 1 || rows[0].Fingerprint() != "f00d" {
		t.Fatalf("rows %v, %v", rows, err)
	}
}
