package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/log"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/target"
)

// hostileText retitles the terminal and clears it when printed raw.
const hostileText = "\x1b]0;pwned\x07\x1b[2J"

// hostileNode is a machine whose job prints escape sequences, leaves a
// server.log ending in a huge line full of them, and fails.
type hostileNode struct {
	*scriptedTarget
}

func (h hostileNode) Logs(_ context.Context, _ target.Handle, w io.Writer) error {
	_, err := io.WriteString(w, "loading "+hostileText+"model\n")
	return err
}

func (h hostileNode) Fetch(_ context.Context, _ target.Handle, _ []string, dir string) ([]string, error) {
	p := filepath.Join(dir, "logs", "server.log")
	os.MkdirAll(filepath.Dir(p), 0o755)
	return []string{"logs/server.log"}, os.WriteFile(p, []byte("ok\nboom "+strings.Repeat(hostileText, 1<<14)+"\n"), 0o644)
}

func TestWhatANodeSaysReachesTheJournalAndTheTextLogSanitisedAndCapped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ran    bool // the job started, so its output was logged
		behave func(string, int) (target.Exit, error)
	}{
		{"a server.log's last line", true, func(string, int) (target.Exit, error) {
			return target.Exit{Code: jobspec.ExitServerExited}, nil
		}},
		{"a start error carrying a huge stderr", false, func(string, int) (target.Exit, error) {
			return target.Exit{}, errors.New("stderr: " + strings.Repeat(hostileText+"line\n", 1<<16))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := newScripted("n", tc.behave)
			results := t.TempDir()
			var logged bytes.Buffer
			e := newEngine(t, results, Options{Retries: 0}, node)
			e.machines[0].Target = hostileNode{node}
			e.log = log.NewWithOptions(&logged, log.Options{Level: log.DebugLevel, Formatter: log.TextFormatter})
			sum, err := e.Run(context.Background(), jobsFor(1, "n"))
			if err != nil {
				t.Fatal(err)
			}
			if sum.Failed != 1 {
				t.Fatalf("want the job failed, got %+v", sum.Jobs)
			}
			entries, err := e.opts.Run.Entries()
			if err != nil {
				t.Fatal(err)
			}
			reasons := 0
			for _, en := range entries {
				if en.Reason == "" {
					continue
				}
				reasons++
				if len(en.Reason) > MaxReason {
					t.Errorf("journalled reason is %d bytes, over %d", len(en.Reason), MaxReason)
				}
				if strings.ContainsAny(en.Reason, "\x1b\x07\n") {
					t.Errorf("journalled reason holds raw control characters: %q", en.Reason)
				}
			}
			if reasons == 0 {
				t.Fatal("no reason journalled")
			}
			if out := logged.String(); strings.ContainsAny(out, "\x1b\x07") {
				t.Errorf("text log holds raw escape sequences:\n%q", out)
			}
			if tc.ran && !strings.Contains(logged.String(), "loading model") {
				t.Errorf("the job's output line is missing from the debug log:\n%s", logged.String())
			}
		})
	}
}
