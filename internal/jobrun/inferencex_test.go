package jobrun

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
)

// ixWorkDir is a work directory with the real InferenceX launcher and
// its libraries, and a bundle of the given scripts.
func ixWorkDir(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"server/inferencex.sh", "lib/runtime.sh", "lib/gpu.sh", "lib/exitcodes.sh"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "scripts", p))
		must(t, err)
		must(t, os.MkdirAll(filepath.Join(dir, "scripts", filepath.Dir(p)), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "scripts", p), b, 0o755))
	}
	f, err := os.Create(filepath.Join(dir, "bundle.tar"))
	must(t, err)
	tw := tar.NewWriter(f)
	for name, body := range scripts {
		must(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(body))
		must(t, err)
	}
	must(t, tw.Close())
	must(t, f.Close())
	return dir
}

// TestInferenceXTimeouts: a script whose server never answers ends with
// the health timeout, one whose benchmark never ends with the benchmark
// timeout; either way nothing it started is left.
func TestInferenceXTimeouts(t *testing.T) {
	self, err := os.Executable()
	must(t, err)
	const hang = "#!/usr/bin/env bash\necho $$ > script.pid\nsleep 300\n"
	// The test binary serves (FAKE_SERVER=sim) in the background; the
	// client never comes.
	const serve = "#!/usr/bin/env bash\necho $$ > script.pid\n\"$SERVER_BIN\" > server.log 2>&1 &\nsleep 300\n"
	tests := []struct {
		name, script string
		health       time.Duration
		want         int
		pidFiles     []string
	}{
		{"no server", hang, time.Second, jobspec.ExitHealthTimeout, []string{"script.pid"}},
		{"no end to the benchmark", serve, 30 * time.Second, jobspec.ExitBenchTimeout, []string{"script.pid", "fake.pid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			script := "benchmarks/single_node/fixed_seq_len/x_fp8_h200.sh"
			dir := ixWorkDir(t, map[string]string{script: tt.script})
			j := testJob(freePort(t), "sim")
			j.HealthTimeout, j.BenchTimeout = jobspec.Duration(tt.health), jobspec.Duration(time.Second)
			j.Runtime = "none"
			j.InferenceX = &jobspec.InferenceX{Bundle: "bundle.tar", Workspace: "ix", Script: script, Client: jobspec.ClientInferenceX,
				ResultFilename: "res", Env: map[string]string{"SERVER_BIN": self, "MODEL": "sim-model"}}
			must(t, j.Validate())
			out, err := run(t, dir, j)
			if code(err) != tt.want {
				t.Fatalf("exit %d (%v), want %d; log:\n%s", code(err), err, tt.want, out)
			}
			if !strings.Contains(err.Error(), script) {
				t.Errorf("reason %q does not name the script", err)
			}
			for _, pf := range tt.pidFiles {
				b, err := os.ReadFile(filepath.Join(dir, "ix", pf))
				must(t, err)
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				// A killed process may take a moment to go.
				for deadline := time.Now().Add(5 * time.Second); alive(pid) && time.Now().Before(deadline); {
					time.Sleep(20 * time.Millisecond)
				}
				if alive(pid) {
					t.Errorf("%s (pid %d) still runs after the job ended", pf, pid)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "results", "res.json")); err == nil {
				t.Errorf("a result after a timeout")
			}
		})
	}
}

func TestScriptZone(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, tt := range []struct{ runtime, want string }{{"docker", "0"}, {"enroot", "3600"}, {"none", "3600"}, {"", "3600"}} {
		if got := scriptZone(tt.runtime, now); got != tt.want {
			t.Errorf("runtime %q: %s, want %s", tt.runtime, got, tt.want)
		}
	}
}
