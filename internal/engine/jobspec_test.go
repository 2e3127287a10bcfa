package engine

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/target"
)

// TestExitCodesDecideRetryAndBlame: the exit code table says whether a
// failed job is tried again and whether its machine is to blame.
func TestExitCodesDecideRetryAndBlame(t *testing.T) {
	tests := []struct {
		code    int
		retried bool
		blamed  bool
		reason  string
	}{
		{jobspec.ExitPortClash, true, false, "address already in use"},
		{jobspec.ExitGPUsBusy, true, true, "GPUs were busy"},
		{jobspec.ExitDownload, true, true, "model download failed"},
		{jobspec.ExitImageImport, true, true, "image import failed"},
		{jobspec.ExitServerExited, false, false, "server exited before it became healthy"},
		{jobspec.ExitServerDied, false, false, "server died during the benchmark: boom"},
		{42, false, false, "job script failed: exit 42"},
	}
	for _, tt := range tests {
		t.Run(jobspec.Describe(tt.code), func(t *testing.T) {
			dir := t.TempDir()
			bad := &logTarget{scriptedTarget: newScripted("a", func(_ string, attempt int) (target.Exit, error) {
				if attempt == 1 {
					return target.Exit{Code: tt.code}, nil
				}
				return target.Exit{}, nil
			}), serverLog: "loading\nboom\n"}
			e := newEngine(t, dir, Options{Retries: 1, SetAsideAfter: 1}, bad.scriptedTarget)
			e.machines[0].Target = bad
			sum, err := e.Run(context.Background(), jobsFor(1, "a"))
			if err != nil {
				t.Fatal(err)
			}
			o := sum.Jobs[0]
			entries, _ := e.opts.Run.Entries()
			var reason string
			retried := false
			for _, en := range entries {
				if reason == "" && (en.State == journal.StateFailed || en.State == journal.StateRetrying) {
					reason = en.Reason
				}
				retried = retried || en.State == journal.StateRetrying
			}
			if retried != tt.retried {
				t.Errorf("retried %v, want %v (%s: %s)", retried, tt.retried, o.State, o.Reason)
			}
			if !strings.Contains(reason, tt.reason) {
				t.Errorf("reason %q, want %q", reason, tt.reason)
			}
			// With SetAsideAfter 1, blaming the machine leaves nowhere to retry.
			if tt.retried && (o.State == journal.StateDone) == tt.blamed {
				t.Errorf("state %s after a retry: machine blamed should be %v", o.State, tt.blamed)
			}
		})
	}
}

// logTarget writes a server.log into what it fetches.
type logTarget struct {
	*scriptedTarget
	serverLog string
}

func (l *logTarget) Fetch(ctx context.Context, h target.Handle, paths []string, dir string) ([]string, error) {
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	os.WriteFile(filepath.Join(dir, "logs", "server.log"), []byte(l.serverLog), 0o644)
	return l.scriptedTarget.Fetch(ctx, h, paths, dir)
}

// TestSpecCarriesTheJobFile: the spec pushes the job file, and the
// environment is the one the job file derives.
func TestSpecCarriesTheJobFile(t *testing.T) {
	var mu sync.Mutex
	var specs []*target.Spec
	s := newScripted("p", ok)
	e := newEngine(t, t.TempDir(), Options{}, s)
	e.machines[0].Env = map[string]string{"NODE_VAR": "1"}
	e.machines[0].Target = &recordingTarget{scriptedTarget: s, onStart: func(sp *target.Spec) { mu.Lock(); specs = append(specs, sp); mu.Unlock() }}
	jobs := jobsFor(1, "p")
	jobs[0].ClientArgs = []string{"--seed", "3"}
	if _, err := e.Run(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 {
		t.Fatalf("%d specs", len(specs))
	}
	sp := specs[0]
	var file *target.File
	for i := range sp.Files {
		if sp.Files[i].Path == jobspec.Path {
			file = &sp.Files[i]
		}
	}
	if file == nil || file.Mode != 0o644 {
		t.Fatalf("no job file %s (mode 0644) among %d files", jobspec.Path, len(sp.Files))
	}
	path := filepath.Join(t.TempDir(), "job.json")
	if err := os.WriteFile(path, file.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := jobspec.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(j.Env(), sp.Env) {
		b, _ := json.Marshal(sp.Env)
		t.Errorf("spec env differs from the job file's:\n%s", b)
	}
	if j.Port < 8000 || j.Node != "p" || j.ExtraEnv["NODE_VAR"] != "1" || strings.Join(j.ClientArgs, " ") != "--seed 3" || j.HealthTimeout <= 0 {
		t.Errorf("job file %+v", j)
	}
}

// progressTarget streams a log with progress lines among others.
type progressTarget struct{ *scriptedTarget }

func (p *progressTarget) Logs(_ context.Context, _ target.Handle, w io.Writer) error {
	io.WriteString(w, "[fleet-job 10:00:00] starting\n"+jobspec.FormatProgress(jobspec.Progress{Phase: jobspec.PhaseBenchmark, Done: 3, Total: 40})+"\n")
	io.WriteString(w, jobspec.FormatProgress(jobspec.Progress{Phase: jobspec.PhaseDone})+"\nbye\n")
	return nil
}

func TestProgressLinesReachOnProgress(t *testing.T) {
	s := newScripted("a", ok)
	var mu sync.Mutex
	var got []string
	e := newEngine(t, t.TempDir(), Options{OnProgress: func(job string, p jobspec.Progress) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, job+" "+p.Phase)
	}}, s)
	e.machines[0].Target = &progressTarget{s}
	jobs := jobsFor(1, "a")
	if _, err := e.Run(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := jobs[0].ID + " " + jobspec.PhaseBenchmark + "," + jobs[0].ID + " " + jobspec.PhaseDone
	if strings.Join(got, ",") != want {
		t.Errorf("progress seen %q, want %q", got, want)
	}
}
