package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/testrig"
)

// overheadJobs is how many near-empty jobs one measured sweep runs, one
// after the other on one machine.
const overheadJobs = 10

// overheadSweep is overheadJobs near-empty sim jobs on runner: 64 tokens
// in, 4 out, one prompt at concurrency 1 and no warmup, a server that is
// up at once. What a job costs beyond its few milliseconds of benchmark
// is fleet's: push, start, readiness, wait, fetch, the gap to the next.
func overheadSweep(runner string) string {
	var concs []string
	for i := 1; i <= overheadJobs; i++ {
		concs = append(concs, fmt.Sprint(i))
	}
	return fmt.Sprintf(`
client {
  prompts_per_conc = 1
  warmups_per_conc = 0
}
config "overhead" {
  model        = "sim-model"
  model_prefix = "ovh"
  precision    = "fp8"
  framework    = "sim"
  runner       = %q
  server_args  = ["--timing", "fixed", "--ttft", "1ms", "--itl", "1ms", "--startup-delay", "0s"]
  scenario "tiny" {
    isl = 64
    osl = 4
    search {
      tp   = 8
      conc = [%s]
    }
  }
}
`, runner, strings.Join(concs, ", "))
}

// BenchmarkJobOverhead prints seconds per near-empty job (s/job) for a
// sweep on this machine (local), on one of the rig's SSH nodes over
// fleet's reused connection (ssh), on the rig's Slurm cluster (slurm), and
// for a plain OpenSSH loop doing a job's steps against the same SSH node
// (ssh-shell-loop: push a script with scp, start it, wait for it, fetch a
// file, each a new connection). A sweep's s/job is the time from its
// first job's preparing to its last job's done in the journal, divided by
// the jobs. The rig sub-benchmarks fail without the rig.
//
//	go test -run '^$' -bench JobOverhead -benchtime 1x ./cmd/fleet/
func BenchmarkJobOverhead(b *testing.B) {
	b.Run("local", func(b *testing.B) {
		dir := b.TempDir()
		env := map[string]string{"XDG_CACHE_HOME": b.TempDir()}
		benchSweep(b, dir, env, overheadSweep("local"))
	})
	b.Run("ssh", func(b *testing.B) {
		r := testrig.Load(b)
		node := r.GPUNodes()[0].Name
		r.Share(b, node)
		inv := rigInventory(b, r, "")
		benchSweep(b, b.TempDir(), rigEnv(b), overheadSweep(node), "-i", inv, "--known-hosts", r.KnownHosts)
	})
	b.Run("slurm", func(b *testing.B) {
		r := testrig.Load(b)
		c := r.NoAccountingCluster(b)
		r.Share(b, c.Nodes...)
		work, err := os.MkdirTemp("", "fleet-overhead-slurm-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(work) })
		inv := filepath.Join(b.TempDir(), "inventory.hcl")
		if err := os.WriteFile(inv, []byte(fmt.Sprintf(`cluster "cl" {
  login         = "local"
  gpu           = "h200"
  gpus_per_node = 8
  max_nodes     = 1
  workdir       = %q
  env           = { SLURM_CONF = %q }
}
`, work, c.SlurmConf)), 0o644); err != nil {
			b.Fatal(err)
		}
		benchSweep(b, b.TempDir(), nil, overheadSweep("cl"), "-i", inv)
	})
	b.Run("ssh-shell-loop", func(b *testing.B) {
		r := testrig.Load(b)
		node := r.GPUNodes()[0]
		r.Share(b, node.Name)
		shellLoop(b, r, node)
	})
}

// benchSweep runs the sweep b.N times and reports its s/job.
func benchSweep(b *testing.B, dir string, env map[string]string, sweep string, args ...string) {
	b.Helper()
	p := filepath.Join(dir, "overhead.hcl")
	if err := os.WriteFile(p, []byte(sweep), 0o644); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		runID := fmt.Sprintf("overhead-%d", i)
		all := append([]string{"sweep", p, "--agent-dir", agentDir, "--results", dir, "--run-id", runID, "--log-format", "logfmt", "--retries", "0"}, args...)
		code, stdout, stderr := runFleet(b, env, all...)
		if code != ExitOK {
			b.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		entries, err := journal.Read(filepath.Join(dir, runID, "journal.jsonl"))
		if err != nil {
			b.Fatal(err)
		}
		span, n := jobSpan(entries)
		if n != overheadJobs {
			b.Fatalf("%d jobs done, want %d\n%s", n, overheadJobs, stderr)
		}
		total += span
	}
	b.ReportMetric(total.Seconds()/float64(b.N*overheadJobs), "s/job")
}

// jobSpan is the time from the first preparing to the last done in a
// run's journal, and how many jobs ended done.
func jobSpan(entries []journal.Entry) (time.Duration, int) {
	var first, last time.Time
	done := 0
	for _, e := range entries {
		switch e.State {
		case journal.StatePreparing:
			if first.IsZero() || e.Time.Before(first) {
				first = e.Time
			}
		case journal.StateDone:
			done++
			if e.Time.After(last) {
				last = e.Time
			}
		}
	}
	return last.Sub(first), done
}

// shellLoop does a job's steps with plain OpenSSH against node, one new
// connection per step, overheadJobs times per iteration, and reports
// its s/job: push a script (scp), start it detached (ssh), wait for its
// exit file (ssh, polling remotely every 50ms), fetch its output (scp).
func shellLoop(b *testing.B, r *testrig.Rig, node testrig.Host) {
	local := b.TempDir()
	script := filepath.Join(local, "job.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho '{\"ok\":true}' > out.json\necho 0 > exit\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	remote := filepath.Join(node.WorkDir, "overhead-loop-"+filepath.Base(local))
	ctx := context.Background()
	ssh := func(cmd string) {
		if out, err := r.SSHCommand(ctx, node.Name, nil, cmd).CombinedOutput(); err != nil {
			b.Fatalf("ssh %s: %v\n%s", cmd, err, out)
		}
	}
	scp := func(from, to string) {
		if out, err := exec.CommandContext(ctx, "scp", "-q", "-F", r.SSHConfig, from, to).CombinedOutput(); err != nil {
			b.Fatalf("scp %s %s: %v\n%s", from, to, err, out)
		}
	}
	ssh("mkdir -p " + remote)
	b.Cleanup(func() { _ = r.SSHCommand(ctx, node.Name, nil, "rm -rf "+remote).Run() })
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N*overheadJobs; i++ {
		d := fmt.Sprintf("%s/%d", remote, i)
		ssh("mkdir -p " + d)
		scp(script, node.Name+":"+d+"/job.sh")
		ssh("cd " + d + " && setsid sh job.sh </dev/null >job.log 2>&1 &")
		ssh("cd " + d + " && while [ ! -e exit ]; do sleep 0.05; done")
		scp(node.Name+":"+d+"/out.json", filepath.Join(local, fmt.Sprintf("out-%d.json", i)))
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N*overheadJobs), "s/job")
}
