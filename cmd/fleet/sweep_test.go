package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/results"
)

func TestDemoSweepRunsEndToEndOnThisMachine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo sweep (about a minute)")
	}
	dir := t.TempDir()
	work := t.TempDir()
	code, stdout, stderr := runFleet(t, map[string]string{"XDG_CACHE_HOME": work},
		"sweep", "--agent-dir", agentDir, "--results", dir, "--run-id", "demo", "--json", "--log-format", "logfmt")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var sum struct {
		Done, Failed int
		Jobs         []struct{ Job, State string }
		Rows         []*results.Row
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if sum.Done != 3 || sum.Failed != 0 || len(sum.Rows) != 3 {
		t.Fatalf("done=%d failed=%d rows=%d, want 3/0/3", sum.Done, sum.Failed, len(sum.Rows))
	}
	for _, r := range sum.Rows {
		if r.TputPerGPU <= 0 || r.Metrics["median_ttft"] <= 0 || r.Metrics["median_intvty"] <= 0 || r.Failed != 0 {
			t.Errorf("implausible row: %+v", r)
		}
	}
	run := filepath.Join(dir, "demo")
	for _, j := range sum.Jobs {
		jd := filepath.Join(run, "jobs", j.Job)
		for _, f := range []string{"row.json", "job.log", "logs/server.log", "logs/client.log"} {
			if _, err := os.Stat(filepath.Join(jd, f)); err != nil {
				t.Errorf("job %s: %v", j.Job, err)
			}
		}
		matches, _ := filepath.Glob(filepath.Join(jd, "results", "sim70b_1k256_fp8_sim_tp8-ep1-dpafalse_conc*_local.json"))
		if len(matches) != 1 {
			t.Errorf("job %s: raw client result with InferenceMAX's name not found", j.Job)
		}
	}
	server, _ := os.ReadFile(filepath.Join(run, "jobs", sum.Jobs[0].Job, "logs", "server.log"))
	if !strings.Contains(string(server), "Application startup complete.") {
		t.Errorf("server log lacks vLLM's readiness line:\n%s", server)
	}
	// Successful jobs leave no work directory behind.
	left, _ := filepath.Glob(filepath.Join(work, "fleet", "work", "demo", "*", "*"))
	if len(left) != 0 {
		t.Errorf("work directories left behind: %v", left)
	}
}

func TestSweepRejectsABrokenSweepWithADiagnostic(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte("config \"x\" {\n  framwork = \"vllm\"\n}\n"), 0o644)
	results := filepath.Join(dir, "results")
	code, _, stderr := runFleet(t, nil, "sweep", bad, "--results", results)
	if code != ExitError {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitError, stderr)
	}
	if !strings.Contains(stderr, "bad.hcl:2") || !strings.Contains(stderr, "framework") {
		t.Fatalf("diagnostic should point at bad.hcl:2 and suggest framework:\n%s", stderr)
	}
	// Nothing was made for a sweep that never ran.
	if _, err := os.Stat(results); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a rejected sweep left %s behind (%v)", results, err)
	}
}

func TestASecondControllerOnARunningRunExitsNamingTheHolder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo sweep")
	}
	dir, work := t.TempDir(), t.TempDir()
	env := func(k string) string {
		if k == "XDG_CACHE_HOME" {
			return work
		}
		return os.Getenv(k)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := &App{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: env, Environ: os.Environ}
	done := make(chan int, 1)
	go func() {
		done <- first.Run(ctx, []string{"sweep", "--agent-dir", agentDir, "--results", dir, "--run-id", "busy", "--log-format", "logfmt"})
	}()
	journal := filepath.Join(dir, "busy", "journal.jsonl")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if st, err := os.Stat(journal); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first sweep never started its journal")
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "busy", "run.json"))
	for _, args := range [][]string{
		{"sweep", "--resume", "busy", "--results", dir},
		{"sweep", "--rerun-failed", "busy", "--results", dir},
	} {
		code, _, stderr := runFleet(t, map[string]string{"XDG_CACHE_HOME": work}, args...)
		host, _ := os.Hostname()
		if code != ExitError || !strings.Contains(stderr, fmt.Sprintf("pid %d on host %s", os.Getpid(), host)) {
			t.Errorf("%v: exit %d, want %d naming the holder:\n%s", args, code, ExitError, stderr)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "busy", "run.json"))
	if string(before) != string(after) {
		t.Errorf("run.json changed under the running controller")
	}
	cancel()
	if code := <-done; code != ExitCancelled {
		t.Errorf("first sweep: exit %d after cancel, want %d", code, ExitCancelled)
	}
}
