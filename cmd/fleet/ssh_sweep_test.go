package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/testrig"
)

// simSweepOnRig is a small sim sweep for the rig's SSH nodes: 6 jobs over
// every node labelled "rig" (node1..node4, and private1 behind the jump host).
const simSweepOnRig = `
client {
  prompts_per_conc = 3
  warmups_per_conc = 1
}
config "rig-sim" {
  model        = "sim-model"
  model_prefix = "rigsim"
  precision    = "fp8"
  framework    = "sim"
  runner       = "rig"
  server_args  = ["--timing", "fixed", "--ttft", "30ms", "--itl", "5ms", "--startup-delay", "500ms"]
  scenario "1k128" {
    isl = 1024
    osl = 128
    search {
      tp   = 8
      conc = [1, 2, 4, 8, 16, 32]
    }
  }
}
`

// leftovers lists processes whose working directory lies under dir.
func leftovers(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cwd, err := os.Readlink(filepath.Join(p, "cwd"))
		if err == nil && strings.HasPrefix(cwd, dir) {
			cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
			out = append(out, filepath.Base(p)+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

func TestSimSweepRunsOverSSHOnTheRig(t *testing.T) {
	r := testrig.Load(t)
	var hosts []string
	for _, h := range r.Hosts {
		if h.GPUs > 0 {
			hosts = append(hosts, h.Name)
		}
	}
	r.Share(t, hosts...)
	const secret = "hf_rig_secret_value_1234"
	// Every GPU node takes HF_TOKEN from the controller's environment.
	inv := rigInventoryWith(t, r, rigNodeOpts{lines: []string{`env_from = ["HF_TOKEN"]`}}, "")
	dir := t.TempDir()
	sweep := filepath.Join(dir, "rig.hcl")
	os.WriteFile(sweep, []byte(simSweepOnRig), 0o644)
	env := rigEnv(t)
	env["HF_TOKEN"] = secret
	runID := "ssh-" + filepath.Base(dir)
	code, stdout, stderr := runFleet(t, env, "sweep", sweep, "-i", inv, "--known-hosts", r.KnownHosts,
		"--agent-dir", agentDir, "--results", dir, "--run-id", runID, "--json", "--log-format", "logfmt")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var sum struct {
		Done, Failed int
		Jobs         []struct{ Job, State, Node string }
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if sum.Done != 6 || sum.Failed != 0 {
		t.Fatalf("done %d failed %d, want 6 and 0", sum.Done, sum.Failed)
	}
	used := map[string]bool{}
	for _, j := range sum.Jobs {
		used[j.Node] = true
		res, _ := filepath.Glob(filepath.Join(dir, runID, "jobs", j.Job, "results", "rigsim_*_"+j.Node+".json"))
		if len(res) != 1 {
			t.Errorf("job %s on %s: result file not fetched", j.Job, j.Node)
		}
	}
	if len(used) < 3 {
		t.Errorf("jobs ran on %v only; the nodes should share the work", used)
	}
	// Nothing of the run is left running on any node, and the secret
	// reached no file of the run.
	for _, h := range r.Hosts {
		if h.WorkDir == "" {
			continue
		}
		if left := leftovers(filepath.Join(h.WorkDir, runID)); len(left) > 0 {
			t.Errorf("%s: processes left: %v", h.Name, left)
		}
	}
	filepath.Walk(filepath.Join(dir, runID), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), secret) {
				t.Errorf("secret found in %s", p)
			}
		}
		return nil
	})
	if strings.Contains(stderr, secret) {
		t.Errorf("secret found in the controller's log")
	}
}

// TestNetworkCutMidJobIsRetriedElsewhere pulls the cable of the node a job
// runs on: the controller notices within the keepalive bound, the job is
// retried on another node, and the run completes.
func TestNetworkCutMidJobIsRetriedElsewhere(t *testing.T) {
	r := testrig.Load(t)
	inv := rigInventory(t, r, "")
	dir := t.TempDir()
	sweep := filepath.Join(dir, "cut.hcl")
	// One long job that may run on node2 or node3: whichever it starts on
	// loses its link, and the other must finish it.
	os.WriteFile(sweep, []byte(strings.NewReplacer("runner       = \"rig\"", "runner       = [\"node2\", \"node3\"]",
		"conc = [1, 2, 4, 8, 16, 32]", "conc = [2]", "\"--itl\", \"5ms\"", "\"--itl\", \"40ms\"").Replace(simSweepOnRig)), 0o644)
	runID := "cut"
	run := startRigSweep(t, r, sweep, inv, dir, runID)
	jpath := filepath.Join(dir, runID, "journal.jsonl")
	e := waitForState(t, jpath, journal.StateRunning, 60*time.Second)
	victim := r.Host(t, e.Node)
	r.LinkDown(t, victim.Name)
	<-run.done
	if run.code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", run.code, run.stdout, run.stderr)
	}
	entries, _ := journal.Read(jpath)
	var retried bool
	for _, en := range entries {
		if en.State == journal.StateRetrying && en.Node == victim.Name {
			retried = true
		}
	}
	last := lastEntries(entries)[e.Job]
	if !retried || last.State != journal.StateDone || last.Node == victim.Name {
		t.Fatalf("want a retry after the cut and the job done elsewhere; journal:\n%s", fmt.Sprint(entries))
	}
}
