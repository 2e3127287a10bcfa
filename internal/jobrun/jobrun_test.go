package jobrun

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/sim"
)

// The test binary doubles as the inference server: the fake launcher runs
// it again with FAKE_SERVER naming what to do, and TestMain serves the
// simulator in-process or misbehaves as told.
func TestMain(m *testing.M) {
	if mode, ok := os.LookupEnv("FAKE_SERVER"); ok {
		os.Exit(fakeServer(mode))
	}
	if dir, ok := os.LookupEnv("FAKE_FLEET_JOB"); ok {
		os.Exit(fakeFleetJob(dir))
	}
	os.Exit(m.Run())
}

// fakeServer modes: sim[,exit-after=N][,fail=R][,itl=D], exit (fails at
// once), clash (says its address is in use, then fails), hang (never
// listens).
func fakeServer(mode string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// The test checks that the server is gone once the job has ended.
	_ = os.WriteFile("fake.pid", []byte(strconv.Itoa(os.Getpid())), 0o644)
	if name := os.Getenv("ROLE_NAME"); name != "" {
		// A multi-node test checks each process's environment and end.
		_ = os.WriteFile("pid-"+name, []byte(strconv.Itoa(os.Getpid())), 0o644)
		var env []string
		for _, k := range []string{"ROLE", "PORT", "NODE_ADDR", "PREFILL_ENDPOINTS", "DECODE_ENDPOINTS", "AGG_ENDPOINTS", "TP", "GPU_COUNT", "CUDA_VISIBLE_DEVICES"} {
			env = append(env, k+"="+os.Getenv(k))
		}
		_ = os.WriteFile("env-"+name, []byte(strings.Join(env, "\n")+"\n"), 0o644)
	}
	kind, opts, _ := strings.Cut(mode, ",")
	switch kind {
	case "exit":
		fmt.Fprintln(os.Stderr, "RuntimeError: CUDA out of memory")
		return 1
	case "clash":
		fmt.Fprintln(os.Stderr, "ERROR: [Errno 98] error while attempting to bind on address ('127.0.0.1', "+os.Getenv("PORT")+"): Address already in use")
		return 1
	case "hang":
		<-ctx.Done()
		return 0
	}
	if strings.Contains(opts, "hang="+os.Getenv("ROLE_NAME")) && os.Getenv("ROLE_NAME") != "" {
		// hang=NAME: that process of a multi-node job never listens.
		<-ctx.Done()
		return 0
	}
	cfg := sim.DefaultConfig()
	cfg.Model = os.Getenv("MODEL")
	cfg.Timing, cfg.TTFT, cfg.ITL = sim.TimingFixed, time.Millisecond, time.Millisecond
	var err error
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "exit-after":
			cfg.ExitAfter, _ = strconv.Atoi(v)
		case "fail":
			cfg.FailRatio, _ = strconv.ParseFloat(v, 64)
		case "itl":
			cfg.ITL, _ = time.ParseDuration(v)
		case "answers":
			if cfg.Answers, err = sim.ReadAnswers(v); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
		case "die":
			// die=NAME@DURATION: the process of a multi-node job called
			// NAME exits with status 1 after DURATION.
			name, after, _ := strings.Cut(v, "@")
			if d, err := time.ParseDuration(after); err == nil && os.Getenv("ROLE_NAME") == name {
				time.AfterFunc(d, func() { fmt.Fprintln(os.Stderr, "NCCL error: remote process exited"); os.Exit(1) })
			}
		}
	}
	s, err := sim.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	host := "127.0.0.1"
	if h := os.Getenv("HOST"); h != "" {
		host = h // a process of a multi-node job listens where its peers reach it
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, os.Getenv("PORT")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Fprintln(os.Stderr, "Application startup complete.")
	if err := s.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	return 0
}

// workDir makes a job's work directory with a launcher that runs the
// fleet binary (here: this test binary) as the server.
func workDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "scripts", "server"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "scripts", "server", "fake.sh"), []byte("#!/usr/bin/env bash\nexec \"$FLEET_BIN\" \"$@\"\n"), 0o755))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func testJob(port int, mode string) *jobspec.Job {
	return &jobspec.Job{
		RunID: "run1", JobID: "cfg/tp1/conc2", Node: "node1", Model: "sim-model", Framework: "fake",
		TP: 1, Conc: 2, ISL: 16, OSL: 4, MaxModelLen: 64, RangeRatio: 1, NumPrompts: 6, NumWarmups: 1,
		ResultFilename: "res", Port: port, GPUCount: 1,
		HealthTimeout: jobspec.Duration(20 * time.Second), BenchTimeout: jobspec.Duration(30 * time.Second),
		ExtraEnv: map[string]string{"FAKE_SERVER": mode},
	}
}

// syncBuffer is the job's log, written from the progress goroutine too.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) progress() []jobspec.Progress {
	var out []jobspec.Progress
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		if p, ok := jobspec.ParseProgress(sc.Text()); ok {
			out = append(out, p)
		}
	}
	return out
}

func run(t *testing.T, dir string, j *jobspec.Job) (*syncBuffer, error) {
	t.Helper()
	out := &syncBuffer{}
	self, err := os.Executable()
	must(t, err)
	err = Run(context.Background(), Options{Dir: dir, Job: j, Out: out, Self: self, Environ: os.Environ(),
		StopGrace: 5 * time.Second, HealthPoll: 20 * time.Millisecond, ProgressEvery: 10 * time.Millisecond, DeathGrace: 2 * time.Second})
	return out, err
}

func code(err error) int {
	var f *Failure
	if errors.As(err, &f) {
		return f.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		edit       func(*jobspec.Job)
		want       int
		wantResult bool
		anyResult  bool   // a client that finished before the server was seen dead wrote one
		says       string // in the error
	}{
		{name: "a healthy run writes the result", mode: "sim", want: jobspec.ExitOK, wantResult: true},
		{name: "client extra_args reach the client", mode: "sim", edit: func(j *jobspec.Job) { j.ClientArgs = []string{"--num-prompts", "3"} }, want: jobspec.ExitOK, wantResult: true},
		{name: "bad client extra_args", mode: "sim", edit: func(j *jobspec.Job) { j.ClientArgs = []string{"--no-such-flag"} }, want: jobspec.ExitBadEnv, says: "no-such-flag"},
		{name: "no launcher for the framework", mode: "sim", edit: func(j *jobspec.Job) { j.Framework = "nope" }, want: jobspec.ExitBadEnv, says: "no server launcher"},
		{name: "the server exits before it is healthy", mode: "exit", want: jobspec.ExitServerExited, says: "status 1"},
		{name: "the server cannot bind its port", mode: "clash", want: jobspec.ExitPortClash, says: "address already in use"},
		{name: "the server never becomes healthy", mode: "hang", edit: func(j *jobspec.Job) { j.HealthTimeout = jobspec.Duration(300 * time.Millisecond) }, want: jobspec.ExitHealthTimeout},
		{name: "the benchmark runs past its timeout", mode: "sim,itl=1s", edit: func(j *jobspec.Job) { j.BenchTimeout = jobspec.Duration(500 * time.Millisecond) }, want: jobspec.ExitBenchTimeout},
		{name: "the server dies during the benchmark", mode: "sim,exit-after=3", edit: func(j *jobspec.Job) { j.NumPrompts = 40 }, want: jobspec.ExitServerDied, anyResult: true},
		{name: "too many requests fail", mode: "sim,fail=0.5", edit: func(j *jobspec.Job) { j.NumPrompts, j.NumWarmups = 40, 0 }, want: jobspec.ExitFailureRatio, wantResult: true, says: "requests failed"},
		{name: "a failure ratio the sweep allows", mode: "sim,fail=0.5", edit: func(j *jobspec.Job) {
			j.NumPrompts, j.NumWarmups, j.ClientArgs = 40, 0, []string{"--max-failure-ratio", "1"}
		}, want: jobspec.ExitOK, wantResult: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := workDir(t)
			j := testJob(freePort(t), tt.mode)
			if tt.edit != nil {
				tt.edit(j)
			}
			out, err := run(t, dir, j)
			if got := code(err); got != tt.want || tt.says != "" && (err == nil || !strings.Contains(err.Error(), tt.says)) {
				server, _ := os.ReadFile(filepath.Join(dir, "logs", "server.log"))
				t.Fatalf("code %d (%v), want %d and %q; log:\n%s\nserver.log:\n%s", got, err, tt.want, tt.says, out, server)
			}
			b, rerr := os.ReadFile(filepath.Join(dir, "results", "res.json"))
			if (rerr == nil) != tt.wantResult && !tt.anyResult {
				t.Errorf("result file present: %v, want %v", rerr == nil, tt.wantResult)
			}
			if tt.wantResult && tt.want == jobspec.ExitOK {
				var res struct {
					Completed  int    `json:"completed"`
					NumPrompts int    `json:"num_prompts"`
					ModelID    string `json:"model_id"`
					Backend    string `json:"backend"`
				}
				must(t, json.Unmarshal(b, &res))
				if res.NumPrompts != j.NumPrompts && !strings.Contains(tt.name, "extra_args") || res.ModelID != "sim-model" || res.Backend != "vllm" {
					t.Errorf("result %+v for job %+v", res, j)
				}
				if strings.Contains(tt.name, "extra_args") && res.NumPrompts != 3 {
					t.Errorf("client extra_args --num-prompts 3 not applied: %d prompts", res.NumPrompts)
				}
			}
			serverGone(t, dir)
			ps := out.progress()
			if len(ps) == 0 || ps[len(ps)-1].Phase != jobspec.PhaseDone || ps[len(ps)-1].Code != tt.want {
				t.Errorf("last progress %+v, want done with code %d; log:\n%s", ps, tt.want, out)
			}
		})
	}
}

// TestRunProgress: a healthy run reports its phases in order and the
// benchmark's requests as they finish.
func TestRunProgress(t *testing.T) {
	dir := workDir(t)
	j := testJob(freePort(t), "sim,itl=5ms")
	j.NumPrompts, j.OSL = 20, 8
	out, err := run(t, dir, j)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var phases []string
	var last jobspec.Progress
	for _, p := range out.progress() {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		if p.Phase == jobspec.PhaseBenchmark {
			if p.Done < last.Done {
				t.Errorf("done went back: %+v after %+v", p, last)
			}
			last = p
		}
		if p.Port != j.Port {
			t.Errorf("progress names port %d, want %d", p.Port, j.Port)
		}
	}
	want := []string{jobspec.PhaseStarting, jobspec.PhaseHealth, jobspec.PhaseBenchmark, jobspec.PhaseStopping, jobspec.PhaseDone}
	if strings.Join(phases, " ") != strings.Join(want, " ") {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if last.Done != 20 || last.Total != 20 || last.Failed != 0 {
		t.Errorf("last benchmark progress %+v, want 20/20 done", last)
	}
}

// TestRunMovesOffATakenPort: something listens on the preferred port; the
// server gets the next free one and the benchmark reaches it, not the
// squatter.
func TestRunMovesOffATakenPort(t *testing.T) {
	dir := workDir(t)
	squat, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer squat.Close()
	taken := squat.Addr().(*net.TCPAddr).Port
	out, err := run(t, dir, testJob(taken, "sim"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ps := out.progress()
	if len(ps) == 0 || ps[0].Port == taken || ps[0].Port == 0 {
		t.Fatalf("progress %+v: the server kept the taken port %d", ps, taken)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("port %d is taken; the server uses %d", taken, ps[0].Port)) {
		t.Errorf("the move is not logged:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "results", "res.json")); err != nil {
		t.Errorf("no result: %v", err)
	}
}

func TestBackend(t *testing.T) {
	for fw, want := range map[string]string{"sglang": "sglang", "trt": "trt", "vllm": "vllm", "sim": "vllm", "torch-smoke": "vllm"} {
		if got := Backend(fw); string(got) != want {
			t.Errorf("Backend(%q) = %s, want %s", fw, got, want)
		}
	}
}

// serverGone fails when the fake server of the job in dir still runs.
func serverGone(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "fake.pid"))
	if err != nil {
		return // never started
	}
	pid, _ := strconv.Atoi(string(b))
	if pid > 0 && alive(pid) {
		t.Errorf("the server (pid %d) still runs after the job ended", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// TestRunCancelled: a cancelled job stops its server and says so.
func TestRunCancelled(t *testing.T) {
	dir := workDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	self, err := os.Executable()
	must(t, err)
	go func() {
		// Cancel once the job waits for its server.
		for !strings.Contains(out.String(), jobspec.PhaseHealth) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	err = Run(ctx, Options{Dir: dir, Job: testJob(freePort(t), "hang"), Out: out, Self: self, Environ: os.Environ(),
		StopGrace: 5 * time.Second, HealthPoll: 20 * time.Millisecond})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want cancelled", err)
	}
	serverGone(t, dir)
	if !strings.Contains(out.String(), "stopping server") {
		t.Errorf("the server was not stopped:\n%s", out)
	}
}

// fakeFleetJob is `fleet job` in a process of its own: it runs the job
// file in dir.
func fakeFleetJob(dir string) int {
	j, err := jobspec.Read(filepath.Join(dir, jobspec.Path))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	self, _ := os.Executable()
	err = Run(context.Background(), Options{Dir: dir, Job: j, Out: os.Stdout, Self: self, Environ: os.Environ(), HealthPoll: 20 * time.Millisecond})
	if err != nil {
		return 1
	}
	return 0
}

// TestServerStopsWhenFleetJobIsKilled: fleet job killed outright (no
// chance to stop the server) still leaves no server behind.
func TestServerStopsWhenFleetJobIsKilled(t *testing.T) {
	dir := workDir(t)
	j := testJob(freePort(t), "sim,itl=200ms")
	j.OSL, j.NumPrompts = 200, 4
	must(t, j.Write(filepath.Join(dir, jobspec.Path)))
	out, err := os.Create(filepath.Join(dir, "out.log"))
	must(t, err)
	defer out.Close()
	self, err := os.Executable()
	must(t, err)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "FAKE_FLEET_JOB="+dir)
	cmd.Stdout, cmd.Stderr = out, out
	must(t, cmd.Start())
	defer cmd.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "out.log"))
		if strings.Contains(string(b), `"phase":"benchmark"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the benchmark did not start:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, cmd.Process.Kill())
	cmd.Wait()
	b, err := os.ReadFile(filepath.Join(dir, "fake.pid"))
	must(t, err)
	pid, _ := strconv.Atoi(string(b))
	for deadline := time.Now().Add(15 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the server (pid %d) outlived fleet job by 15s", pid)
		}
	}
}

// alive: the process runs and is not a zombie waiting for its new parent
// to reap it.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: trust kill -0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestClientRequestTimeoutComesFromTheBenchTimeout(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want time.Duration
	}{
		{"each request may take as long as the benchmark", nil, 30 * time.Second},
		{"extra_args may set a shorter limit", []string{"--request-timeout", "5s"}, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := testJob(8000, "sim")
			j.ClientArgs = tc.args
			r := &runner{j: j, port: 8000}
			fl, err := r.benchFlags()
			must(t, err)
			if fl.Config.RequestTimeout != tc.want {
				t.Errorf("request timeout %s, want %s", fl.Config.RequestTimeout, tc.want)
			}
			if fl.Config.ResponseHeaderTimeout <= 0 {
				t.Errorf("no response header timeout")
			}
		})
	}
}
