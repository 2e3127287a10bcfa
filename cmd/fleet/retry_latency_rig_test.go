package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/ssh"
	"github.com/fleetbench/fleet/internal/testrig"
)

// TestFaultLinkCutRetryWaitsOnlyForDetectionAndDelay cuts the link of the
// node a job runs on. The controller notices within its keepalive bound;
// from then on, the job's retry on the other node waits for the retry
// delay alone: the cancel and the log fetch, which cannot connect to the
// cut node (10s each), run in the background. The bounds come from the
// journal's timestamps, with generous slack: before, the failure was
// recorded only after both connects had timed out, about 20s later.
func TestFaultLinkCutRetryWaitsOnlyForDetectionAndDelay(t *testing.T) {
	r := testrig.Load(t)
	const (
		// detect: keepalives every 3s, the connection killed after 3
		// unanswered ones, plus up to one interval before the first.
		detect = ssh.DefaultKeepaliveInterval * (ssh.DefaultKeepaliveCountMax + 1)
		delay  = 5 * time.Second // the engine's retry delay for a first retry
		slack  = 5 * time.Second
	)
	inv := rigInventory(t, r, "")
	dir := t.TempDir()
	sweep := filepath.Join(dir, "cut.hcl")
	// One job of about 10s of benchmark on node2 or node3.
	os.WriteFile(sweep, []byte(faultSweep(`["node2", "node3"]`, "40ms", 120, []int{2}, 2)), 0o644)
	runID := "cut-retry"
	run := startRigSweep(t, r, sweep, inv, dir, runID)
	jpath := filepath.Join(dir, runID, "journal.jsonl")
	e := waitForState(t, jpath, journal.StateRunning, 90*time.Second)
	victim := e.Node
	cut := time.Now()
	r.LinkDown(t, victim)
	<-run.done
	if run.code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", run.code, run.stdout, run.stderr)
	}
	entries, err := journal.Read(jpath)
	if err != nil {
		t.Fatal(err)
	}
	var failed, retrying, again, finished *journal.Entry
	for i := range entries {
		en := &entries[i]
		if en.Job != e.Job {
			continue
		}
		switch {
		case en.State == journal.StateFailed && en.Node == victim && failed == nil:
			failed = en
		case en.State == journal.StateRetrying && en.Node == victim && retrying == nil:
			retrying = en
		case en.State == journal.StatePreparing && en.Attempt == 2:
			again = en
		case en.State == journal.StateDone:
			finished = en
		}
	}
	var b strings.Builder
	for _, en := range entries {
		fmt.Fprintf(&b, "%s %s %s %d %s %s\n", en.Time.Format("15:04:05.000"), en.Job, en.Node, en.Attempt, en.State, en.Reason)
	}
	if failed == nil || retrying == nil || again == nil || finished == nil {
		t.Fatalf("want the attempt on %s failed, retried and the job done; journal (cut at %s):\n%s", victim, cut.Format("15:04:05.000"), &b)
	}
	if finished.Node == victim || again.Node == victim {
		t.Errorf("the retry ran on %s, the cut node", again.Node)
	}
	if !(!failed.Time.Before(cut) && !retrying.Time.Before(failed.Time) && !again.Time.Before(retrying.Time) && !finished.Time.Before(again.Time)) {
		t.Errorf("journal out of order: cut, failed, retrying, preparing, done expected:\n%s", &b)
	}
	if d := failed.Time.Sub(cut); d > detect+slack {
		t.Errorf("the attempt was recorded failed %s after the cut; want within the detection bound %s (+%s slack): the cancel and fetch must not come first\n%s", d.Round(time.Millisecond), detect, slack, &b)
	}
	if d := again.Time.Sub(cut); d > detect+delay+slack {
		t.Errorf("the retry started %s after the cut; want within detection %s + retry delay %s (+%s slack)\n%s", d.Round(time.Millisecond), detect, delay, slack, &b)
	}
	t.Logf("cut %s: failed +%s, retry preparing +%s, done +%s", cut.Format("15:04:05.000"),
		failed.Time.Sub(cut).Round(time.Millisecond), again.Time.Sub(cut).Round(time.Millisecond), finished.Time.Sub(cut).Round(time.Millisecond))
}
