package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The sweep's on_finish hook runs once the sweep ends, with the run's
// summary as JSON on stdin and the run and exit code in its environment;
// a failing hook changes nothing of the sweep's outcome.
func TestOnFinishHookReceivesTheSummary(t *testing.T) {
	for _, tc := range []struct {
		name, hook string
	}{
		{"a hook that records what it got", `cat > "$HOOK_OUT"; echo "$FLEET_RUN_ID $FLEET_EXIT" > "$HOOK_OUT.env"`},
		{"a hook that fails", `cat > "$HOOK_OUT"; exit 7`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "hook.json")
			settings := "settings {\n  on_finish = [\"sh\", \"-c\", " + strconvQuote(tc.hook) + "]\n}"
			p := filepath.Join(dir, "broken.hcl")
			if err := os.WriteFile(p, []byte(strings.Replace(brokenSweep, "%s", settings, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("HOOK_OUT", out)
			code, _, stderr := runFleet(t, map[string]string{"XDG_CACHE_HOME": filepath.Join(dir, "cache")},
				"sweep", p, "--results", dir, "--run-id", "r", "--agent-dir", agentDir, "--log-format", "logfmt", "--retries", "0", "--fail-fast")
			if code != ExitFailed {
				t.Fatalf("exit %d, want %d (the hook never changes it)\n%s", code, ExitFailed, stderr)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("the hook did not run: %v\n%s", err, stderr)
			}
			var sum struct {
				RunID  string `json:"run_id"`
				Failed int    `json:"failed"`
			}
			if err := json.Unmarshal(b, &sum); err != nil || sum.RunID != "r" || sum.Failed == 0 {
				t.Errorf("hook's stdin: %s (%v)", b, err)
			}
			if env, err := os.ReadFile(out + ".env"); err == nil && strings.TrimSpace(string(env)) != "r 3" {
				t.Errorf("hook's environment: %q, want \"r 3\"", env)
			}
			if strings.Contains(tc.name, "fails") && !strings.Contains(stderr, "on_finish hook failed") {
				t.Errorf("a failing hook is not reported:\n%s", stderr)
			}
		})
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }
