package scriptstest

import (
	"encoding/json"
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
	tests := []struct {
		name, gpu string
		vars      []string
		wantRow   string
		wantRows  int    // rows per sample
		wantIndex string // GPU indices of a sample
	}{
		{"NVIDIA, all GPUs", "H200", nil, ", 612.50 W, 1980 MHz, 3201 MHz, 120000 MiB, 100 %", 8, "0,1,2,3,4,5,6,7"},
		{"NVIDIA, the job's GPUs", "H200", []string{"GPUS=2,3"}, ", 3, 612.50 W", 2, "2,3"},
		{"AMD", "MI355X", nil, ", 7, 701.0 W, 2400 MHz, 1900 MHz, 122880 MiB, 100 %", 8, "0,1,2,3,4,5,6,7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tt.gpu)
			// The monitor's parent is a shell that ends after 2.5 s: the
			// monitor must notice and stop with it.
			s := r.start(r.env(1, tt.vars...), "bash", "-c", "bash scripts/gpu-monitor.sh --parent $$ logs/gpu.csv & sleep 2.5")
			s.wait(t, 10*time.Second)
			if left := r.waitGone(5 * time.Second); len(left) > 0 {
				t.Errorf("monitor still running after its parent: %v", left)
			}
			b, err := os.ReadFile(filepath.Join(r.work, "logs", "gpu.csv"))
			must(t, err)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if lines[0] != "timestamp, index, power.draw [W], clocks.current.sm [MHz], clocks.current.memory [MHz], memory.used [MiB], utilization.gpu [%]" {
				t.Errorf("header %q", lines[0])
			}
			// A sample cut short by the stop may end the file.
			rows := lines[1:]
			if len(rows) < tt.wantRows || !strings.Contains(string(b), tt.wantRow) {
				t.Errorf("%d rows (want at least %d, one with %q):\n%s", len(rows), tt.wantRows, tt.wantRow, b)
			}
			var idx []string
			for _, row := range rows[:min(len(rows), tt.wantRows)] {
				if f := strings.Split(row, ", "); len(f) == 7 {
					idx = append(idx, f[1])
				}
			}
			if want := tt.wantIndex; strings.Join(idx, ",") != want {
				t.Errorf("first sample covers GPUs %v, want %s", idx, want)
			}
		})
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
