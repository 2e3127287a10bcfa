package scriptstest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
)

// TestJobEndToEnd runs scripts/job.sh with each fake framework: the
// launcher starts the (simulated) server in the job's runtime, job.sh
// runs fleet's benchmark client against it, and the result file must
// appear with every request done and nothing left running.
func TestJobEndToEnd(t *testing.T) {
	tests := []struct {
		name, gpu string
		vars      []string
		program   string
	}{
		{"vLLM on the host", "H200", []string{"FRAMEWORK=vllm", "RUNTIME=none"}, "vllm"},
		{"SGLang in docker", "H200", []string{"FRAMEWORK=sglang", "MODEL=deepseek-ai/DeepSeek-R1-0528", "RUNTIME=docker", "IMAGE=lmsysorg/sglang:v0.5.2-cu129"}, "python3"},
		{"TensorRT-LLM in docker on packed GPUs", "B200", []string{"FRAMEWORK=trt", "TP=2", "GPUS=2,3", "CUDA_VISIBLE_DEVICES=2,3", "RUNTIME=docker", "IMAGE=nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2.post2"}, "trtllm-serve"},
		{"vLLM on AMD in docker", "MI300X", []string{"FRAMEWORK=vllm", "MODEL=openai/gpt-oss-120b", "RUNTIME=docker", "IMAGE=rocm/vllm:latest"}, "vllm"},
		{"TensorRT-LLM inside a Slurm job", "H200", []string{"FRAMEWORK=trt", "RUNTIME=enroot", "SLURM_JOB_ID=12", "IMAGE=nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2.post2"}, "mpirun"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tt.gpu)
			port := freePort(t)
			env := r.env(port, tt.vars...)
			r.writeJob(env)
			s := r.start(env, "bash", "scripts/job.sh")
			if code := s.wait(t, 90*time.Second); code != 0 {
				log, _ := os.ReadFile(filepath.Join(r.work, "logs", "server.log"))
				t.Fatalf("job.sh exited %d; output:\n%s\nserver.log:\n%s", code, s.out, log)
			}
			b, err := os.ReadFile(filepath.Join(r.work, "results", "test_result.json"))
			must(t, err)
			var res struct {
				Completed  int `json:"completed"`
				NumPrompts int `json:"num_prompts"`
			}
			must(t, json.Unmarshal(b, &res))
			if res.Completed != 8 {
				t.Errorf("result: %d requests completed, want 8:\n%s", res.Completed, b)
			}
			if len(r.callsOf(tt.program, "")) != 1 {
				t.Errorf("%s ran %d times, want once", tt.program, len(r.callsOf(tt.program, "")))
			}
			if left := r.waitGone(10 * time.Second); len(left) > 0 {
				t.Errorf("processes of the job still running: %v", left)
			}
			if c := r.containers(); len(c) > 0 {
				t.Errorf("containers left: %v", c)
			}
			r.noSecret(r.work)
		})
	}
}

// TestJobCancel cancels a running job the way the shell target does
// (TERM to the job's process group, then KILL): the container, which is
// no member of that group, must be stopped by the launcher's trap.
func TestJobCancel(t *testing.T) {
	r := newRig(t, "H200")
	port := freePort(t)
	env := r.env(port, "FRAMEWORK=vllm", "RUNTIME=docker", "IMAGE=vllm/vllm-openai:v0.10.2", "NUM_PROMPTS=100000", "BENCH_TIMEOUT=600")
	r.writeJob(env)
	s := r.start(env, "bash", "scripts/job.sh")
	waitHealthy(t, s, port)
	if c := r.containers(); len(c) != 1 {
		t.Fatalf("containers while the job runs: %v", c)
	}
	// The shell target's cancel: TERM to the group, a grace period until
	// the group is gone, then KILL.
	pg := s.cmd.Process.Pid
	must(t, syscall.Kill(-pg, syscall.SIGTERM))
	<-s.done
	s.done <- nil
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(-pg, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if syscall.Kill(-pg, 0) == nil {
		t.Errorf("the job's process group still runs 20s after TERM")
	}
	_ = syscall.Kill(-pg, syscall.SIGKILL)
	if len(r.callsOf("docker", "stop")) == 0 {
		t.Errorf("docker stop was not called on cancel; output:\n%s", s.out)
	}
	if left := r.waitGone(10 * time.Second); len(left) > 0 {
		t.Errorf("processes still running after cancel: %v", left)
	}
	if c := r.containers(); len(c) > 0 {
		t.Errorf("containers left after cancel: %v", c)
	}
}

// TestKilledAttemptContainerRemoved: a job killed outright (KILL, no trap
// runs) leaves its container; the next attempt of the job removes it
// before it starts its own.
func TestKilledAttemptContainerRemoved(t *testing.T) {
	r := newRig(t, "H200")
	port := freePort(t)
	env := r.env(port, "RUNTIME=docker", "IMAGE=vllm/vllm-openai:v0.10.2")
	first := r.start(env, "bash", "scripts/server/vllm.sh")
	waitHealthy(t, first, port)
	must(t, syscall.Kill(-first.cmd.Process.Pid, syscall.SIGKILL))
	first.wait(t, 10*time.Second)
	if c := r.containers(); len(c) != 1 {
		t.Fatalf("after KILL, containers %v; want the orphan", c)
	}
	second := r.start(env, "bash", "scripts/server/vllm.sh")
	// The orphan still answers /health: wait for the second server itself.
	deadline := time.Now().Add(20 * time.Second)
	for len(r.callsOf("vllm", "")) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the second attempt started no server; output:\n%s", second.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitHealthy(t, second, port)
	rms := r.callsOf("docker", "rm")
	if len(rms) == 0 || !slices.Equal(rms[0].argv, []string{"rm", "-f", "fleet-" + nodeUser(t) + "-run1-cfg_1k1k_tp8-ep1-dpafalse_conc4"}) {
		t.Errorf("docker rm calls: %v", rms)
	}
	must(t, second.cmd.Process.Signal(syscall.SIGTERM))
	second.wait(t, 20*time.Second)
	if left := r.waitGone(10 * time.Second); len(left) > 0 {
		t.Errorf("processes still running: %v", left)
	}
}

// bashLib runs a snippet with scripts/lib/prepare.sh sourced, in the
// rig's work dir.
func (r *rig) bashLib(env []string, snippet string) (int, string) {
	r.t.Helper()
	cmd := exec.Command("bash", "-c", ". scripts/lib/prepare.sh\n"+snippet)
	cmd.Dir = r.work
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		r.t.Fatal(err)
	}
	return 0, string(out)
}

func TestCheckGPUsIdle(t *testing.T) {
	tests := []struct {
		name, gpu, busy string
		vars            []string
		wantCode        int
		wantOut         string
	}{
		{"idle NVIDIA GPUs", "H200", "", nil, 0, ""},
		{"a process on an NVIDIA GPU", "H200", "4242 3\n", nil, 15, "GPUs busy: processes 4242 still use them after 0s (nvidia-smi --query-compute-apps)"},
		{"a neighbour on another GPU of a packed node", "H200", "4242 3\n", []string{"GPUS=0,1"}, 0, ""},
		{"a neighbour on one of the job's GPUs", "H200", "4242 1\n", []string{"GPUS=0,1"}, 15, "GPUs busy (GPUs 0,1): processes 4242"},
		{"a process on an AMD GPU", "MI300X", "777 0\n", nil, 15, "processes 777 still use them after 0s (rocm-smi --showpids)"},
		{"idle AMD GPUs", "MI300X", "", nil, 0, ""},
		{"the simulator needs no GPU", "H200", "4242 3\n", []string{"FRAMEWORK=sim"}, 0, ""},
		{"waits for a GPU to be released", "H200", "4242 3\n", []string{"GPU_IDLE_WAIT=2"}, 15, "after 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.gpu)
			must(t, os.WriteFile(filepath.Join(r.fake, "busy"), []byte(tt.busy), 0o644))
			code, out := r.bashLib(r.env(1, tt.vars...), "fleet_check_gpus_idle")
			if code != tt.wantCode || tt.wantOut != "" && !strings.Contains(out, tt.wantOut) {
				t.Errorf("exit %d, want %d; output:\n%s\nwant it to contain %q", code, tt.wantCode, out, tt.wantOut)
			}
		})
	}
}

func TestDownloadModel(t *testing.T) {
	tests := []struct {
		name      string
		vars      []string
		parallel  int
		wantCalls []string // "program argv..." of the downloads
		wantCode  int
	}{
		{"once per machine however many jobs start together", []string{"RUNTIME=none", "FAKE_DOWNLOAD_SLEEP=1"}, 3, []string{"hf download meta/Test-Model"}, 0},
		{"inside the container for docker, token by name only", []string{"RUNTIME=docker", "IMAGE=vllm/vllm-openai:v0.10.2"}, 1, []string{"docker run", "hf download meta/Test-Model"}, 0},
		{"not for a local path", []string{"MODEL=/models/llama"}, 1, nil, 0},
		{"not for the simulator", []string{"FRAMEWORK=sim"}, 1, nil, 0},
		{"a failed download is status 16 and leaves no marker", []string{"FAKE_DOWNLOAD_RC=1"}, 1, []string{"hf download meta/Test-Model"}, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "H200")
			env := r.env(1, tt.vars...)
			if slices.Contains(tt.vars, "FAKE_DOWNLOAD_RC=1") {
				env = append(env, "FAKE_DOWNLOAD_RC=1")
			}
			// FAKE_* variables reach the fake through the environment.
			codes := make(chan int, tt.parallel)
			for range tt.parallel {
				go func() {
					code, out := r.bashLib(env, "fleet_download_model")
					if code != tt.wantCode {
						t.Errorf("exit %d, want %d:\n%s", code, tt.wantCode, out)
					}
					codes <- code
				}()
			}
			for range tt.parallel {
				<-codes
			}
			var got []string
			for _, c := range r.calls() {
				switch {
				case c.name == "hf":
					got = append(got, "hf "+strings.Join(c.argv, " "))
					if !slices.Contains(c.env, "HF_TOKEN") || !slices.Contains(c.env, "HF_HOME") {
						t.Errorf("hf did not get HF_TOKEN and HF_HOME: %v", c.env)
					}
				case c.name == "docker" && c.argv[0] == "run":
					got = append(got, "docker run")
					if !slices.Contains(c.argv, "HF_TOKEN") || !slices.Contains(c.argv, "MODEL") {
						t.Errorf("docker run lacks -e HF_TOKEN / -e MODEL: %q", c.argv)
					}
				}
			}
			if !slices.Equal(got, tt.wantCalls) {
				t.Errorf("downloads %q, want %q", got, tt.wantCalls)
			}
			_, err := os.Stat(filepath.Join(r.hf, ".fleet-meta--Test-Model.done"))
			if marked := err == nil; marked != (tt.wantCode == 0 && tt.wantCalls != nil) {
				t.Errorf("marker present: %v", marked)
			}
			r.noSecret()
		})
	}
}

func TestGPUMonitor(t *testing.T) {
	noRocm := []string{"amd-smi"}
	for _, n := range fakeNames {
		if n != "rocm-smi" {
			noRocm = append(noRocm, n)
		}
	}
	tests := []struct {
		name, gpu string
		tools     []string // nil: every fake
		vars      []string
		wantRows  int    // rows per sample
		wantIndex string // GPU indices of a sample
		wantNA    bool   // a sample of no reading, [N/A]
		wantLoop  []string
		header    string // "": all seven columns
		columns   int    // 0: 7
	}{
		{name: "NVIDIA, all GPUs", gpu: "H200", wantRows: 8, wantIndex: "0,1,2,3,4,5,6,7", wantLoop: []string{"-l", "1"}},
		{name: "NVIDIA, the job's GPUs, twice a second", gpu: "H200", vars: []string{"GPUS=2,3", "FLEET_GPU_MONITOR_INTERVAL=0.5"},
			wantRows: 2, wantIndex: "2,3", wantLoop: []string{"-lms", "500"}},
		{name: "NVIDIA, a driver without clock fields", gpu: "H200", vars: []string{"FAKE_SMI_NO_CLOCKS=1"},
			header: "timestamp, index, power.draw [W]", columns: 3, wantRows: 8, wantIndex: "0,1,2,3,4,5,6,7"},
		{name: "AMD, rocm-smi", gpu: "MI355X", wantRows: 8, wantIndex: "0,1,2,3,4,5,6,7"},
		{name: "AMD, amd-smi in milliwatts with an N/A", gpu: "MI355X", tools: noRocm, vars: []string{"FAKE_AMD_SMI_NA=1"},
			wantRows: 9, wantIndex: "0,1,2,3,4,5,6,7,8", wantNA: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tt.gpu, tt.tools...)
			// The monitor's parent is a shell that ends after 2.5 s: the
			// monitor must notice and stop with it. Its node is 3 h east
			// of UTC.
			vars := append([]string{"TZ=Etc/GMT-3"}, tt.vars...)
			s := r.start(r.env(1, vars...), "bash", "-c", "bash scripts/gpu-monitor.sh --parent $$ logs/gpu.csv & sleep 2.5")
			s.wait(t, 10*time.Second)
			if left := r.waitGone(5 * time.Second); len(left) > 0 {
				t.Errorf("monitor still running after its parent: %v", left)
			}
			b, err := os.ReadFile(filepath.Join(r.work, "logs", "gpu.csv"))
			must(t, err)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			header, columns := tt.header, tt.columns
			if header == "" {
				header, columns = "timestamp, index, power.draw [W], clocks.current.sm [MHz], clocks.current.memory [MHz], memory.used [MiB], utilization.gpu [%]", 7
			}
			if lines[0] != header {
				t.Errorf("header %q, want %q", lines[0], header)
			}
			zone, err := os.ReadFile(filepath.Join(r.work, "logs", "gpu.zone"))
			if err != nil || strings.TrimSpace(string(zone)) != "10800" {
				t.Errorf("zone file %q (%v), want 10800 (UTC+3)", zone, err)
			}
			// A sample cut short by the stop may end the file.
			rows := lines[1:]
			if len(rows) < tt.wantRows {
				t.Fatalf("%d rows, want at least %d:\n%s", len(rows), tt.wantRows, b)
			}
			var idx []string
			sawNA := false
			for _, row := range rows[:tt.wantRows] {
				f := strings.Split(row, ", ")
				if len(f) != columns {
					t.Errorf("row %q: want %d columns", row, columns)
					continue
				}
				idx = append(idx, f[1])
				// In the node's clock: 3 h ahead of UTC.
				ts, err := time.Parse("2006/01/02 15:04:05.000", f[0])
				if d := time.Since(ts.Add(-3 * time.Hour)); err != nil || d < 0 || d > time.Hour {
					t.Errorf("timestamp %q is not this node's clock in UTC+3", f[0])
				}
				if f[2] == "[N/A]" {
					sawNA = true
					continue
				}
				// The fakes draw 600 W + 10 W per GPU index, + 20 W in odd
				// seconds, in watts whatever unit the tool gave.
				var w float64
				var i int
				_, err1 := fmt.Sscanf(f[2], "%f W", &w)
				_, err2 := fmt.Sscan(f[1], &i)
				if err1 != nil || err2 != nil || (w != float64(600+10*i) && w != float64(620+10*i)) {
					t.Errorf("GPU %s draws %q, want %d or %d W", f[1], f[2], 600+10*i, 620+10*i)
				}
			}
			if want := tt.wantIndex; strings.Join(idx, ",") != want {
				t.Errorf("first sample covers GPUs %v, want %s", idx, want)
			}
			if sawNA != tt.wantNA {
				t.Errorf("[N/A] sample seen %v, want %v", sawNA, tt.wantNA)
			}
			if tt.wantLoop != nil {
				calls := r.callsOf("nvidia-smi", "")
				if len(calls) == 0 || !strings.Contains(strings.Join(calls[len(calls)-1].argv, " "), strings.Join(tt.wantLoop, " ")) {
					t.Errorf("nvidia-smi not asked to sample with %v: %v", tt.wantLoop, calls)
				}
			}
		})
	}
}

// TestGPUMonitorBoundsItsFile: a monitor whose file reaches
// FLEET_GPU_MONITOR_MAX_BYTES stops sampling on its own, the file at most
// one second of samples over the bound.
func TestGPUMonitorBoundsItsFile(t *testing.T) {
	r := newRig(t, "H200")
	s := r.start(r.env(1, "FLEET_GPU_MONITOR_MAX_BYTES=300"), "bash", "-c", "bash scripts/gpu-monitor.sh logs/gpu.csv; echo monitor ended")
	s.wait(t, 20*time.Second)
	b, err := os.ReadFile(filepath.Join(r.work, "logs", "gpu.csv"))
	must(t, err)
	if len(b) <= 300 || len(b) > 300+2*8*100 {
		t.Errorf("file of %d bytes, want just over 300", len(b))
	}
	if out := s.out.String(); !strings.Contains(out, "reached FLEET_GPU_MONITOR_MAX_BYTES=300 bytes") || !strings.Contains(out, "monitor ended") {
		t.Errorf("output:\n%s", out)
	}
}

// TestShellcheck runs shellcheck over every script fleet ships or runs.
// Without shellcheck it fails, except under -short.
func TestShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if testing.Short() {
			t.Skip("shellcheck is not installed")
		}
		t.Fatal("shellcheck is not installed (apt-get install shellcheck)")
	}
	var files []string
	for _, pat := range []string{"scripts/*.sh", "scripts/server/*.sh", "scripts/lib/*.sh", "scripts/eval/*.sh", "scripts/testrig/*.sh", "scripts/testrig/fake/*", "scripts/testdata/fakebin/fake"} {
		m, err := filepath.Glob(filepath.Join(repo, pat))
		must(t, err)
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("only %d scripts found: %v", len(files), files)
	}
	cmd := exec.Command("shellcheck", append([]string{"-x"}, files...)...)
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// TestJobExitCodes: job.sh's own checks end with the codes of
// scripts/lib/exitcodes.sh, before fleet job starts anything.
func TestJobExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		busy    string
		noJob   bool
		vars    []string
		want    int
		wantOut string
	}{
		{name: "no job file", noJob: true, want: jobspec.ExitBadEnv, wantOut: "no job file .fleet/job.json"},
		{name: "a contract variable missing", vars: []string{"MODEL="}, want: jobspec.ExitBadEnv, wantOut: "required variable MODEL"},
		{name: "busy GPUs", busy: "4242 3\n", want: jobspec.ExitGPUsBusy, wantOut: "GPUs busy"},
		{name: "a failed download", vars: []string{"FAKE_DOWNLOAD_RC=1"}, want: jobspec.ExitDownload, wantOut: "download of meta/Test-Model failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, "H200")
			must(t, os.WriteFile(filepath.Join(r.fake, "busy"), []byte(tt.busy), 0o644))
			env := r.env(freePort(t), tt.vars...)
			if !tt.noJob {
				r.writeJob(r.env(1))
			}
			s := r.start(env, "bash", "scripts/job.sh")
			if code := s.wait(t, 30*time.Second); code != tt.want || !strings.Contains(s.out.String(), tt.wantOut) {
				t.Errorf("exit %d, want %d with %q; output:\n%s", code, tt.want, tt.wantOut, s.out)
			}
			if len(r.callsOf("vllm", "")) != 0 {
				t.Errorf("the server started")
			}
		})
	}
}
