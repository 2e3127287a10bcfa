package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/store"
	"github.com/fleetbench/fleet/internal/testrig"
)

// The soak's sweep: 200 tiny sim jobs (fixed timing, a few short
// requests, no warm-up) over the rig's SSH GPU nodes (node1..node4, and
// private1 through the jump host) and both Slurm clusters. 10 of them (5%)
// are faulty by the simulator's own flags: a server that crashes after
// its first request, and a server that fails most requests.
const (
	soakHealthyConfigs = 19 // × 10 concurrencies = 190 jobs
	soakFaultyJobs     = 5  // per faulty config
	soakJobs           = soakHealthyConfigs*10 + 2*soakFaultyJobs
)

func soakSweep() string {
	var b strings.Builder
	b.WriteString(`
client {
  prompts_per_conc = 1
  warmups_per_conc = 0
}
settings {
  retries = 3
  timeouts {
    server_start = "2m"
    benchmark    = "2m"
    job          = "5m"
  }
}
`)
	conf := func(name, args string, conc string, prompts int) {
		fmt.Fprintf(&b, `
config %q {
  model        = "soak-model"
  model_prefix = %q
  precision    = "fp8"
  framework    = "sim"
  runner       = ["rig", "acct", "noacct"]
  server_args  = ["--timing", "fixed", "--ttft", "5ms", %s]
  client {
    prompts_per_conc = %d
  }
  scenario "s" {
    isl = 32
    osl = 16
    search {
      tp   = 8
      conc = [%s]
    }
  }
}
`, name, strings.ReplaceAll(name, "-", ""), args, prompts, conc)
	}
	for i := range soakHealthyConfigs {
		conf(fmt.Sprintf("soak-%02d", i), `"--itl", "1ms"`, "1, 2, 3, 4, 5, 6, 7, 8, 9, 10", 1)
	}
	// The crash: the server exits after one completed request of several.
	conf("soak-crash", `"--itl", "20ms", "--exit-after", "1"`, "1, 2, 3, 4, 5", 4)
	// The failing server: 80% of 10+ requests answered 500, far over the
	// client's 5% limit (the odds that none fails are 1e-7).
	conf("soak-flaky", `"--itl", "1ms", "--fail-ratio", "0.8"`, "1, 2, 3, 4, 5", 10)
	return b.String()
}

// TestSoak200JobsWithFaults runs the soak with infrastructure faults on
// top of the simulator's: mid-run an SSH node's sshd dies with its
// sessions (and comes back), and a node of the "rignoacct" cluster dies (its
// slurmd stops and its jobs' processes are killed) and comes back. Every
// job must end done or failed with a reason, the faulty configs exactly
// failed and the rest done, every result present once in the run
// directory and once in the results store, and nothing left running.
func TestSoak200JobsWithFaults(t *testing.T) {
	r := testrig.Load(t)
	var hosts []string
	for _, h := range r.Hosts {
		hosts = append(hosts, h.Name)
	}
	r.Share(t, hosts...)
	// Both clusters with fleet on their login node: every exec over SSH
	// costs the rig's hosts a login shell, and the soak keeps to its time
	// (the cluster behind an SSH login is covered by the other tests).
	rc := clusterInventory(t, r, 2, false)
	inv := rigInventory(t, r, rc.inventory)
	dir := t.TempDir()
	sweep := filepath.Join(dir, "soak.hcl")
	os.WriteFile(sweep, []byte(soakSweep()), 0o644)
	runID := "soak"
	runDir := filepath.Join(dir, runID)
	jpath := filepath.Join(runDir, "journal.jsonl")

	// The whole soak is bounded: past the limit the sweep is cancelled as
	// by Ctrl-C (its jobs killed on their machines) and the test fails.
	const limit = 12 * time.Minute
	ctx, cancelRun := context.WithTimeout(context.Background(), limit)
	defer cancelRun()
	start := time.Now()
	done := make(chan struct{})
	var code int
	var stderr string
	go func() {
		defer close(done)
		code, _, stderr = runFleetContext(ctx, rigEnv(t), "sweep", sweep, "-i", inv, "--known-hosts", r.KnownHosts,
			"--agent-dir", agentDir, "--results", dir, "--run-id", runID, "--log-format", "logfmt")
	}()
	// Whatever happens below, the sweep ends before the test and its rig
	// faults do.
	defer func() {
		cancelRun()
		<-done
	}()

	// Fault 1: an SSH node's sshd dies with its sessions while it runs a
	// job, and is back 3 s later.
	e := waitRunningOn(t, jpath, 10, 6*time.Minute, func(e journal.Entry) bool {
		return e.Node == "node2" || e.Node == "node3" || e.Node == "node4"
	})
	t.Logf("%s: killing sshd and its sessions on %s (job %s)", time.Since(start).Round(time.Second), e.Node, e.Job)
	killSSHDAndSessions(t, r, e.Node)
	time.Sleep(3 * time.Second)
	r.StartSSHD(t, e.Node)

	// Fault 2: a node of the "rignoacct" cluster dies under a job: the job
	// ends NODE_FAIL and fleet retries it; the node comes back once
	// declared dead. (On "rig" Slurm would requeue the job, but only after
	// its credential expiry, two minutes: TestSlurmdKilledMidJob covers
	// that case, the soak keeps to its time.)
	slurmCl := r.Cluster(t, rc.slurm["noacct"])
	// The journal says running a poll behind Slurm: the job picked may have
	// ended before it is seen on its node. Then the next one is taken.
	var node string
	tried := map[string]bool{}
	for try := 1; node == ""; try++ {
		e = waitRunningOn(t, jpath, 40, 6*time.Minute, func(e journal.Entry) bool {
			return e.Node == "noacct" && e.Handle != nil && !tried[e.Handle.Ref]
		})
		tried[e.Handle.Ref] = true
		var running bool
		if node, running = slurmJobNode(t, r, slurmCl.Name, e.Handle.Ref, time.Minute); !running && try == 20 {
			t.Fatalf("no Slurm job of %s seen running on a node in %d tries", slurmCl.Name, try)
		}
	}
	t.Logf("%s: node %s of %s dies under Slurm job %s (job %s)", time.Since(start).Round(time.Second), node, slurmCl.Name, e.Handle.Ref, e.Job)
	r.StopSlurmd(t, slurmCl.Name, node)
	for _, pid := range slurmstepds(t, r.Host(t, node), e.Handle.Ref) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, l := range leftovers(e.Handle.WorkDir) {
		if pid, err := strconv.Atoi(strings.SplitN(l, ":", 2)[0]); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	waitNodeDown(t, r, slurmCl.Name, node, 2*time.Minute)
	r.StartSlurmd(t, slurmCl.Name, node)
	r.ResumeNode(t, slurmCl.Name, node)

	<-done
	wall := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("soak cancelled: not done within %s\n%s", limit, tail(stderr, 60))
	}
	if code != ExitFailed {
		t.Errorf("exit %d, want %d (the faulty configs fail)\n%s", code, ExitFailed, tail(stderr, 60))
	}

	// Every job accounted for, in the journal and in summary.json.
	last := checkEveryJobAccounted(t, runDir, soakJobs)
	var sum struct {
		Jobs []struct {
			Job, Config, State, Node, Reason string
			Attempts                         int
		}
	}
	b, err := os.ReadFile(filepath.Join(runDir, "summary.json"))
	if err != nil || json.Unmarshal(b, &sum) != nil {
		t.Fatalf("summary.json: %v", err)
	}
	var nDone, nFailed int
	perNode := map[string]int{}
	for _, j := range sum.Jobs {
		faulty := j.Config == "soak-crash" || j.Config == "soak-flaky"
		switch {
		case j.State == journal.StateDone && !faulty:
			nDone++
			perNode[j.Node]++
			// SSH nodes and the clusters' compute nodes are the same hosts
			// here: a done job whose own server could not bind its port
			// measured another job's server.
			log, _ := os.ReadFile(filepath.Join(runDir, "jobs", j.Job, "logs", "server.log"))
			if strings.Contains(strings.ToLower(string(log)), "address already in use") {
				t.Errorf("job %s on %s is done, but its own server never listened:\n%s", j.Job, j.Node, log)
			}
		case j.State == journal.StateFailed && faulty:
			nFailed++
			// A crashing server dies during the benchmark, or before it was
			// seen healthy when a neighbour's client (the rig's SSH and
			// Slurm nodes share namespaces, hence ports) reached it first.
			want := map[string][]string{
				"soak-crash": {"server died during the benchmark", "--exit-after"},
				"soak-flaky": {"too many failed requests"},
			}[j.Config]
			ok := false
			for _, w := range want {
				ok = ok || strings.Contains(j.Reason, w)
			}
			if !ok {
				t.Errorf("job %s failed with %q, want one of %q", j.Job, j.Reason, want)
			}
		default:
			t.Errorf("job %s (%s) ended %s on %s after %d attempts: %s", j.Job, j.Config, j.State, j.Node, j.Attempts, j.Reason)
		}
		if e, ok := last[j.Job]; !ok || e.State != j.State {
			t.Errorf("job %s: summary says %s, journal %s", j.Job, j.State, e.State)
		}
	}
	if len(sum.Jobs) != soakJobs || nDone+nFailed != soakJobs {
		t.Errorf("summary: %d jobs, %d done + %d failed as expected, want %d", len(sum.Jobs), nDone, nFailed, soakJobs)
	}

	// The results store has each done job's row once, and no other.
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(sctx, store.DefaultPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	jobs, err := st.Jobs(sctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, j := range jobs {
		seen[j.ID]++
		// A failed job may keep the result it wrote (a failure ratio
		// over its limit); a done job must have one.
		if j.State != last[j.ID].State || j.State == journal.StateDone && len(j.Rows) == 0 {
			t.Errorf("store: job %s is %s with row %v, journal says %s", j.ID, j.State, len(j.Rows) > 0, last[j.ID].State)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("store: job %s recorded %d times", id, n)
		}
	}
	rows, err := st.Rows(sctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != soakJobs || len(rows) != nDone {
		t.Errorf("store: %d jobs and %d rows, want %d and %d", len(jobs), len(rows), soakJobs, nDone)
	}

	// Nothing of the run is left on any machine.
	if left := waitNoLeftovers(runDirs(r, runID, rc.work["acct"], rc.work["noacct"]), 30*time.Second); len(left) > 0 {
		t.Errorf("processes of the run left: %v", left)
	}

	entries, _ := journal.Read(jpath)
	retries, attempts := 0, 0
	for _, en := range entries {
		switch en.State {
		case journal.StateRetrying:
			retries++
			t.Logf("retry: %s on %s: %s", en.Job, en.Node, en.Reason)
		case journal.StatePreparing:
			attempts++
		}
	}
	t.Logf("soak: %d jobs (%d done, %d failed by injected faults) in %s: %.0f jobs/minute; %d attempts, %d retries; jobs done per machine: %v",
		soakJobs, nDone, nFailed, wall.Round(time.Second), float64(soakJobs)/wall.Minutes(), attempts, retries, perNode)
}

// waitRunningOn waits until at least minDone jobs are done and some job
// runs on a machine that ok accepts, and returns that job's entry.
func waitRunningOn(t *testing.T, jpath string, minDone int, limit time.Duration, ok func(journal.Entry) bool) journal.Entry {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		entries, _ := journal.Read(jpath)
		last := lastEntries(entries)
		n := 0
		for _, e := range last {
			if e.State == journal.StateDone {
				n++
			}
		}
		if n >= minDone {
			for _, e := range last {
				if e.State == journal.StateRunning && ok(e) {
					return e
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no job running where wanted after %d done, within %s", minDone, limit)
	return journal.Entry{}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// slurmJobNode waits until Slurm job id of cluster runs and returns its
// node; running is false when the job left the queue (it ended) or did
// not run within limit.
func slurmJobNode(t *testing.T, r *testrig.Rig, cluster, id string, limit time.Duration) (node string, running bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		out, err := r.Slurm(t, cluster, "squeue", "-h", "-j", id, "-o", "%T %N")
		if err != nil {
			// squeue fails for a job id it no longer knows: the job ended.
			return "", false
		}
		state, n, _ := strings.Cut(strings.TrimSpace(out), " ")
		switch {
		case state == "":
			return "", false
		case state == "RUNNING" && n != "":
			return n, true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", false
}
