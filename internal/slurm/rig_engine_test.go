package slurm_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/engine"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/slurm"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

var agent struct {
	once sync.Once
	dir  string
	err  error
}

// agentDir builds the fleet binary the jobs run (simulator and client),
// once per test binary.
func agentDir(t *testing.T) string {
	t.Helper()
	agent.once.Do(func() {
		dir, err := os.MkdirTemp("", "fleet-slurm-agent-")
		if err != nil {
			agent.err = err
			return
		}
		bin := filepath.Join(dir, fmt.Sprintf("fleet-%s-%s", runtime.GOOS, runtime.GOARCH))
		cmd := exec.Command("go", "build", "-o", bin, "../../cmd/fleet")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			agent.err = fmt.Errorf("build fleet for the jobs: %v\n%s", err, out)
			return
		}
		agent.dir = dir
	})
	if agent.err != nil {
		t.Fatal(agent.err)
	}
	return agent.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if agent.dir != "" {
		os.RemoveAll(agent.dir)
	}
	os.Exit(code)
}

// The demo sweep (framework "sim": fleet's simulator behind vLLM's wire
// format, fleet's benchmark client) runs through sbatch on the cluster,
// driven by the engine as `fleet sweep` drives it: preflight, submit up to
// max_nodes jobs at once, follow, fetch, aggregate, clean up.
func TestDemoSweepRunsThroughSbatch(t *testing.T) {
	t.Parallel()
	bins := agentDir(t)
	// One cluster after the other: the rig's two clusters share their
	// nodes, and the engine gives both runs the same ports.
	for _, name := range rigClusters {
		t.Run(name, func(t *testing.T) {
			rc := newCluster(t, name, true, func(o *slurm.Options) { o.Poll = time.Second })
			dir := t.TempDir()
			inv := filepath.Join(dir, "inventory.hcl")
			os.WriteFile(inv, []byte(fmt.Sprintf(`cluster %q {
  login         = "local"
  gpu           = "h200"
  gpus_per_node = 8
  max_nodes     = 2
  workdir       = %q
  env           = { SLURM_CONF = %q }
}
`, name, rc.opts.WorkDir, rc.c.SlurmConf)), 0o644)
			demo, err := os.ReadFile("../../sweeps/demo.hcl")
			if err != nil {
				t.Fatal(err)
			}
			sweepPath := filepath.Join(dir, "demo.hcl")
			os.WriteFile(sweepPath, bytes.Replace(demo, []byte(`runner       = "local"`), []byte(`runner       = "`+name+`"`), 1), 0o644)

			loader := config.NewLoader(nil)
			in, diags := loader.Inventory(inv, true)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			sw, diags := loader.Sweep(sweepPath, in)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			placed, err := plan.Place(plan.Expand(sw), in, plan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(placed.Jobs) != 3 {
				t.Fatalf("%d jobs placed, want the demo's 3", len(placed.Jobs))
			}
			// The machine comes from fleet's one factory, as in `fleet
			// sweep`; its login connection is watched to count sbatch calls.
			var host *countingHost
			m, err := machine.Open(context.Background(), in, name, machine.Options{
				SlurmOptions: func(o *slurm.Options) { o.Poll, o.CancelWait = time.Second, time.Minute },
				WrapHost: func(h shelltarget.Host) shelltarget.Host {
					host = &countingHost{Host: h, calls: map[string]int{}}
					return host
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Target.Close()
			if m.Capacity() != 2 {
				t.Errorf("capacity %d, want the cluster's max_nodes 2", m.Capacity())
			}
			rd, err := run.Create(filepath.Join(dir, "results"), run.Info{RunID: "demo-" + name})
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			var logs bytes.Buffer
			eng := engine.New([]*machine.Machine{m}, engine.Options{
				Run: rd, Retries: sw.Retries,
				Backoff: time.Second, Timeouts: sw.Timeouts, Binaries: &agentbin.Finder{Explicit: bins},
				Logger: log.NewWithOptions(&syncWriter{w: &logs}, log.Options{Level: log.InfoLevel}),
			})
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			sum, err := eng.Run(ctx, placed.Jobs)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, logs.String())
			}
			if sum.Failed != 0 || len(sum.Rows) != 3 {
				for _, o := range sum.Jobs {
					t.Logf("%s: %s %s", o.Job, o.State, o.Reason)
				}
				t.Fatalf("failed=%d rows=%d, want 0 and 3\n%s", sum.Failed, len(sum.Rows), logs.String())
			}
			for _, r := range sum.Rows {
				if r.TputPerGPU <= 0 || r.Metrics["median_ttft"] <= 0 || r.Failed != 0 {
					t.Errorf("implausible row: %+v", r)
				}
			}
			// Every job went through sbatch, at most max_nodes at a time.
			if n := host.count("sbatch"); n < 3 {
				t.Errorf("%d sbatch calls for 3 jobs", n)
			}
			jobs, _ := filepath.Glob(filepath.Join(dir, "results", "demo-"+name, "jobs", "*", "job.log"))
			if len(jobs) != 3 {
				t.Errorf("fetched job logs: %v", jobs)
			}
			left, _ := filepath.Glob(filepath.Join(rc.opts.WorkDir, "demo-"+name, "*", "*"))
			if len(left) != 0 {
				t.Errorf("work directories left behind: %v", left)
			}
			if !strings.Contains(logs.String(), "job done") {
				t.Errorf("engine log:\n%s", logs.String())
			}
		})
	}
}

// syncWriter serialises the engine's log lines from many goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
