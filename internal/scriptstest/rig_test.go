// Package scriptstest tests the scripts that run on the machines
// (scripts/job.sh, scripts/server/*.sh, scripts/lib/*.sh,
// scripts/gpu-monitor.sh) against fake framework binaries: every outside
// program they call (docker, enroot, nvidia-smi, rocm-smi, vllm, python3,
// trtllm-serve, hf, ...) is scripts/testdata/fakebin/fake, which records
// its argv and the names of its environment and starts `fleet sim` where
// the real program would start an inference server.
package scriptstest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/shellquote"
)

// fleetBin is a real fleet binary built once for the tests: the fake
// frameworks run its simulator and job.sh runs its benchmark client.
var fleetBin string

// repo is the repository root.
var repo string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repo = filepath.Join(wd, "..", "..")
	dir, err := os.MkdirTemp("", "fleet-scriptstest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fleetBin = filepath.Join(dir, fmt.Sprintf("fleet-%s-%s", runtime.GOOS, runtime.GOARCH))
	build := exec.Command("go", "build", "-o", fleetBin, "./cmd/fleet")
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fleet for the tests: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// fakeNames are the programs the fake stands in for.
var fakeNames = []string{"docker", "enroot", "nvidia-smi", "rocm-smi", "vllm", "python3", "trtllm-serve", "mpirun", "hf", "huggingface-cli",
	"vllm-router", "etcd", "nats-server", "fleet", "lm_eval"}

// rig is one machine: a work dir with the scripts, a directory of fakes
// first on PATH, and the fakes' records.
type rig struct {
	t    *testing.T
	root string
	work string // the job's work dir (scripts/ copied in)
	bin  string // fakes
	fake string // FAKE_DIR: calls/, containers/, pids/
	hf   string // HF_HOME
}

// newRig makes a machine with GPUs of type gpu ("H200", "B200", "MI355X").
// With noTools, nvidia-smi and rocm-smi are left out (a machine without a
// GPU tool).
func newRig(t *testing.T, gpu string, names ...string) *rig {
	t.Helper()
	root := t.TempDir()
	r := &rig{t: t, root: root, work: filepath.Join(root, "work"), bin: filepath.Join(root, "bin"),
		fake: filepath.Join(root, "fake"), hf: filepath.Join(root, "hf")}
	for _, d := range []string{r.work, r.bin, r.fake, r.hf, filepath.Join(root, "home")} {
		must(t, os.MkdirAll(d, 0o755))
	}
	copyTree(t, filepath.Join(repo, "scripts"), filepath.Join(r.work, "scripts"), func(rel string) bool {
		return rel == "job.sh" || rel == "gpu-monitor.sh" || strings.HasPrefix(rel, "server/") || strings.HasPrefix(rel, "lib/") || strings.HasPrefix(rel, "eval/")
	})
	src, err := os.ReadFile(filepath.Join(repo, "scripts", "testdata", "fakebin", "fake"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(r.bin, "fake"), src, 0o755))
	if len(names) == 0 {
		names = fakeNames
	}
	for _, n := range names {
		if strings.HasPrefix(gpu, "MI") && n == "nvidia-smi" || !strings.HasPrefix(gpu, "MI") && n == "rocm-smi" {
			continue // a machine has one vendor's tool
		}
		must(t, os.Symlink("fake", filepath.Join(r.bin, n)))
	}
	env := fmt.Sprintf("FAKE_DIR=%s\nFAKE_FLEET_BIN=%s\nFAKE_PATH=%s\nFAKE_GPU=%s\n",
		shellquote.Quote(r.fake), shellquote.Quote(fleetBin), shellquote.Quote(r.bin+":/usr/local/bin:/usr/bin:/bin"), shellquote.Quote(gpu))
	must(t, os.WriteFile(filepath.Join(r.bin, "fake.env"), []byte(env), 0o644))
	t.Cleanup(r.killLeftovers)
	return r
}

// env is a job's environment: the contract of scripts/README.md with
// small numbers, over which vars apply ("NAME=" removes NAME).
func (r *rig) env(port int, vars ...string) []string {
	m := map[string]string{
		"PATH":               r.bin + ":/usr/local/bin:/usr/bin:/bin",
		"HOME":               filepath.Join(r.root, "home"),
		"MODEL":              "meta/Test-Model",
		"IMAGE":              "",
		"FRAMEWORK":          "vllm",
		"PRECISION":          "fp8",
		"TP":                 "8",
		"EP":                 "1",
		"PP":                 "1",
		"DP_ATTN":            "false",
		"CONC":               "4",
		"ISL":                "1024",
		"OSL":                "1024",
		"MAX_MODEL_LEN":      "2304",
		"RANDOM_RANGE_RATIO": "0.8",
		"NUM_PROMPTS":        "8",
		"NUM_WARMUPS":        "2",
		"PERCENTILES":        "99",
		"RESULT_FILENAME":    "test_result",
		"PORT":               strconv.Itoa(port),
		"GPU_COUNT":          "8",
		"RUNTIME":            "none",
		"HF_HOME":            r.hf,
		"HF_TOKEN":           secretToken,
		"HEALTH_TIMEOUT":     "60",
		"BENCH_TIMEOUT":      "120",
		"FLEET_BIN":          fleetBin,
		"FLEET_RUN_ID":       "run1",
		"FLEET_JOB_ID":       "cfg_1k1k_tp8-ep1-dpafalse_conc4",
		"FLEET_NODE":         "node1",
		"GPU_IDLE_WAIT":      "0",
	}
	for _, v := range vars {
		k, val, _ := strings.Cut(v, "=")
		if val == "" {
			delete(m, k)
			continue
		}
		m[k] = val
	}
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// secretToken must never appear in argv, logs or files other than the
// environment.
const secretToken = "hf_SECRET_do_not_leak_42"

// call is one recorded run of a fake.
type call struct {
	name string
	argv []string
	env  []string // names only
}

func (r *rig) calls() []call {
	r.t.Helper()
	files, err := filepath.Glob(filepath.Join(r.fake, "calls", "*.argv"))
	must(r.t, err)
	sort.Strings(files)
	var out []call
	for _, f := range files {
		b, err := os.ReadFile(f)
		must(r.t, err)
		var argv []string
		if len(b) > 0 {
			argv = strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		}
		e, err := os.ReadFile(strings.TrimSuffix(f, ".argv") + ".env")
		must(r.t, err)
		base := filepath.Base(f)
		parts := strings.SplitN(strings.TrimSuffix(base, ".argv"), "-", 3)
		out = append(out, call{name: parts[2], argv: argv, env: strings.Fields(string(e))})
	}
	return out
}

// callsOf returns the calls of one program whose first argument is sub
// (any, when sub is empty).
func (r *rig) callsOf(name, sub string) []call {
	var out []call
	for _, c := range r.calls() {
		if c.name == name && (sub == "" || len(c.argv) > 0 && c.argv[0] == sub) {
			out = append(out, c)
		}
	}
	return out
}

// alive lists the recorded processes of the fakes (and the servers they
// became) that still run; zombies count as gone.
func (r *rig) alive() []string {
	entries, _ := os.ReadDir(filepath.Join(r.fake, "pids"))
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if processAlive(pid) {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			out = append(out, fmt.Sprintf("%d (%s)", pid, strings.ReplaceAll(strings.TrimSpace(string(cmdline)), "\x00", " ")))
		}
	}
	return out
}

// waitGone waits (bounded) for every recorded process to end: a process
// killed a moment ago may still be unwinding.
func (r *rig) waitGone(d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		left := r.alive()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// containers lists the fake docker's running containers.
func (r *rig) containers() []string {
	entries, _ := os.ReadDir(filepath.Join(r.fake, "containers"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func (r *rig) killLeftovers() {
	for _, p := range r.alive() {
		pid, _ := strconv.Atoi(strings.Fields(p)[0])
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// started is a script running in its own process group.
type started struct {
	cmd  *exec.Cmd
	out  *output
	done chan error
}

// output is a script's stdout and stderr, in a file rather than a pipe:
// a container that outlives the script (as a killed attempt's does) would
// hold a pipe open and keep Wait from returning.
type output struct{ path string }

func (o *output) String() string {
	b, _ := os.ReadFile(o.path)
	return string(b)
}

func (r *rig) start(env []string, name string, args ...string) *started {
	r.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = r.work
	cmd.Env = env
	f, err := os.CreateTemp(r.root, "out-*.log")
	must(r.t, err)
	defer f.Close()
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(r.t, cmd.Start())
	s := &started{cmd: cmd, out: &output{f.Name()}, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	r.t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
		}
	})
	return s
}

// wait waits for the script's exit and returns its status (-1: signal).
func (s *started) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatalf("wait: %v", err)
	case <-time.After(d):
		t.Fatalf("still running after %v; output:\n%s", d, s.out)
	}
	return 0
}

// waitHealthy polls /health until it answers 200, failing when the
// script exits first.
func waitHealthy(t *testing.T, s *started, port int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("exited (%v) before the server was healthy; output:\n%s", err, s.out)
		case <-ctx.Done():
			t.Fatalf("server not healthy in time; output:\n%s", s.out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func copyTree(t *testing.T, from, to string, keep func(rel string) bool) {
	t.Helper()
	must(t, filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if info.IsDir() || !keep(filepath.ToSlash(rel)) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o755)
	}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// noSecret fails when the secret token appears in any recorded argv or in
// any file under dir.
func (r *rig) noSecret(dirs ...string) {
	r.t.Helper()
	for _, c := range r.calls() {
		for _, a := range c.argv {
			if strings.Contains(a, secretToken) {
				r.t.Errorf("%s argv carries the token value: %q", c.name, c.argv)
			}
		}
	}
	for _, d := range dirs {
		_ = filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || info.Size() > 1<<22 {
				return nil
			}
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte(secretToken)) {
				r.t.Errorf("%s contains the token value", p)
			}
			return nil
		})
	}
}

// writeJob writes the job file of a job whose contract is env, as the
// engine does (jobspec.Path): job.sh hands it to fleet job. Values that
// are no part of the job (PATH, secrets, the fakes' settings) stay in
// the environment only.
func (r *rig) writeJob(env []string) {
	r.t.Helper()
	must(r.t, r.jobOf(env).Write(filepath.Join(r.work, jobspec.Path)))
}

// jobOf is the job whose contract is env.
func (r *rig) jobOf(env []string) *jobspec.Job {
	r.t.Helper()
	m := map[string]string{}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	num := func(k string) int {
		if m[k] == "" {
			return 0
		}
		n, err := strconv.Atoi(m[k])
		must(r.t, err)
		return n
	}
	float := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		must(r.t, err)
		return f
	}
	list := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	j := &jobspec.Job{
		RunID: m["FLEET_RUN_ID"], JobID: m["FLEET_JOB_ID"], Node: m["FLEET_NODE"],
		Model: m["MODEL"], Image: m["IMAGE"], Framework: m["FRAMEWORK"], Precision: m["PRECISION"],
		TP: num("TP"), EP: num("EP"), PP: num("PP"), DPAttn: m["DP_ATTN"] == "true",
		Conc: num("CONC"), ISL: num("ISL"), OSL: num("OSL"), MaxModelLen: num("MAX_MODEL_LEN"),
		RangeRatio: float(m["RANDOM_RANGE_RATIO"]), NumPrompts: num("NUM_PROMPTS"), NumWarmups: num("NUM_WARMUPS"),
		ResultFilename: m["RESULT_FILENAME"], Port: num("PORT"), GPUCount: num("GPU_COUNT"),
		ServerArgs: list(m["SERVER_ARGS"]), ClientArgs: list(m["CLIENT_ARGS"]),
		Runtime: m["RUNTIME"], GPUType: m["GPU_TYPE"], HFHome: m["HF_HOME"],
		HealthTimeout: jobspec.Duration(time.Duration(num("HEALTH_TIMEOUT")) * time.Second),
		BenchTimeout:  jobspec.Duration(time.Duration(num("BENCH_TIMEOUT")) * time.Second),
	}
	for _, p := range strings.Split(m["PERCENTILES"], ",") {
		if p != "" {
			j.Percentiles = append(j.Percentiles, float(p))
		}
	}
	for _, g := range strings.Split(m["GPUS"], ",") {
		if g != "" {
			n, err := strconv.Atoi(g)
			must(r.t, err)
			j.Devices = append(j.Devices, n)
		}
	}
	return j
}
