package scriptstest

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLaunchers runs each launcher for a representative InferenceMAX
// config until its (simulated) server is healthy, stops it the way job.sh
// does (TERM), and checks the exact command line and config file the
// framework got, the container it ran in, and that nothing is left.
func TestLaunchers(t *testing.T) {
	const job = "cfg_1k1k_tp8-ep1-dpafalse_conc4"
	// The container's name: the node user's, the run's and the job's.
	name := "fleet-" + nodeUser(t) + "-run1-" + job
	tests := []struct {
		name     string
		gpu      string
		launcher string
		vars     []string
		// want: the framework's argv ({W} work dir, {H} HF cache, {P} port,
		// {S} squash file).
		program string
		argv    []string
		// docker: the `docker run` argv; empty when not in docker.
		docker []string
		// enroot: the enroot calls in order, each "sub args...".
		enroot [][]string
		// config: the file the launcher writes and its exact content.
		configFile, config string
		// containerEnv: variables the server must see (by name).
		containerEnv []string
	}{
		{
			name: "Llama-3.3-70B fp8 on vLLM, H200 tp8 in docker", gpu: "H200", launcher: "vllm",
			vars:    []string{"MODEL=nvidia/Llama-3.3-70B-Instruct-FP8", "CONC=64", "RUNTIME=docker", "IMAGE=vllm/vllm-openai:v0.10.2"},
			program: "vllm",
			argv:    []string{"serve", "nvidia/Llama-3.3-70B-Instruct-FP8", "--host", "127.0.0.1", "--port", "{P}", "--config", "vllm-config.yaml"},
			docker: []string{"run", "--rm", "--name", name, "--network=host", "--ipc=host", "--shm-size=16g", "--gpus", "all",
				"-v", "{W}:{W}", "-w", "{W}", "-v", "{H}:{H}", "-e", "HF_HOME", "-e", "HF_TOKEN", "-e", "PYTHONNOUSERSITE",
				"--entrypoint", "vllm", "vllm/vllm-openai:v0.10.2",
				"serve", "nvidia/Llama-3.3-70B-Instruct-FP8", "--host", "127.0.0.1", "--port", "{P}", "--config", "vllm-config.yaml"},
			configFile: "vllm-config.yaml",
			config: `# vLLM settings of job ` + job + `, written by scripts/server/vllm.sh
tensor-parallel-size: 8
data-parallel-size: 1
max-model-len: 2304
max-num-seqs: 64
max-num-batched-tokens: 8192
gpu-memory-utilization: 0.9
kv-cache-dtype: fp8
async-scheduling: true
no-enable-prefix-caching: true
`,
			containerEnv: []string{"HF_HOME", "HF_TOKEN", "PYTHONNOUSERSITE"},
		},
		{
			name: "DeepSeek-R1 fp8 on SGLang, H200 tp8 ep8 8k/1k in docker", gpu: "H200", launcher: "sglang",
			vars: []string{"MODEL=deepseek-ai/DeepSeek-R1-0528", "FRAMEWORK=sglang", "EP=8", "CONC=32", "ISL=8192", "MAX_MODEL_LEN=9472",
				"RUNTIME=docker", "IMAGE=lmsysorg/sglang:v0.5.2rc2-cu126"},
			program: "python3",
			argv: []string{"-m", "sglang.launch_server", "--model-path", "deepseek-ai/DeepSeek-R1-0528", "--host", "127.0.0.1", "--port", "{P}",
				"--trust-remote-code", "--tp-size", "8", "--dp-size", "1", "--ep-size", "8", "--context-length", "9472",
				"--mem-fraction-static", "0.82", "--cuda-graph-max-bs", "32", "--max-running-requests", "32",
				"--chunked-prefill-size", "32768", "--max-prefill-tokens", "32768", "--disable-radix-cache", "--stream-interval", "10",
				"--attention-backend", "flashinfer"},
			docker: []string{"run", "--rm", "--name", name, "--network=host", "--ipc=host", "--shm-size=16g", "--gpus", "all",
				"-v", "{W}:{W}", "-w", "{W}", "-v", "{H}:{H}", "-e", "HF_HOME", "-e", "HF_TOKEN", "-e", "PYTHONNOUSERSITE",
				"--entrypoint", "python3", "lmsysorg/sglang:v0.5.2rc2-cu126", "{ARGV}"},
			containerEnv: []string{"HF_HOME", "HF_TOKEN", "PYTHONNOUSERSITE"},
		},
		{
			name: "DeepSeek-R1 fp4 on TensorRT-LLM, B200 tp8 ep8 dp-attn conc 256 on the host", gpu: "B200", launcher: "trt",
			vars: []string{"MODEL=nvidia/DeepSeek-R1-0528-FP4-v2", "FRAMEWORK=trt", "PRECISION=fp4", "EP=8", "DP_ATTN=true", "CONC=256",
				"RUNTIME=none", "FLEET_JOB_ID=" + job},
			program: "trtllm-serve",
			argv: []string{"nvidia/DeepSeek-R1-0528-FP4-v2", "--host", "127.0.0.1", "--port", "{P}", "--backend", "pytorch", "--trust_remote_code",
				"--tp_size", "8", "--ep_size", "8", "--pp_size", "1", "--max_seq_len", "2304", "--max_batch_size", "256",
				"--max_num_tokens", "8192", "--extra_llm_api_options", "trtllm-extra.yaml"},
			configFile: "trtllm-extra.yaml",
			config: `# TensorRT-LLM options of job ` + job + `, written by scripts/server/trt.sh
cuda_graph_config:
  enable_padding: true
  max_batch_size: 256
enable_attention_dp: true
attention_dp_config:
  batching_wait_iters: 0
  enable_balance: true
  timeout_iters: 60
kv_cache_config:
  dtype: fp8
  free_gpu_memory_fraction: 0.8
  enable_block_reuse: false
stream_interval: 10
moe_config:
  backend: CUTLASS
`,
			containerEnv: []string{"HF_TOKEN", "MODEL", "PYTHONNOUSERSITE"},
		},
		{
			name: "DeepSeek-R1 fp4 on TensorRT-LLM, B200 tp4 conc 32 on GPUs 0-3 in docker", gpu: "B200", launcher: "trt",
			vars: []string{"MODEL=nvidia/DeepSeek-R1-0528-FP4-v2", "FRAMEWORK=trt", "PRECISION=fp4", "TP=4", "CONC=32", "GPU_COUNT=4",
				"GPUS=0,1,2,3", "CUDA_VISIBLE_DEVICES=0,1,2,3", "HIP_VISIBLE_DEVICES=0,1,2,3",
				"RUNTIME=docker", "IMAGE=nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2.post2"},
			program: "trtllm-serve",
			argv: []string{"nvidia/DeepSeek-R1-0528-FP4-v2", "--host", "127.0.0.1", "--port", "{P}", "--backend", "pytorch", "--trust_remote_code",
				"--tp_size", "4", "--ep_size", "1", "--pp_size", "1", "--max_seq_len", "2304", "--max_batch_size", "32",
				"--max_num_tokens", "8192", "--extra_llm_api_options", "trtllm-extra.yaml"},
			docker: []string{"run", "--rm", "--name", name, "--network=host", "--ipc=host", "--shm-size=16g", "--gpus", `"device=0,1,2,3"`,
				"-v", "{W}:{W}", "-w", "{W}", "-v", "{H}:{H}", "-e", "HF_HOME", "-e", "HF_TOKEN", "-e", "PYTHONNOUSERSITE",
				"--entrypoint", "trtllm-serve", "nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2.post2", "{ARGV}"},
			configFile: "trtllm-extra.yaml",
			config: `# TensorRT-LLM options of job ` + job + `, written by scripts/server/trt.sh
cuda_graph_config:
  enable_padding: true
  max_batch_size: 32
enable_attention_dp: false
kv_cache_config:
  dtype: fp8
  free_gpu_memory_fraction: 0.8
  enable_block_reuse: false
stream_interval: 10
moe_config:
  backend: TRTLLM
`,
			containerEnv: []string{"HF_HOME", "HF_TOKEN", "PYTHONNOUSERSITE"},
		},
		{
			name: "gpt-oss-120b on vLLM, MI355X tp4 on GPUs 4-7 in docker", gpu: "MI355X", launcher: "vllm",
			vars: []string{"MODEL=openai/gpt-oss-120b", "PRECISION=fp4", "TP=4", "CONC=16", "GPU_COUNT=4",
				"GPUS=4,5,6,7", "CUDA_VISIBLE_DEVICES=4,5,6,7", "HIP_VISIBLE_DEVICES=4,5,6,7", "FAKE_MEC_FW=170",
				"RUNTIME=docker", "IMAGE=rocm/7.0:rocm7.0_ubuntu_22.04_vllm_0.10.1_instinct_20250927_rc1"},
			program: "vllm",
			argv:    []string{"serve", "openai/gpt-oss-120b", "--host", "127.0.0.1", "--port", "{P}", "--config", "vllm-config.yaml"},
			docker: []string{"run", "--rm", "--name", name, "--network=host", "--ipc=host", "--shm-size=16g",
				"--device=/dev/kfd", "--device=/dev/dri", "--group-add", "video", "--cap-add=SYS_PTRACE", "--security-opt", "seccomp=unconfined",
				"-v", "{W}:{W}", "-w", "{W}", "-v", "{H}:{H}", "-e", "HF_HOME", "-e", "HF_TOKEN", "-e", "HIP_VISIBLE_DEVICES",
				"-e", "HSA_NO_SCRATCH_RECLAIM", "-e", "PYTHONNOUSERSITE", "-e", "VLLM_ROCM_QUICK_REDUCE_QUANTIZATION",
				"-e", "VLLM_ROCM_USE_AITER", "-e", "VLLM_ROCM_USE_AITER_MHA", "-e", "VLLM_USE_AITER_UNIFIED_ATTENTION",
				"--entrypoint", "vllm", "rocm/7.0:rocm7.0_ubuntu_22.04_vllm_0.10.1_instinct_20250927_rc1", "{ARGV}"},
			configFile: "vllm-config.yaml",
			config: `# vLLM settings of job ` + job + `, written by scripts/server/vllm.sh
tensor-parallel-size: 4
data-parallel-size: 1
max-model-len: 2304
max-num-seqs: 16
max-num-batched-tokens: 8192
gpu-memory-utilization: 0.95
kv-cache-dtype: auto
async-scheduling: true
no-enable-prefix-caching: true
compilation-config: '{"cudagraph_mode": "FULL_AND_PIECEWISE"}'
block-size: 64
`,
			containerEnv: []string{"HF_TOKEN", "HIP_VISIBLE_DEVICES", "HSA_NO_SCRATCH_RECLAIM", "VLLM_ROCM_USE_AITER", "VLLM_USE_AITER_UNIFIED_ATTENTION"},
		},
		{
			name: "DeepSeek-R1 fp8 on TensorRT-LLM inside a Slurm job (pyxis): mpirun, no container", gpu: "H200", launcher: "trt",
			vars: []string{"MODEL=deepseek-ai/DeepSeek-R1-0528", "FRAMEWORK=trt", "EP=8", "CONC=64", "RUNTIME=enroot", "SLURM_JOB_ID=77",
				"IMAGE=nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2.post2"},
			program: "mpirun",
			argv: []string{"-n", "1", "--oversubscribe", "--allow-run-as-root", "trtllm-serve", "deepseek-ai/DeepSeek-R1-0528", "--host", "127.0.0.1", "--port", "{P}",
				"--backend", "pytorch", "--trust_remote_code", "--tp_size", "8", "--ep_size", "8", "--pp_size", "1", "--max_seq_len", "2304",
				"--max_batch_size", "64", "--max_num_tokens", "8192", "--extra_llm_api_options", "trtllm-extra.yaml"},
			containerEnv: []string{"HF_TOKEN", "SLURM_JOB_ID"},
		},
		{
			name: "Llama-3.3-70B fp8 on vLLM in enroot on a plain node", gpu: "H200", launcher: "vllm",
			vars:    []string{"MODEL=nvidia/Llama-3.3-70B-Instruct-FP8", "TP=2", "GPUS=2,3", "RUNTIME=enroot", "IMAGE=vllm/vllm-openai:v0.10.2"},
			program: "vllm",
			argv:    []string{"serve", "nvidia/Llama-3.3-70B-Instruct-FP8", "--host", "127.0.0.1", "--port", "{P}", "--config", "vllm-config.yaml"},
			enroot: [][]string{
				{"import", "-o", "{S}.part", "docker://vllm/vllm-openai:v0.10.2"},
				{"remove", "-f", name},
				{"create", "-n", name, "{S}"},
				{"start", "--rw", "-m", "{W}:{W}", "-m", "{H}:{H}", "-e", "HF_HOME", "-e", "HF_TOKEN", "-e", "PYTHONNOUSERSITE",
					"-e", "NVIDIA_VISIBLE_DEVICES=2,3", name, "sh", "-c", `cd "$1" && shift && exec "$@"`, "sh", "{W}", "vllm", "{ARGV}"},
				{"remove", "-f", name},
			},
			containerEnv: []string{"HF_HOME", "HF_TOKEN", "NVIDIA_VISIBLE_DEVICES"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tt.gpu)
			port := freePort(t)
			env := r.env(port, tt.vars...)
			s := r.start(env, "bash", "scripts/server/"+tt.launcher+".sh")
			waitHealthy(t, s, port)
			// job.sh stops its server with TERM to the launcher alone.
			must(t, s.cmd.Process.Signal(syscall.SIGTERM))
			if code := s.wait(t, 30*time.Second); code != 143 {
				t.Errorf("launcher exited %d after TERM, want 143; output:\n%s", code, s.out)
			}

			sq := filepath.Join(r.root, "home", ".cache", "fleet", "squash", "vllm+vllm-openai+v0.10.2.sqsh")
			var subst func(in []string) []string
			subst = func(in []string) []string {
				var out []string
				for _, a := range in {
					if a == "{ARGV}" {
						out = append(out, subst(tt.argv)...)
						continue
					}
					a = strings.NewReplacer("{W}", r.work, "{H}", r.hf, "{P}", strconv.Itoa(port), "{S}", sq).Replace(a)
					out = append(out, a)
				}
				return out
			}
			prog := r.callsOf(tt.program, "")
			if len(prog) != 1 {
				t.Fatalf("%s ran %d times, want once; output:\n%s", tt.program, len(prog), s.out)
			}
			if want := subst(tt.argv); !reflect.DeepEqual(prog[0].argv, want) {
				t.Errorf("%s argv\n got %q\nwant %q", tt.program, prog[0].argv, want)
			}
			for _, n := range tt.containerEnv {
				if !slices.Contains(prog[0].env, n) {
					t.Errorf("%s did not get %s; its environment: %v", tt.program, n, prog[0].env)
				}
			}
			runs := r.callsOf("docker", "run")
			if tt.docker != nil {
				if len(runs) != 1 {
					t.Fatalf("docker run %d times, want once", len(runs))
				}
				if want := subst(tt.docker); !reflect.DeepEqual(runs[0].argv, want) {
					t.Errorf("docker argv\n got %q\nwant %q", runs[0].argv, want)
				}
				// Outside docker the server sees only what was passed by name.
				for _, n := range prog[0].env {
					if n == "MODEL" || n == "FLEET_BIN" || n == "CUDA_VISIBLE_DEVICES" {
						t.Errorf("the container got %s, which docker should not pass", n)
					}
				}
				if len(r.callsOf("docker", "stop")) == 0 {
					t.Errorf("no docker stop after TERM")
				}
			} else if len(runs) != 0 {
				t.Errorf("docker ran for RUNTIME=%s: %q", env, runs[0].argv)
			}
			if tt.enroot != nil {
				var got [][]string
				for _, c := range r.callsOf("enroot", "") {
					got = append(got, c.argv)
				}
				var want [][]string
				for _, w := range tt.enroot {
					want = append(want, subst(w))
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("enroot calls\n got %q\nwant %q", got, want)
				}
			}
			if tt.configFile != "" {
				b, err := os.ReadFile(filepath.Join(r.work, tt.configFile))
				must(t, err)
				if string(b) != tt.config {
					t.Errorf("%s\n got:\n%s\nwant:\n%s", tt.configFile, b, tt.config)
				}
			}
			if left := r.waitGone(10 * time.Second); len(left) > 0 {
				t.Errorf("processes still running after the launcher stopped: %v", left)
			}
			if c := r.containers(); len(c) > 0 {
				t.Errorf("containers left: %v", c)
			}
			r.noSecret(r.work)
		})
	}
}
