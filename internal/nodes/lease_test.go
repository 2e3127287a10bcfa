package nodes

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/target/local"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// fleet nodes check names who holds a node, read from the node itself.
func TestCheckShowsTheNodesLeaseHolders(t *testing.T) {
	n := &config.Node{Name: "local", GPU: config.LocalGPU, GPUs: 8, Runtime: "none", WorkDir: t.TempDir() + "/work dir"}
	tg := shelltarget.New(local.New("local"), shelltarget.Options{WorkDir: n.WorkDir})
	l := &shelltarget.Lease{Token: "t1", Host: "laptop", User: "alice", PID: 7, Run: "nightly-1", Job: "cfg_tp4", Devices: []int{0, 1, 2, 3}}
	if _, err := tg.AcquireLease(context.Background(), l, time.Hour); err != nil {
		t.Fatal(err)
	}
	r := Check(context.Background(), local.New("local"), n)
	if !r.OK() || len(r.Leases) != 1 {
		t.Fatalf("problems %q, leases %+v; want one holder", r.Problems, r.Leases)
	}
	got := r.Leases[0]
	if got.User != "alice" || got.Run != "nightly-1" || got.Job != "cfg_tp4" || got.State != "live" || got.Since.IsZero() || !got.Expires.After(got.Since) {
		t.Fatalf("holder %+v", got)
	}
	if h := got.Holder(); !strings.Contains(h, "alice@laptop") || !strings.Contains(h, "GPUs 0,1,2,3") {
		t.Errorf("holder line %q", h)
	}
}

// What a lease file says reaches the terminal escaped; a lease directory
// fleet would refuse makes the node fail the check.
func TestInterpretLeases(t *testing.T) {
	node := &config.Node{Name: "bastion", Runtime: "none", WorkDir: "/w"}
	base := "@@runtime\n@@runtime.rc\n0\n@@df\n/w\nfs 1 1 104857600 1% /\n@@hf\n/h\nyes\n"
	r := Result{Node: "bastion", WorkDir: "/w"}
	r.interpret(node, parseSections(base+"@@leases\nlease node\nuser=mal\x1b[2Jlory\nrun=r\njob=j\ndevices=all\nexpires=1\nstate=stale\n"))
	if !r.OK() || len(r.Leases) != 1 || strings.Contains(r.Leases[0].Holder(), "\x1b") || r.Leases[0].State != "stale" {
		t.Fatalf("problems %q leases %+v", r.Problems, r.Leases)
	}
	r = Result{Node: "bastion", WorkDir: "/w"}
	r.interpret(node, parseSections(base+"@@leases\nrefused lease directory /w/.leases is not private to the connecting user: fleet will not use it\n"))
	if r.OK() || !strings.Contains(r.Problems[0], "not private") {
		t.Fatalf("problems %q, want the refusal", r.Problems)
	}
}
