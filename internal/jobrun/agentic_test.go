package jobrun

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
)

// An agentic job replays its shipped trace against the server for its
// duration and leaves InferenceX's agentic row as its result.
func TestAgenticJobWritesItsRow(t *testing.T) {
	dir := workDir(t)
	trace, err := os.ReadFile(filepath.Join("..", "agentic", "trace", "testdata", "cc.jsonl"))
	must(t, err)
	must(t, os.MkdirAll(filepath.Join(dir, "traces"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, filepath.FromSlash(jobspec.AgenticTracePath)), trace, 0o644))
	j := testJob(freePort(t), "sim")
	j.ISL, j.OSL, j.NumPrompts, j.MaxModelLen = 0, 0, 0, 0
	j.Agentic = &jobspec.Agentic{Trace: jobspec.AgenticTracePath, Duration: jobspec.Duration(3 * time.Second)}
	out, err := run(t, dir, j)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, ResultPath(j)))
	must(t, err)
	var row struct {
		ScenarioType string `json:"scenario_type"`
		Conc         int    `json:"conc"`
		Total        int    `json:"num_requests_total"`
	}
	must(t, json.Unmarshal(b, &row))
	if row.ScenarioType != "agentic-coding" || row.Conc != j.Conc || row.Total == 0 {
		t.Errorf("row: %s", b)
	}
	if !strings.Contains(out.String(), "Agentic Replay Result") {
		t.Errorf("no replay summary in the job's output:\n%s", out)
	}
}

// A dataset the node's HF cache lacks is refused with what to run.
func TestAgenticDatasetMissingFromTheCache(t *testing.T) {
	j := testJob(freePort(t), "sim")
	j.HFHome = t.TempDir()
	j.Agentic = &jobspec.Agentic{Dataset: "org/traces", Duration: jobspec.Duration(time.Second)}
	_, err := run(t, workDir(t), j)
	if code(err) != jobspec.ExitBadEnv || !strings.Contains(err.Error(), "hf download --repo-type dataset org/traces") {
		t.Errorf("ended with %v (code %d)", err, code(err))
	}
}
