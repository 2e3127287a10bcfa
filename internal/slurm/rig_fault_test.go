package slurm_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/target"
)

// killLeftovers ends this test's own processes that outlived their node
// in the rig (a real lost node takes them with it), by pid.
func killLeftovers(t *testing.T, marker string) {
	for _, l := range leftovers(marker) {
		pid, err := strconv.Atoi(strings.SplitN(l, ":", 2)[0])
		if err == nil && pid > 1 && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// A node lost mid-job: where the cluster requeues (JobRequeue=1, "rig"),
// Wait follows the job through its second run and the result is that
// run's, once; where it does not ("rignoacct"), the job ends NODE_FAIL,
// which the engine retries. Not parallel: it stops a slurmd, and waits for
// every other test of the rig to leave that node first.
func TestANodeLostMidJob(t *testing.T) {
	for _, tc := range []struct {
		cluster string
		requeue bool
	}{
		{"rig", true},
		{"rignoacct", false},
	} {
		t.Run(tc.cluster, func(t *testing.T) {
			rc := newCluster(t, tc.cluster, false, nil)
			if rc.c.JobRequeue != tc.requeue {
				t.Fatalf("rig cluster %s has JobRequeue=%v, this test expects %v", tc.cluster, rc.c.JobRequeue, tc.requeue)
			}
			marker := fmt.Sprintf("fleet-nodefail-marker-%d-%s", os.Getpid(), tc.cluster)
			t.Cleanup(func() { killLeftovers(t, marker) })
			// The first run writes a partial result and hangs; a rerun
			// writes its own and ends.
			h := rc.submit(t, shSpec(t, 1, `run=${SLURM_RESTART_COUNT:-0}
echo "run $run on $SLURMD_NODENAME"
mkdir -p results
echo "{\"run\": $run}" > results/r.json
if [ "$run" = 0 ]; then sleep 600; : `+marker+`; fi
echo "run $run done"`))
			rc.waitState(t, h, "RUNNING", 2*time.Minute)
			node, err := rc.rig.Slurm(t, tc.cluster, "squeue", "-h", "-j", h.Ref, "-o", "%N")
			node = strings.TrimSpace(node)
			if err != nil || node == "" {
				t.Fatalf("node of job %s: %q %v", h.Ref, node, err)
			}
			waitDone := make(chan target.Exit, 1)
			waitErr := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
				defer cancel()
				ex, err := rc.tg.Wait(ctx, h)
				if err != nil {
					waitErr <- err
					return
				}
				waitDone <- ex
			}()
			t.Logf("stopping slurmd on %s, where Slurm job %s runs", node, h.Ref)
			rc.rig.StopSlurmd(t, tc.cluster, node)

			var ex target.Exit
			select {
			case ex = <-waitDone:
			case err := <-waitErr:
				t.Fatalf("wait: %v\n%s", err, rc.jobInfo(t, h))
			case <-time.After(9 * time.Minute):
				t.Fatalf("wait did not return\n%s", rc.jobInfo(t, h))
			}
			t.Logf("job ended: %+v", ex)
			if !tc.requeue {
				if ex.State != "NODE_FAIL" || ex.OK() {
					t.Fatalf("exit = %+v, want State NODE_FAIL\n%s", ex, rc.jobInfo(t, h))
				}
				return
			}
			if !ex.OK() {
				t.Fatalf("the requeued job did not succeed: %+v\n%s", ex, rc.jobInfo(t, h))
			}
			log := readFile(t, h, "job.log")
			if !strings.Contains(log, "requeued by Slurm") || !strings.Contains(log, "run 1 done") {
				t.Errorf("the log shows no second run:\n%s", log)
			}
			if got := strings.TrimSpace(readFile(t, h, "results/r.json")); got != `{"run": 1}` {
				t.Errorf("result = %s, want the second run's only", got)
			}
		})
	}
}
