package live

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBoardCountsStatesAndEstimatesTimeLeft(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	b := New(4, 2, c.now)
	b.Observe(journal.Entry{Job: "a", Node: "n1", State: journal.StatePreparing})
	b.Observe(journal.Entry{Job: "b", Node: "n2", State: journal.StatePreparing})
	c.t = c.t.Add(10 * time.Second)
	b.Observe(journal.Entry{Job: "a", Node: "n1", State: journal.StateDone})
	b.Observe(journal.Entry{Job: "b", Node: "n2", State: journal.StateRunning})
	b.Observe(journal.Entry{Job: "c", Node: "n1", State: journal.StatePreparing})
	done, running, queued, failed := b.counts()
	if done != 1 || running != 2 || queued != 1 || failed != 0 {
		t.Fatalf("counts = %d %d %d %d, want 1 done, 2 running, 1 queued, 0 failed", done, running, queued, failed)
	}
	// One 10 s attempt so far; 1 queued + 2 running/2 = 2 jobs' worth over 2 machines.
	if eta, ok := b.eta(); !ok || eta != 10*time.Second {
		t.Fatalf("ETA = %v, %v; want 10s", eta, ok)
	}
	b.Observe(journal.Entry{Job: "c", Node: "n1", State: journal.StateFailed, Reason: "server died"})
	var out bytes.Buffer
	b.Render(&out)
	s := out.String()
	for _, want := range []string{"failed c on n1: server died", "jobs 1/4 done, 1 running, 1 queued, 1 failed", "n2", "running   b"} {
		if !strings.Contains(s, want) {
			t.Errorf("board lacks %q:\n%s", want, s)
		}
	}
	out.Reset()
	b.Render(&out)
	if !strings.HasPrefix(out.String(), "\x1b[3A\x1b[J") {
		t.Errorf("second render should erase the 3 lines drawn before: %q", out.String())
	}
	if strings.Contains(out.String(), "server died") {
		t.Errorf("failure note printed twice")
	}
}

func TestBoardShowsARunningJobsProgress(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	b := New(1, 1, c.now)
	b.Observe(journal.Entry{Job: "a", Node: "n1", State: journal.StatePreparing})
	b.Observe(journal.Entry{Job: "a", Node: "n1", State: journal.StateRunning})
	b.ObserveProgress("a", jobspec.Progress{Phase: jobspec.PhaseBenchmark, Done: 120, Total: 640, TokensPerSec: 5123, Failed: 2})
	c.t = c.t.Add(40 * time.Second)
	var out bytes.Buffer
	b.Render(&out)
	if want := "running   a 40s  benchmark 120/640 req, 5123 tok/s, 2 failed"; !strings.Contains(out.String(), want) {
		t.Errorf("board lacks %q:\n%s", want, out.String())
	}
	// A finished job's progress is gone with it.
	b.Observe(journal.Entry{Job: "a", Node: "n1", State: journal.StateDone})
	out.Reset()
	b.Render(&out)
	if strings.Contains(out.String(), "req") {
		t.Errorf("progress of a done job still shown:\n%s", out.String())
	}
}
