package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/nodes"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// fleet nodes check prints who holds a node, escaped: a lease file is
// the node's word.
func TestCheckTableNamesLeaseHolders(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := nodes.Result{Node: "gpu1", Reachable: true, Leases: []shelltarget.Lease{
		shelltarget.ParseLease("gpu-0-1", []byte("user=bob\x1b]0;x\x07\nhost=lab\npid=12\nrun=nightly\njob=cfg_tp2\ndevices=0,1\nsince="+
			"1767323045\nexpires=1767323165\nstate=live\n")),
	}}
	var b bytes.Buffer
	if err := writeCheckTable(&b, []nodes.Result{r}); err != nil {
		t.Fatal(err)
	}
	want := "gpu1: held by bob@lab pid 12, run nightly, job cfg_tp2, GPUs 0,1, since " + since.Format(time.RFC3339)
	if !strings.Contains(b.String(), want) || strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Fatalf("table:\n%q\nwant a line %q and no control characters", b.String(), want)
	}
}
