package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// agentDir holds a real fleet binary named for this platform, built once
// for the tests: jobs push it to the machines, where it runs the simulator
// and the benchmark client (the test binary itself cannot).
var agentDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fleet-agent-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin := filepath.Join(dir, fmt.Sprintf("fleet-%s-%s", runtime.GOOS, runtime.GOARCH))
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fleet for the tests: %v\n%s", err, out)
		os.Exit(1)
	}
	agentDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runFleet runs the CLI in-process and returns its exit code and output.
func runFleet(t testing.TB, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := &App{
		Stdin:  strings.NewReader(""),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return os.Getenv(k)
		},
		Environ: os.Environ,
	}
	code := app.Run(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
