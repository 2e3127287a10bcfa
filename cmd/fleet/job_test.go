package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
)

// TestJobCommand checks fleet job's wiring: the job file it reads and the
// exit codes of the table. Whole runs are internal/jobrun's and
// internal/scriptstest's tests.
func TestJobCommand(t *testing.T) {
	valid := &jobspec.Job{JobID: "j", Model: "m", Framework: "nope", TP: 1, Conc: 1, ISL: 8, OSL: 8, MaxModelLen: 32,
		NumPrompts: 1, ResultFilename: "r", Port: 8000, HealthTimeout: jobspec.Duration(time.Second), BenchTimeout: jobspec.Duration(time.Second)}
	tests := []struct {
		name    string
		file    string // written at .fleet/job.json unless empty
		args    []string
		wantErr string
	}{
		{name: "no job file", wantErr: "read job file"},
		{name: "a job file with a bad field", file: `{"job_id":"j","port":0}`, wantErr: "port: 0"},
		{name: "a framework without a launcher", file: "valid", wantErr: `no server launcher for framework "nope"`},
		{name: "a job file named on the command line", file: "valid", args: []string{"other.json"}, wantErr: "other.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			switch tt.file {
			case "":
			case "valid":
				if err := valid.Write(filepath.Join(dir, jobspec.Path)); err != nil {
					t.Fatal(err)
				}
			default:
				os.MkdirAll(filepath.Join(dir, ".fleet"), 0o755)
				os.WriteFile(filepath.Join(dir, jobspec.Path), []byte(tt.file), 0o644)
			}
			code, _, stderr := runFleet(t, nil, append([]string{"job"}, tt.args...)...)
			if code != jobspec.ExitBadEnv || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, want %d with %q; stderr:\n%s", code, jobspec.ExitBadEnv, tt.wantErr, stderr)
			}
		})
	}
}
