package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/testrig"
)

// leaseSweep is a sim sweep over the nodes labelled "leasetest": four
// whole-node jobs, each a few seconds long.
const leaseSweep = `
client {
  prompts_per_conc = 3
  warmups_per_conc = 1
}
config "lease-sim" {
  model        = "sim-model"
  model_prefix = "leasesim"
  precision    = "fp8"
  framework    = "sim"
  runner       = "leasetest"
  server_args  = ["--timing", "fixed", "--ttft", "30ms", "--itl", "5ms", "--startup-delay", "1500ms"]
  scenario "1k128" {
    isl = 1024
    osl = 128
    search {
      tp   = 8
      conc = [1, 2, 4, 8]
    }
  }
}
`

// interval is one job's time running on a node, as its run's journal says.
type interval struct {
	run, job, node string
	from, to       time.Time
}

// runningIntervals reads a run's journal: from each "running" entry to
// the job's next entry.
func runningIntervals(t *testing.T, runDir, run string) []interval {
	t.Helper()
	entries, err := journal.Read(filepath.Join(runDir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	open := map[string]*interval{}
	var out []interval
	for _, e := range entries {
		if iv := open[e.Job]; iv != nil {
			iv.to = e.Time
			out = append(out, *iv)
			delete(open, e.Job)
		}
		if e.State == journal.StateRunning {
			open[e.Job] = &interval{run: run, job: e.Job, node: e.Node, from: e.Time}
		}
	}
	for _, iv := range open {
		t.Errorf("run %s: job %s never left the running state", run, iv.job)
	}
	return out
}

// Two controllers started at once on the same SSH nodes, with sweeps whose
// jobs overlap in time, never run jobs on the same node at the same time:
// not by their journals, and not on the nodes. A stale lease (a dead
// holder, long expired) left on a node is taken over.
func TestTwoControllersOnTheSameNodesNeverOverlap(t *testing.T) {
	r := testrig.Load(t)
	gpus := r.GPUNodes()
	if len(gpus) < 2 {
		t.Fatalf("the rig has %d GPU nodes, want 2", len(gpus))
	}
	nodes := gpus[:2]
	var blocks []string
	for _, h := range nodes {
		// Exclusive on both nodes: no other test's jobs (or leases) there
		// while the two controllers compete for them.
		r.SetGPUBusy(t, h.Name)
		blocks = append(blocks, rigNodeBlock(r, h, rigNodeOpts{labels: []string{"leasetest"}}))
	}
	dir := t.TempDir()
	inv := writeInventory(t, blocks...)
	sweep := filepath.Join(dir, "lease.hcl")
	os.WriteFile(sweep, []byte(leaseSweep), 0o644)

	// A lease whose holder died long ago: its job's process group id is
	// one no process can have, and it expired an hour back.
	leases := filepath.Join(nodes[0].WorkDir, ".leases")
	if err := os.MkdirAll(leases, 0o700); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour).Unix()
	stale := filepath.Join(leases, "handwritten.lease")
	body := fmt.Sprintf("fleet-lease=1\ntoken=handwritten\nhost=deadhost\nuser=ghost\npid=4194305\nrun=handwritten-run\njob=j\ndevices=all\npgid=4194305\nsince=%d\nexpires=%d\n", past, past)
	if err := os.WriteFile(stale, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}

	// On the nodes: which runs have processes in each node's work dir,
	// sampled until both controllers end.
	runs := []string{"lease-a-" + filepath.Base(dir), "lease-b-" + filepath.Base(dir)}
	stop := make(chan struct{})
	var sampled sync.WaitGroup
	var overlaps []string
	seen := map[string]bool{}
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for _, h := range nodes {
				var here []string
				for _, run := range runs {
					if len(leftovers(filepath.Join(h.WorkDir, run)+"/")) > 0 {
						here = append(here, run)
						seen[run] = true
					}
				}
				if len(here) > 1 {
					overlaps = append(overlaps, h.Name+" at "+time.Now().Format(time.RFC3339Nano))
				}
			}
		}
	}()

	type outcome struct {
		code           int
		stdout, stderr string
	}
	results := make([]outcome, len(runs))
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, stdout, stderr := runFleet(t, rigEnv(t), "sweep", sweep, "-i", inv, "--known-hosts", r.KnownHosts,
				"--agent-dir", agentDir, "--results", dir, "--run-id", run, "--log-format", "logfmt")
			results[i] = outcome{code, stdout, stderr}
		}()
	}
	wg.Wait()
	close(stop)
	sampled.Wait()

	logs := ""
	for i, o := range results {
		if o.code != ExitOK {
			t.Fatalf("controller %s: exit %d\n%s\n%s", runs[i], o.code, o.stdout, o.stderr)
		}
		logs += o.stderr
	}
	if len(overlaps) > 0 {
		t.Errorf("both controllers had jobs on one node at once: %v", overlaps)
	}
	if !seen[runs[0]] || !seen[runs[1]] {
		t.Errorf("saw jobs of %v on the nodes; the sampling missed a controller", seen)
	}

	// By the journals: no two jobs of the two runs on one node overlap,
	// and the runs themselves did run at the same time.
	var all []interval
	span := map[string][2]time.Time{}
	for _, run := range runs {
		ivs := runningIntervals(t, filepath.Join(dir, run), run)
		if len(ivs) != 4 {
			t.Errorf("run %s: %d running intervals, want 4", run, len(ivs))
		}
		for _, iv := range ivs {
			s := span[run]
			if s[0].IsZero() || iv.from.Before(s[0]) {
				s[0] = iv.from
			}
			if iv.to.After(s[1]) {
				s[1] = iv.to
			}
			span[run] = s
		}
		all = append(all, ivs...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].from.Before(all[j].from) })
	for i, a := range all {
		for _, c := range all[i+1:] {
			if a.node == c.node && a.run != c.run && c.from.Before(a.to) {
				t.Errorf("on %s, %s/%s ran %s..%s and %s/%s from %s", a.node, a.run, a.job, a.from.Format(time.StampMilli), a.to.Format(time.StampMilli), c.run, c.job, c.from.Format(time.StampMilli))
			}
		}
	}
	a, c := span[runs[0]], span[runs[1]]
	if !a[0].Before(c[1]) || !c[0].Before(a[1]) {
		t.Errorf("the runs did not overlap in time (%v and %v): the test proves nothing", a, c)
	}

	// The stale lease was taken over, and said so; no lease is left.
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale lease still there: %v", err)
	}
	if !strings.Contains(logs, "stale lease taken over") || !strings.Contains(logs, "handwritten-run") {
		t.Errorf("no log line says the stale lease of handwritten-run was taken over:\n%s", logs)
	}
	for _, h := range nodes {
		left, _ := filepath.Glob(filepath.Join(h.WorkDir, ".leases", "*.lease"))
		if len(left) > 0 {
			t.Errorf("%s: leases left after both runs: %v", h.Name, left)
		}
	}
}
