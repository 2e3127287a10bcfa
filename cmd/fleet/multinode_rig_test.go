package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/testrig"
)

// Multi-node jobs on the rig: disaggregated sim deployments (a router,
// prefill and decode workers, each a `fleet sim` role) across the rig's
// network namespaces, as a group of SSH nodes and as one Slurm
// allocation, and the faults that must end them cleanly.

// groupNodes are the rig's H200 nodes that reach each other (private1 is
// behind the jump host, on a network of its own).
var groupNodes = []string{"node1", "node2", "node3"}

// groupInventory is the rig's inventory with the group nodes labelled
// "group" too, and env (HCL lines) on every node.
func groupInventory(t *testing.T, r *testrig.Rig, env string) string {
	t.Helper()
	inv := rigInventory(t, r, "")
	b, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.SplitAfter(string(b), "}\n")
	for i, blk := range blocks {
		for _, n := range groupNodes {
			if strings.HasPrefix(blk, fmt.Sprintf("node %q {", n)) {
				blocks[i] = strings.Replace(blk, `labels = ["rig", `, `labels = ["rig", "group", `, 1)
			}
		}
	}
	s := strings.ReplaceAll(strings.Join(blocks, ""), "  runtime = \"none\"\n", "  runtime = \"none\"\n"+env)
	if err := os.WriteFile(inv, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return inv
}

// disaggSweep is a sim sweep of multi-node bands on runner (an HCL
// expression); itl sets how long each request decodes.
func disaggSweep(runner, itl string, prompts int, bands ...string) string {
	return fmt.Sprintf(`
client {
  prompts_per_conc = %d
  warmups_per_conc = 0
}
config "pd-sim" {
  model        = "sim-model"
  model_prefix = "pdsim"
  precision    = "fp8"
  framework    = "sim"
  runner       = %s
  server_args  = ["--timing", "fixed", "--ttft", "20ms", "--itl", %q]
  scenario "s" {
    isl = 256
    osl = 32
%s
  }
}
`, prompts, runner, itl, strings.Join(bands, "\n"))
}

// band is one multi-node search band: prefill and decode workers of tp
// GPUs each, at concurrencies conc.
func band(prefill, decode, tp int, conc string) string {
	return fmt.Sprintf(`    search {
      prefill {
        workers = %d
        tp      = %d
      }
      decode {
        workers = %d
        tp      = %d
      }
      kv_transfer = "nixl"
      conc        = [%s]
    }`, prefill, tp, decode, tp, conc)
}

type sweepSummary struct {
	Done, Failed int
	Jobs         []struct{ Job, State, Node, Reason string }
}

func readSummary(t *testing.T, stdout string) sweepSummary {
	t.Helper()
	var sum sweepSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	return sum
}

// checkMultiNodeJob checks what a done multi-node job brought back: a row
// per concurrency with its shape's GPUs, and each process's log.
func checkMultiNodeJob(t *testing.T, jobDir string, concs []int, gpus int, logs ...string) {
	t.Helper()
	rows, err := results.ReadRows(filepath.Join(jobDir, "row.json"))
	if err != nil {
		t.Fatalf("rows of %s: %v", jobDir, err)
	}
	if len(rows) != len(concs) {
		t.Fatalf("%s: %d rows, want one per concurrency %v", jobDir, len(rows), concs)
	}
	for i, row := range rows {
		if row.Conc != concs[i] || !row.MultiNode() || row.Completed == 0 {
			t.Errorf("%s row %d: conc %d multinode %v completed %d", jobDir, i, row.Conc, row.MultiNode(), row.Completed)
		}
		if n := row.Metrics["num_prefill_gpu"] + row.Metrics["num_decode_gpu"]; int(n) != gpus {
			t.Errorf("%s row %d counts %v GPUs, want %d", jobDir, i, n, gpus)
		}
	}
	for _, l := range logs {
		if fi, err := os.Stat(filepath.Join(jobDir, "logs", l)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: log %s not fetched (%v)", jobDir, l, err)
		}
	}
}

// noLeftovers checks that nothing of the run runs under any node's work
// directory.
func noLeftovers(t *testing.T, r *testrig.Rig, runID string) {
	t.Helper()
	var dirs []string
	for _, h := range r.Hosts {
		if h.WorkDir != "" {
			dirs = append(dirs, filepath.Join(h.WorkDir, runID))
		}
	}
	if left := waitNoLeftovers(dirs, 30*time.Second); len(left) > 0 {
		t.Errorf("processes left on the nodes: %v", left)
	}
}

// runTwoDisaggJobs runs a 1-prefill/1-decode job at concurrencies 1 and
// 2 and a 2-prefill/1-decode job at 2, all of tp 8, on runner, and checks
// that both are done.
func runTwoDisaggJobs(t *testing.T, r *testrig.Rig, inv, runner, prefix string) (dir, runID string, sum sweepSummary) {
	t.Helper()
	dir = t.TempDir()
	sweep := filepath.Join(dir, "pd.hcl")
	os.WriteFile(sweep, []byte(disaggSweep(runner, "5ms", 4, band(1, 1, 8, "1, 2"), band(2, 1, 8, "2"))), 0o644)
	runID = prefix + filepath.Base(dir)
	code, stdout, stderr := runFleet(t, rigEnv(t), "sweep", sweep, "-i", inv, "--known-hosts", r.KnownHosts,
		"--agent-dir", agentDir, "--results", dir, "--run-id", runID, "--json", "--log-format", "logfmt")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	sum = readSummary(t, stdout)
	if sum.Done != 2 || sum.Failed != 0 {
		t.Fatalf("done %d failed %d, want 2 and 0\n%s", sum.Done, sum.Failed, stdout)
	}
	return dir, runID, sum
}

func TestDisaggSimRunsOnAnSSHNodeGroup(t *testing.T) {
	r := testrig.Load(t)
	r.Share(t, groupNodes...)
	inv := groupInventory(t, r, "")
	dir, runID, sum := runTwoDisaggJobs(t, r, inv, `"group"`, "pd-ssh-")
	for _, j := range sum.Jobs {
		jobDir := filepath.Join(dir, runID, "jobs", j.Job)
		if n := len(strings.Split(j.Node, "+")); strings.Contains(j.Job, "p2xtp8") && n != 3 || !strings.Contains(j.Job, "p2xtp8") && n != 2 {
			t.Errorf("job %s ran on %q", j.Job, j.Node)
		}
		if strings.Contains(j.Job, "p2xtp8") {
			checkMultiNodeJob(t, jobDir, []int{2}, 24, "router-0.log", "prefill-0.log", "prefill-1.log", "decode-0.log", "node-1.log", "node-2.log")
		} else {
			checkMultiNodeJob(t, jobDir, []int{1, 2}, 16, "router-0.log", "prefill-0.log", "decode-0.log", "node-1.log")
		}
		// Every role's log streamed into the job's stream as it ran, the
		// other nodes' lines marked with their node.
		stream, _ := os.ReadFile(filepath.Join(jobDir, run.StreamFile))
		for _, want := range []string{"[router-0] ", "[prefill-0] ", "] [decode-0] "} {
			if !strings.Contains(string(stream), want) {
				t.Errorf("job %s: %q not in its stream", j.Job, want)
			}
		}
	}
	noLeftovers(t, r, runID)
}

func TestDisaggSimRunsInOneSlurmAllocation(t *testing.T) {
	r := testrig.Load(t)
	// max_nodes 3: the two jobs (2 and 3 nodes) never run together.
	rc := clusterInventory(t, r, 3, false)
	inv := rigInventory(t, r, rc.inventory)
	dir, runID, sum := runTwoDisaggJobs(t, r, inv, `"acct"`, "pd-slurm-")
	entries, err := journal.Read(filepath.Join(dir, runID, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range sum.Jobs {
		jobDir := filepath.Join(dir, runID, "jobs", j.Job)
		nodes := 2
		if strings.Contains(j.Job, "p2xtp8") {
			nodes = 3
			checkMultiNodeJob(t, jobDir, []int{2}, 24, "router-0.log", "prefill-0.log", "prefill-1.log", "decode-0.log")
		} else {
			checkMultiNodeJob(t, jobDir, []int{1, 2}, 16, "router-0.log", "prefill-0.log", "decode-0.log")
		}
		// Every node's output reaches the job's log (one for the whole
		// allocation), each role's lines marked.
		stream, _ := os.ReadFile(filepath.Join(jobDir, run.StreamFile))
		for _, want := range []string{"[router-0] ", "[decode-0] ", "[fleet-job node1 "} {
			if !strings.Contains(string(stream), want) {
				t.Errorf("job %s: %q not in its stream", j.Job, want)
			}
		}
		// One allocation of all the job's nodes.
		var id string
		for _, e := range entries {
			if e.Job == j.Job && e.State == journal.StateRunning && e.Handle != nil {
				id = e.Handle.Ref
			}
		}
		out, err := r.Slurm(t, rc.slurm["acct"], "sacct", "-j", id, "-X", "-n", "-P", "-o", "NNodes,State")
		if err != nil || strings.TrimSpace(out) != fmt.Sprintf("%d|COMPLETED", nodes) {
			t.Errorf("job %s (Slurm %s): sacct says %q (%v), want %d nodes, COMPLETED", j.Job, id, out, err, nodes)
		}
	}
	if left := waitNoLeftovers([]string{rc.work["acct"]}, 30*time.Second); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}

// A node of the group killed mid-job (every process of the job on it
// SIGKILLed, as a crash does) ends the job on every node as a lost node;
// the retry on a fresh group succeeds, and nothing is left anywhere.
func TestKilledDecodeNodeEndsTheJobAndTheRetrySucceeds(t *testing.T) {
	r := testrig.Load(t)
	r.Share(t, groupNodes...)
	inv := groupInventory(t, r, "  env = { NODE_LOST_AFTER = \"3\" }\n")
	dir := t.TempDir()
	sweep := filepath.Join(dir, "pd.hcl")
	// 40 requests of 32 tokens at 30 ms: about 20 s of benchmark.
	os.WriteFile(sweep, []byte(disaggSweep(`"group"`, "30ms", 20, band(1, 1, 8, "2"))), 0o644)
	runID := "pd-kill-" + filepath.Base(dir)
	env := rigEnv(t)
	done := make(chan struct{})
	var code int
	var stdout, stderr string
	go func() {
		defer close(done)
		code, stdout, stderr = runFleet(t, env, "sweep", sweep, "-i", inv, "--known-hosts", r.KnownHosts,
			"--agent-dir", agentDir, "--results", dir, "--run-id", runID, "--json", "--log-format", "logfmt", "--retries", "1")
	}()
	// Wait for the decode worker's log on a node of the group: node rank
	// 1 runs decode-0.
	var decodeDir string
	deadline := time.Now().Add(90 * time.Second)
	for decodeDir == "" && time.Now().Before(deadline) {
		for _, h := range r.Hosts {
			if h.WorkDir == "" {
				continue
			}
			found, _ := filepath.Glob(filepath.Join(h.WorkDir, runID, "*", "*", "logs", "decode-0.log"))
			if len(found) > 0 {
				decodeDir = filepath.Dir(filepath.Dir(found[0]))
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if decodeDir == "" {
		<-done
		t.Fatalf("decode-0 never started\n%s\n%s", stdout, stderr)
	}
	time.Sleep(2 * time.Second) // into the benchmark
	killUnder(t, decodeDir)
	<-done
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	sum := readSummary(t, stdout)
	if sum.Done != 1 {
		t.Fatalf("done %d, want 1\n%s", sum.Done, stdout)
	}
	entries, err := journal.Read(filepath.Join(dir, runID, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var retried string
	for _, e := range entries {
		if e.State == journal.StateRetrying {
			retried = e.Reason
		}
	}
	if !strings.Contains(retried, "stopped answering") || !strings.Contains(retried, "decode-0") {
		t.Errorf("retry reason %q: want the lost node named with its decode-0", retried)
	}
	checkMultiNodeJob(t, filepath.Join(dir, runID, "jobs", sum.Jobs[0].Job), []int{2}, 16, "router-0.log", "prefill-0.log", "decode-0.log")
	noLeftovers(t, r, runID)
}

// killUnder SIGKILLs every process whose working directory is under dir.
func killUnder(t *testing.T, dir string) {
	t.Helper()
	for _, l := range leftovers(dir) {
		pid, _, _ := strings.Cut(l, ":")
		var p int
		fmt.Sscan(pid, &p)
		if p > 1 {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

// Ctrl-C while a multi-node job runs stops every role on every node.
func TestInterruptStopsEveryRoleOnEveryNode(t *testing.T) {
	r := testrig.Load(t)
	r.Share(t, groupNodes...)
	inv := groupInventory(t, r, "")
	dir := t.TempDir()
	sweep := filepath.Join(dir, "pd.hcl")
	os.WriteFile(sweep, []byte(disaggSweep(`"group"`, "50ms", 40, band(2, 1, 8, "2"))), 0o644)
	runID := "pd-int-" + filepath.Base(dir)
	cmd, out := controllerWith(t, dir, []string{"HOME=" + t.TempDir(), "SSH_AUTH_SOCK="}, "sweep", sweep, "-i", inv,
		"--known-hosts", r.KnownHosts, "--agent-dir", agentDir, "--results", dir, "--run-id", runID, "--log-format", "logfmt")
	jpath := filepath.Join(dir, runID, "journal.jsonl")
	waitForState(t, jpath, journal.StateRunning, 90*time.Second)
	// Wait until the router runs on the head: every role is up.
	deadline := time.Now().Add(90 * time.Second)
	role := regexp.MustCompile(`^(router|prefill|decode)-[0-9]+\.log$`)
	for time.Now().Before(deadline) {
		found := 0
		for _, h := range r.Hosts {
			if h.WorkDir != "" {
				m, _ := filepath.Glob(filepath.Join(h.WorkDir, runID, "*", "*", "logs", "*.log"))
				for _, p := range m {
					if role.MatchString(filepath.Base(p)) {
						found++
					}
				}
			}
		}
		if found >= 4 { // router-0, prefill-0, prefill-1, decode-0
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, cmd, 90*time.Second); code != ExitCancelled {
		t.Errorf("exit %d, want %d\n%s", code, ExitCancelled, out)
	}
	noLeftovers(t, r, runID)
}

// controllerWith starts the fleet binary like controller, with env added.
func controllerWith(t *testing.T, dir string, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	bin := filepath.Join(agentDir, fmt.Sprintf("fleet-%s-%s", runtime.GOOS, runtime.GOARCH))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache")), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// A controller killed while a multi-node job runs loses nothing: the
// resumed controller re-attaches to the group (the same head), the job
// ends done with its rows, and nothing is left on any node.
func TestKilledControllerReattachesToAMultiNodeJob(t *testing.T) {
	r := testrig.Load(t)
	r.Share(t, groupNodes...)
	inv := groupInventory(t, r, "")
	dir := t.TempDir()
	sweep := filepath.Join(dir, "pd.hcl")
	// 40 requests of 32 tokens at 25 ms, two at a time: about 16 s.
	os.WriteFile(sweep, []byte(disaggSweep(`"group"`, "25ms", 20, band(1, 1, 8, "2"))), 0o644)
	runID := "pd-resume"
	env := []string{"HOME=" + t.TempDir(), "SSH_AUTH_SOCK="}
	args := []string{"sweep", sweep, "-i", inv, "--known-hosts", r.KnownHosts, "--agent-dir", agentDir,
		"--results", filepath.Join(dir, "results"), "--log-format", "logfmt"}
	cmd, out := controllerWith(t, dir, env, append(args, "--run-id", runID)...)
	runDir := filepath.Join(dir, "results", runID)
	jpath := filepath.Join(runDir, "journal.jsonl")
	before := waitForState(t, jpath, journal.StateRunning, 90*time.Second)
	// Killed once the decode node runs its worker.
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		m, _ := filepath.Glob(filepath.Join(r.Host(t, "node2").WorkDir, runID, "*", "*", "logs", "decode-0.log"))
		if len(m) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()

	cmd2, out2 := controllerWith(t, dir, env, append(args, "--resume", runID, "--json")...)
	if code := waitExit(t, cmd2, 3*time.Minute); code != ExitOK {
		t.Fatalf("resume: exit %d\n%s\nfirst controller:\n%s", code, out2, out)
	}
	entries, _ := journal.Read(jpath)
	if n := journalCount(entries, before.Job, journal.StatePreparing); n != 1 {
		t.Errorf("job prepared %d times, want once (re-attached)", n)
	}
	last := lastEntries(entries)[before.Job]
	if last.State != journal.StateDone {
		t.Fatalf("job ended %s (%s)\n%s", last.State, last.Reason, out2)
	}
	checkMultiNodeJob(t, filepath.Join(runDir, "jobs", before.Job), []int{2}, 16, "router-0.log", "prefill-0.log", "decode-0.log", "node-1.log")
	noLeftovers(t, r, runID)
}
