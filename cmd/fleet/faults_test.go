package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/testrig"
)

// Fault tests on the rig, through the real `fleet sweep`: sshd killed,
// slurmd killed, the controller SIGKILLed and resumed, with jobs on SSH
// nodes and Slurm clusters. In every case each job ends done or failed
// with a reason, no result is lost or duplicated, and nothing of the run
// is left running on any machine.

// faultSweep renders a one-config sim sweep: every request takes about
// osl × itl, so the caller chooses how long a job stays running.
func faultSweep(runner, itl string, osl int, conc []int, prompts int) string {
	return faultClient(prompts) + faultConfig("fault-sim", "faultsim", runner, itl, osl, conc)
}

func faultClient(prompts int) string {
	return fmt.Sprintf("client {\n  prompts_per_conc = %d\n  warmups_per_conc = 0\n}\n", prompts)
}

// faultConfig is one sim config block; runner is an HCL expression.
func faultConfig(name, prefix, runner, itl string, osl int, conc []int) string {
	cs := make([]string, len(conc))
	for i, c := range conc {
		cs[i] = strconv.Itoa(c)
	}
	return fmt.Sprintf(`
config %q {
  model        = "sim-model"
  model_prefix = %q
  precision    = "fp8"
  framework    = "sim"
  runner       = %s
  server_args  = ["--timing", "fixed", "--ttft", "20ms", "--itl", %q]
  scenario "s" {
    isl = 64
    osl = %d
    search {
      tp   = 8
      conc = [%s]
    }
  }
}
`, name, prefix, runner, itl, osl, strings.Join(cs, ", "))
}

// rigClusters are the rig's Slurm clusters as inventory machines: "acct"
// is the Slurm cluster "rig" (accounting, JobRequeue=1), reached over SSH
// through its login host when acctOverSSH, "noacct" is "rignoacct" (no
// accounting, no requeue) with fleet on its login node. The names differ from the
// clusters' own so that a runner "rig" (the SSH nodes' label) selects
// the SSH nodes only.
type rigClusters struct {
	inventory string            // the inventory block
	work      map[string]string // inventory name -> work dir base
	slurm     map[string]string // inventory name -> the rig's cluster name
}

func clusterInventory(t *testing.T, r *testrig.Rig, maxNodes int, acctOverSSH bool) rigClusters {
	t.Helper()
	acct, noacct := r.AccountingCluster(t), r.NoAccountingCluster(t)
	rc := rigClusters{work: map[string]string{}, slurm: map[string]string{"acct": acct.Name, "noacct": noacct.Name}}
	acctLogin := "local"
	if acctOverSSH {
		acctLogin = acct.LoginHost
	}
	var b strings.Builder
	for _, c := range []struct {
		name, login string
		c           testrig.Cluster
	}{
		{"acct", acctLogin, acct},
		{"noacct", "local", noacct},
	} {
		// The work dir must be on the filesystem the login and compute
		// nodes share: the rig's hosts share this machine's.
		work, err := os.MkdirTemp("", "fleet-faults-"+c.name+"-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(work) })
		rc.work[c.name] = work
		fmt.Fprintf(&b, "cluster %q {\n  login = %q\n  gpu = \"h200\"\n  gpus_per_node = 8\n  max_nodes = %d\n  workdir = %q\n  env = { SLURM_CONF = %q }\n}\n",
			c.name, c.login, maxNodes, work, c.c.SlurmConf)
	}
	rc.inventory = b.String()
	return rc
}

// netnsProcs lists the pids of processes named comm that live in host's
// network namespace (the rig's hosts share this machine's pid space).
func netnsProcs(t *testing.T, h testrig.Host, comm string) []int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(h.NetnsPath, &st); err != nil {
		t.Fatalf("network namespace of %s: %v", h.Name, err)
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		ns, err := os.Readlink(filepath.Join(p, "ns", "net"))
		if err != nil || ns != want {
			continue
		}
		c, err := os.ReadFile(filepath.Join(p, "comm"))
		if err != nil || strings.TrimSpace(string(c)) != comm {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(p)); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killSSHDAndSessions kills host's sshd for good: the listener (restored
// at the end of t by testrig) and every live session, so that the
// controller's connection breaks as when the daemon crashes with its
// children or the node's sshd is restarted hard. Killing only the
// listener would leave the controller's established connection working.
func killSSHDAndSessions(t *testing.T, r *testrig.Rig, host string) {
	t.Helper()
	r.KillSSHD(t, host)
	for _, pid := range netnsProcs(t, r.Host(t, host), "sshd") {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// waitNoLeftovers polls until no process has its working directory under
// any of dirs, and returns what is left after limit. Processes that only
// followed a job (a log tail, a wait loop whose connection died) end on
// their own once the job is gone, hence the polling.
func waitNoLeftovers(dirs []string, limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		var left []string
		for _, d := range dirs {
			left = append(left, leftovers(d)...)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runDirs are the work directories of runID on every SSH host of the rig
// and under every extra base.
func runDirs(r *testrig.Rig, runID string, bases ...string) []string {
	var dirs []string
	for _, h := range r.Hosts {
		if h.WorkDir != "" {
			dirs = append(dirs, filepath.Join(h.WorkDir, runID))
		}
	}
	for _, b := range bases {
		dirs = append(dirs, filepath.Join(b, runID))
	}
	return dirs
}

// checkEveryJobAccounted checks the run's journal and files: every job of
// the journal ends done or failed with a reason, a done job has exactly
// one result file and its row, and no job has two result files. It
// returns the last state of each job.
func checkEveryJobAccounted(t *testing.T, runDir string, wantJobs int) map[string]journal.Entry {
	t.Helper()
	entries, err := journal.Read(filepath.Join(runDir, "journal.jsonl"))
	if err != nil {
		t.Fatalf("read journal: %v", err)
	}
	last := lastEntries(entries)
	if len(last) != wantJobs {
		t.Errorf("journal knows %d jobs, want %d", len(last), wantJobs)
	}
	for id, e := range last {
		files, _ := filepath.Glob(filepath.Join(runDir, "jobs", id, "results", "*.json"))
		switch e.State {
		case journal.StateDone:
			if len(files) != 1 {
				t.Errorf("done job %s has %d result files, want 1: %v", id, len(files), files)
			}
			if _, err := os.Stat(filepath.Join(runDir, e.Result)); e.Result == "" || err != nil {
				t.Errorf("done job %s: row %q missing (%v)", id, e.Result, err)
			}
		case journal.StateFailed:
			if strings.TrimSpace(e.Reason) == "" {
				t.Errorf("failed job %s has no reason", id)
			}
			if len(files) > 1 {
				t.Errorf("failed job %s has %d result files: %v", id, len(files), files)
			}
		default:
			t.Errorf("job %s ended %s (%s), want done or failed", id, e.State, e.Reason)
		}
	}
	return last
}

// runFleetContext is runFleet bounded by ctx: when ctx ends the sweep is
// cancelled as by Ctrl-C, so a stuck run ends the test instead of hanging.
func runFleetContext(ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	app := &App{
		Stdin:  strings.NewReader(""),
		Stdout: &stdout,
		Stderr: &lockedBuffer{b: &stderr},
		Getenv: func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return os.Getenv(k)
		},
		Environ: os.Environ,
	}
	code := app.Run(ctx, args)
	return code, stdout.String(), stderr.String()
}

// lockedBuffer is a buffer that log lines from many goroutines can share.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// journalCount counts the journal entries of job in state.
func journalCount(entries []journal.Entry, job, state string) int {
	n := 0
	for _, e := range entries {
		if e.Job == job && e.State == state {
			n++
		}
	}
	return n
}

// TestSSHDKilledMidJob kills the sshd of the node a job runs on, its live
// sessions with it: the controller's connection breaks and new ones are
// refused. The job is retried (elsewhere, or on the same node once sshd
// is back), ends done with one result, and the first attempt, which kept
// running on the node, is killed once the node answers again.
func TestSSHDKilledMidJob(t *testing.T) {
	r := testrig.Load(t)
	for _, tc := range []struct {
		name      string
		runner    string
		elsewhere bool
	}{
		{"the job is retried on another node", `["node2", "node3"]`, true},
		{"the job is retried on its own node once sshd is back", `["node3"]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.Share(t, "node2", "node3")
			inv := rigInventory(t, r, "")
			dir := t.TempDir()
			sweep := filepath.Join(dir, "sshd.hcl")
			// About 10 s of benchmark: the fault lands mid-job.
			os.WriteFile(sweep, []byte(faultSweep(tc.runner, "40ms", 120, []int{2}, 2)), 0o644)
			runID := "sshd-" + filepath.Base(dir)
			run := startRigSweep(t, r, sweep, inv, dir, runID)
			jpath := filepath.Join(dir, runID, "journal.jsonl")
			e := waitForState(t, jpath, journal.StateRunning, 90*time.Second)
			victim := e.Node
			killSSHDAndSessions(t, r, victim)
			// sshd comes back while the run goes on (before the retry's
			// backoff ends), so that the left-over first attempt can be
			// killed, and, for a job bound to this node, retried there.
			time.Sleep(2 * time.Second)
			r.StartSSHD(t, victim)
			select {
			case <-run.done:
			case <-time.After(4 * time.Minute):
				t.Fatal("sweep did not end within 4 minutes")
			}
			if run.code != ExitOK {
				t.Fatalf("exit %d\n%s\n%s", run.code, run.stdout, run.stderr)
			}
			last := checkEveryJobAccounted(t, filepath.Join(dir, runID), 1)[e.Job]
			entries, _ := journal.Read(jpath)
			var retried bool
			for _, en := range entries {
				if en.State == journal.StateRetrying && en.Node == victim && en.Attempt == 1 {
					retried = true
					if !strings.Contains(en.Reason, "connection lost") && !strings.Contains(en.Reason, "connect") {
						t.Errorf("retry reason %q does not say the connection was lost", en.Reason)
					}
				}
			}
			if !retried || last.State != journal.StateDone || last.Attempt != 2 {
				t.Fatalf("want a retry after sshd died and the job done at attempt 2; journal:\n%v\n%s", entries, run.stderr)
			}
			if tc.elsewhere && last.Node == victim {
				t.Errorf("job done on %s again, want the other node", victim)
			}
			if !tc.elsewhere && last.Node != victim {
				t.Errorf("job done on %s, want %s", last.Node, victim)
			}
			// The first attempt was found and killed, not left to run out.
			if strings.Contains(run.stderr, "may still be running") {
				t.Errorf("the controller gave up on the first attempt:\n%s", run.stderr)
			}
			if left := waitNoLeftovers(runDirs(r, runID), 15*time.Second); len(left) > 0 {
				t.Errorf("processes of the run left on the nodes: %v", left)
			}
			var sum struct{ Done, Failed int }
			if err := json.Unmarshal([]byte(run.stdout), &sum); err != nil || sum.Done != 1 || sum.Failed != 0 {
				t.Errorf("summary: done %d failed %d (%v)", sum.Done, sum.Failed, err)
			}
		})
	}
}

// TestSlurmdKilledMidJob stops the slurmd of the node a Slurm job runs on
// (the node stops answering, as when it dies) and kills what ran there.
// On "rig" (JobRequeue=1) Slurm requeues the job and its second run ends
// done within fleet's one attempt; on "rignoacct" the job ends NODE_FAIL,
// which fleet retries as a new attempt that ends done. Either way there is
// exactly one result.
func TestSlurmdKilledMidJob(t *testing.T) {
	r := testrig.Load(t)
	for _, tc := range []struct {
		machine string
		requeue bool
	}{
		{"acct", true},
		{"noacct", false},
	} {
		t.Run(tc.machine, func(t *testing.T) {
			rc := clusterInventory(t, r, 2, true)
			c := r.Cluster(t, rc.slurm[tc.machine])
			if c.JobRequeue != tc.requeue {
				t.Fatalf("rig cluster %s has JobRequeue=%v, this test expects %v", c.Name, c.JobRequeue, tc.requeue)
			}
			r.Share(t, append([]string{c.LoginHost}, c.Nodes...)...)
			inv := rigInventory(t, r, rc.inventory)
			dir := t.TempDir()
			sweep := filepath.Join(dir, "slurmd.hcl")
			// About 40 s of benchmark: the job is still running when its node
			// dies a few seconds after it started, even on a loaded machine,
			// and the first run never ends since the node takes it along.
			os.WriteFile(sweep, []byte(faultSweep(strconv.Quote(tc.machine), "200ms", 200, []int{1}, 1)), 0o644)
			runID := "slurmd-" + filepath.Base(dir)
			run := startRigSweep(t, r, sweep, inv, dir, runID)
			jpath := filepath.Join(dir, runID, "journal.jsonl")
			e := waitForState(t, jpath, journal.StateRunning, 2*time.Minute)
			slurmID := e.Handle.Ref
			node := waitSlurmNode(t, r, c.Name, slurmID, 2*time.Minute)
			t.Logf("Slurm job %s runs on %s; stopping its slurmd", slurmID, node)
			r.StopSlurmd(t, c.Name, node)
			// A dead node takes its processes with it: kill the job's
			// step daemon and the job itself, by pid.
			// Keep killing until Slurm declares the node down: a process the
			// first sweep missed (a server still starting) must not outlive
			// its "dead" node.
			workDir := filepath.Join(rc.work[tc.machine], runID)
			killAll := func() {
				for _, pid := range slurmstepds(t, r.Host(t, node), slurmID) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				for _, l := range leftovers(workDir) {
					if pid, err := strconv.Atoi(strings.SplitN(l, ":", 2)[0]); err == nil && pid > 1 {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			killAll()
			stopKilling := make(chan struct{})
			killerDone := make(chan struct{})
			go func() {
				defer close(killerDone)
				for {
					select {
					case <-stopKilling:
						return
					case <-time.After(500 * time.Millisecond):
						killAll()
					}
				}
			}()
			// The node comes back once Slurm gave up on it, as a repaired
			// node would; by then the job is requeued or ended NODE_FAIL.
			waitNodeDown(t, r, c.Name, node, 2*time.Minute)
			close(stopKilling)
			<-killerDone
			killAll()
			r.StartSlurmd(t, c.Name, node)
			r.ResumeNode(t, c.Name, node)
			select {
			case <-run.done:
			case <-time.After(6 * time.Minute):
				t.Fatal("sweep did not end within 6 minutes")
			}
			if run.code != ExitOK {
				t.Fatalf("exit %d\n%s\n%s", run.code, run.stdout, run.stderr)
			}
			last := checkEveryJobAccounted(t, filepath.Join(dir, runID), 1)[e.Job]
			entries, _ := journal.Read(jpath)
			if last.State != journal.StateDone {
				t.Fatalf("job ended %s (%s)\n%v", last.State, last.Reason, entries)
			}
			jobLog, _ := os.ReadFile(filepath.Join(dir, runID, "jobs", e.Job, "job.log"))
			if tc.requeue {
				// Slurm ran it again within fleet's one attempt.
				if last.Attempt != 1 || journalCount(entries, e.Job, journal.StateRetrying) != 0 {
					t.Errorf("want the job done in attempt 1 (Slurm's requeue), got attempt %d; journal:\n%v", last.Attempt, entries)
				}
				if !strings.Contains(string(jobLog), "requeued by Slurm") {
					t.Errorf("the job's log shows no requeue:\n%s", jobLog)
				}
			} else {
				// The node failure ended the Slurm job; fleet retried it.
				var reason string
				for _, en := range entries {
					if en.State == journal.StateRetrying {
						reason = en.Reason
					}
				}
				if last.Attempt != 2 || !strings.Contains(reason, "NODE_FAIL") {
					t.Errorf("want a retry after NODE_FAIL and the job done in attempt 2, got attempt %d (retry reason %q); journal:\n%v", last.Attempt, reason, entries)
				}
			}
			if left := waitNoLeftovers([]string{workDir}, 30*time.Second); len(left) > 0 {
				t.Errorf("processes of the run left on the cluster: %v", left)
			}
		})
	}
}

// waitSlurmNode waits until Slurm job id runs on a node and returns it.
func waitSlurmNode(t *testing.T, r *testrig.Rig, cluster, id string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		out, err := r.Slurm(t, cluster, "squeue", "-h", "-j", id, "-t", "RUNNING", "-o", "%N")
		if n := strings.TrimSpace(out); err == nil && n != "" {
			return n
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("Slurm job %s of %s not running on a node within %s", id, cluster, limit)
	return ""
}

// waitNodeDown waits until Slurm has declared node not responding.
func waitNodeDown(t *testing.T, r *testrig.Rig, cluster, node string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if s := r.NodeState(t, cluster, node); strings.HasPrefix(s, "down") || strings.HasSuffix(s, "*") {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("node %s of %s still answering after %s", node, cluster, limit)
}

// slurmstepds lists the step daemons of Slurm job id on host.
func slurmstepds(t *testing.T, h testrig.Host, id string) []int {
	t.Helper()
	var out []int
	for _, pid := range netnsProcs(t, h, "slurmstepd") {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmdline), "["+id+".") {
			out = append(out, pid)
		}
	}
	return out
}

// TestKilledControllerResumesJobsOnSSHAndSlurm SIGKILLs the controller
// while jobs run on SSH nodes and on a Slurm cluster, then resumes the
// run: the resumed controller re-attaches to the same process groups and
// the same Slurm job ids (no job is prepared twice), and every result is
// there exactly once.
func TestKilledControllerResumesJobsOnSSHAndSlurm(t *testing.T) {
	r := testrig.Load(t)
	rc := clusterInventory(t, r, 2, true)
	c := r.Cluster(t, rc.slurm["acct"])
	r.Share(t, "node2", "node3", c.LoginHost)
	r.Share(t, c.Nodes...)
	inv := rigInventory(t, r, rc.inventory)
	dir := t.TempDir()
	sweep := filepath.Join(dir, "resume.hcl")
	// Two jobs on two SSH nodes, two on the cluster, about 12 s each.
	body := faultClient(2) +
		faultConfig("fault-ssh", "faultssh", `["node2", "node3"]`, "50ms", 120, []int{1, 2}) +
		faultConfig("fault-slurm", "faultslurm", `"acct"`, "50ms", 120, []int{1, 2})
	os.WriteFile(sweep, []byte(body), 0o644)
	runID := "resume"
	args := []string{"sweep", sweep, "-i", inv, "--known-hosts", r.KnownHosts, "--agent-dir", agentDir,
		"--results", filepath.Join(dir, "results"), "--log-format", "logfmt"}
	cmd, out := controller(t, dir, append(args, "--run-id", runID)...)
	runDir := filepath.Join(dir, "results", runID)
	jpath := filepath.Join(runDir, "journal.jsonl")

	// Kill it once a job runs on each kind of machine.
	var running map[string]journal.Entry
	deadline := time.Now().Add(2 * time.Minute)
	for {
		entries, _ := journal.Read(jpath)
		running = map[string]journal.Entry{}
		var ssh, slurm bool
		for id, e := range lastEntries(entries) {
			if e.State == journal.StateRunning {
				running[id] = e
				ssh = ssh || e.Node != "acct"
				slurm = slurm || e.Node == "acct"
			}
		}
		if ssh && slurm {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no job running on both an SSH node and the cluster within 2 minutes; journal:\n%v\n%s", entries, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Logf("controller killed while %d jobs ran", len(running))

	cmd2, out2 := controller(t, dir, append(args, "--resume", runID, "--json")...)
	finished := make(chan error, 1)
	go func() { finished <- cmd2.Wait() }()
	select {
	case err := <-finished:
		if err != nil {
			t.Fatalf("resume failed: %v\n%s", err, out2)
		}
	case <-time.After(5 * time.Minute):
		cmd2.Process.Kill()
		t.Fatalf("resume did not end within 5 minutes\n%s", out2)
	}
	last := checkEveryJobAccounted(t, runDir, 4)
	entries, _ := journal.Read(jpath)
	for id, before := range running {
		if n := journalCount(entries, id, journal.StatePreparing); n != 1 {
			t.Errorf("job %s (running on %s when the controller died) was prepared %d times, want once", id, before.Node, n)
		}
		// The resumed controller's running entry names the same process
		// group or Slurm job.
		var after *journal.Entry
		for i := range entries {
			if entries[i].Job == id && entries[i].State == journal.StateRunning {
				after = &entries[i]
			}
		}
		if after == nil || after.Handle == nil || *after.Handle != *before.Handle {
			t.Errorf("job %s: re-attached to %+v, want %+v", id, after, before.Handle)
		}
		if last[id].State != journal.StateDone {
			t.Errorf("job %s ended %s (%s)", id, last[id].State, last[id].Reason)
		}
	}
	for id, e := range last {
		if e.State != journal.StateDone {
			t.Errorf("job %s ended %s (%s)", id, e.State, e.Reason)
		}
	}
	if !strings.Contains(out2.String(), "re-attaching") {
		t.Errorf("the resumed controller did not re-attach:\n%s", out2)
	}
	var sum struct{ Rows []json.RawMessage }
	if err := json.Unmarshal(jsonPart(out2.String()), &sum); err != nil || len(sum.Rows) != 4 {
		t.Errorf("summary rows: %d (%v)", len(sum.Rows), err)
	}
	if left := waitNoLeftovers(runDirs(r, runID, rc.work["acct"]), 15*time.Second); len(left) > 0 {
		t.Errorf("processes of the run left: %v", left)
	}
}
