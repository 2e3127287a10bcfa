package run

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/journal"
)

func TestLoadRefusesARunIdThatIsNotOnePlainPathElement(t *testing.T) {
	for _, tc := range []struct {
		name, file, body string
	}{
		{"run.json names a parent directory", InfoFile, `{"run_id":"../../x"}`},
		{"summary.json names an absolute path", SummaryFile, `{"run_id":"/tmp/x","jobs":[]}`},
		{"run.json names an id with an escape sequence", InfoFile, `{"run_id":"r\u001b]0;pwned\u0007"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "copied")
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.body), 0o644)
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), "run id") {
				t.Fatalf("Load = %v, want a refused run id", err)
			}
		})
	}
}

func TestLoadReadsNoResultOutsideTheRunDirectory(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(root, "secret.json")
	os.WriteFile(outside, []byte(`{"hw":"stolen","tp":1,"tput_per_gpu":1}`), 0o644)
	dir := filepath.Join(root, "results", "r")
	os.MkdirAll(dir, 0o755)
	j, err := journal.Open(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	j.Append(journal.Entry{Job: "a", State: journal.StateDone, Result: "../../secret.json"})
	j.Close()
	rec, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rows := rec.Rows["a"]; rows != nil {
		t.Fatalf("a journal's result path led outside the run: rows %+v", rows)
	}
}
