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

// TestAgenticLaunchers runs each launcher for an agentic job (AGENTIC=true,
// scripts/README.md "Agentic jobs") with each KV offload backend its
// framework renders, in docker and in enroot, and checks the exact
// command line and config the framework got: prefix caching on, no
// context cap, the backend's flags with TOTAL_CPU_DRAM_GB divided among
// ranks, and the variables the backend needs inside the container.
func TestAgenticLaunchers(t *testing.T) {
	job := "cfg_cc_tp8-ep1-dpafalse-agentic-kvnone_conc4"
	vllmArgv := []string{"serve", "meta/Test-Model", "--host", "127.0.0.1", "--port", "{P}", "--config", "vllm-config.yaml"}
	vllmConfig := func(extra string) string {
		return `# vLLM settings of job ` + job + `, written by scripts/server/vllm.sh
tensor-parallel-size: 8
data-parallel-size: 1
max-num-seqs: 4
max-num-batched-tokens: 8192
gpu-memory-utilization: 0.9
kv-cache-dtype: fp8
async-scheduling: true
enable-prefix-caching: true
` + extra
	}
	sglangArgv := func(extra ...string) []string {
		return append([]string{"-m", "sglang.launch_server", "--model-path", "meta/Test-Model", "--host", "127.0.0.1", "--port", "{P}",
			"--trust-remote-code", "--tp-size", "8", "--dp-size", "1", "--ep-size", "1",
			"--mem-fraction-static", "0.82", "--cuda-graph-max-bs", "4", "--max-running-requests", "4",
			"--chunked-prefill-size", "32768", "--max-prefill-tokens", "32768"}, append(extra, "--stream-interval", "10")...)
	}
	trtArgv := []string{"meta/Test-Model", "--host", "127.0.0.1", "--port", "{P}", "--backend", "pytorch", "--trust_remote_code",
		"--tp_size", "8", "--ep_size", "1", "--pp_size", "1", "--max_batch_size", "4", "--max_num_tokens", "8192",
		"--extra_llm_api_options", "trtllm-extra.yaml"}
	trtConfig := func(host string) string {
		return `# TensorRT-LLM options of job ` + job + `, written by scripts/server/trt.sh
cuda_graph_config:
  enable_padding: true
  max_batch_size: 4
enable_attention_dp: false
kv_cache_config:
  dtype: fp8
  free_gpu_memory_fraction: 0.9
  enable_block_reuse: true
  tokens_per_block: 128
` + host + `stream_interval: 10
enable_chunked_prefill: true
`
	}
	const image = "example/server:1"
	tests := []struct {
		name, launcher string
		vars           []string // over the agentic defaults (offload none, MAX_MODEL_LEN unset)
		program        string
		argv           []string
		configFile     string
		config         string
		files          map[string]string // other files the launcher writes
		containerEnv   []string          // names the server must see
	}{
		{name: "vLLM, no offload", launcher: "vllm", program: "vllm", argv: vllmArgv, configFile: "vllm-config.yaml", config: vllmConfig("")},
		{name: "vLLM, SimpleCPUOffloadConnector", launcher: "vllm", vars: dram("vllm-simple", 800), program: "vllm", argv: vllmArgv,
			configFile: "vllm-config.yaml",
			config: vllmConfig(`kv-transfer-config: '{"kv_connector":"SimpleCPUOffloadConnector","kv_role":"kv_both","kv_connector_extra_config":{"cpu_bytes_to_use_per_rank":100000000000,"lazy_offload":false}}'
`),
			containerEnv: []string{"PYTHONHASHSEED"}},
		{name: "vLLM, native offloading", launcher: "vllm", vars: dram("vllm-native", 800), program: "vllm", argv: vllmArgv,
			configFile: "vllm-config.yaml", config: vllmConfig("kv-offloading-backend: native\nkv-offloading-size: 800\n")},
		{name: "vLLM, LMCache", launcher: "vllm", vars: dram("lmcache", 100), program: "vllm", argv: vllmArgv,
			configFile: "vllm-config.yaml",
			config: vllmConfig(`kv-transfer-config: '{"kv_connector":"LMCacheConnectorV1","kv_role":"kv_both"}'
`),
			containerEnv: []string{"LMCACHE_CHUNK_SIZE", "LMCACHE_LOCAL_CPU", "LMCACHE_MAX_LOCAL_CPU_SIZE"}},
		{name: "vLLM, Mooncake store", launcher: "vllm", vars: append(dram("mooncake", 80), "MOONCAKE_MASTER=10.0.0.9:50051"), program: "vllm", argv: vllmArgv,
			configFile: "vllm-config.yaml",
			config: vllmConfig(`kv-transfer-config: '{"kv_connector":"MooncakeStoreConnector","kv_role":"kv_both","kv_connector_extra_config":{"load_async":true}}'
`),
			files: map[string]string{"mooncake-config.json": `{
  "local_hostname": "localhost",
  "metadata_server": "P2PHANDSHAKE",
  "master_server_address": "10.0.0.9:50051",
  "global_segment_size": 10000000000,
  "local_buffer_size": 4000000000,
  "protocol": "tcp",
  "device_name": ""
}
`},
			containerEnv: []string{"MOONCAKE_CONFIG_PATH"}},
		{name: "SGLang, no offload", launcher: "sglang", vars: []string{"FRAMEWORK=sglang"}, program: "python3", argv: sglangArgv()},
		{name: "SGLang, HiCache", launcher: "sglang", vars: append(dram("hicache", 801), "FRAMEWORK=sglang"), program: "python3",
			argv: sglangArgv("--enable-hierarchical-cache", "--hicache-size", "100", "--page-size", "64", "--hicache-io-backend", "kernel",
				"--hicache-mem-layout", "page_first", "--hicache-write-policy", "write_through")},
		{name: "TensorRT-LLM, no offload", launcher: "trt", vars: []string{"FRAMEWORK=trt"}, program: "trtllm-serve", argv: trtArgv,
			configFile: "trtllm-extra.yaml", config: trtConfig("")},
		{name: "TensorRT-LLM, host cache", launcher: "trt", vars: append(dram("native", 400), "FRAMEWORK=trt"), program: "trtllm-serve", argv: trtArgv,
			configFile: "trtllm-extra.yaml", config: trtConfig("  host_cache_size: 50000000000\n")},
	}
	for _, tt := range tests {
		for _, runtime := range []string{"docker", "enroot"} {
			t.Run(tt.name+" in "+runtime, func(t *testing.T) {
				t.Parallel()
				r := newRig(t, "H200")
				port := freePort(t)
				vars := append([]string{"AGENTIC=true", "KV_OFFLOADING=none", "MAX_MODEL_LEN=", "ISL=", "OSL=", "TOTAL_CPU_DRAM_GB=0",
					"FLEET_JOB_ID=" + job, "RUNTIME=" + runtime, "IMAGE=" + image}, tt.vars...)
				s := r.start(r.env(port, vars...), "bash", "scripts/server/"+tt.launcher+".sh")
				waitHealthy(t, s, port)
				must(t, s.cmd.Process.Signal(syscall.SIGTERM))
				if code := s.wait(t, 30*time.Second); code != 143 {
					t.Errorf("launcher exited %d after TERM, want 143; output:\n%s", code, s.out)
				}
				prog := r.callsOf(tt.program, "")
				if len(prog) != 1 {
					t.Fatalf("%s ran %d times, want once; output:\n%s", tt.program, len(prog), s.out)
				}
				var want []string
				for _, a := range tt.argv {
					want = append(want, strings.ReplaceAll(a, "{P}", strconv.Itoa(port)))
				}
				if !reflect.DeepEqual(prog[0].argv, want) {
					t.Errorf("%s argv\n got %q\nwant %q", tt.program, prog[0].argv, want)
				}
				for _, n := range tt.containerEnv {
					if !slices.Contains(prog[0].env, n) {
						t.Errorf("%s did not get %s; its environment: %v", tt.program, n, prog[0].env)
					}
				}
				files := map[string]string{}
				for k, v := range tt.files {
					files[k] = v
				}
				if tt.configFile != "" {
					files[tt.configFile] = tt.config
				}
				for name, content := range files {
					b, err := os.ReadFile(filepath.Join(r.work, name))
					must(t, err)
					if string(b) != content {
						t.Errorf("%s\n got:\n%s\nwant:\n%s", name, b, content)
					}
				}
				switch runtime {
				case "docker":
					if len(r.callsOf("docker", "run")) != 1 {
						t.Errorf("docker run %d times, want once", len(r.callsOf("docker", "run")))
					}
				case "enroot":
					if len(r.callsOf("enroot", "start")) != 1 {
						t.Errorf("enroot start %d times, want once", len(r.callsOf("enroot", "start")))
					}
				}
				if left := r.waitGone(10 * time.Second); len(left) > 0 {
					t.Errorf("processes still running after the launcher stopped: %v", left)
				}
			})
		}
	}
}

// dram is the environment of a job offloading gb GB to backend.
func dram(backend string, gb int) []string {
	return []string{"KV_OFFLOADING=dram", "KV_OFFLOAD_BACKEND=" + backend, "TOTAL_CPU_DRAM_GB=" + strconv.Itoa(gb)}
}

// TestAgenticSimLauncher: the simulator gets its KV cache flags, the CPU
// tier in tokens from TOTAL_CPU_DRAM_GB and the server args' bytes per
// token (or the documented default).
func TestAgenticSimLauncher(t *testing.T) {
	tests := []struct {
		name string
		vars []string
		args []string
		want []string // after --model
	}{
		{"no offload", nil, nil, []string{"--max-model-len", "1048576", "--kv-cache-tokens", "1048576"}},
		{"offload, default bytes per token", dram("native", 100), nil,
			[]string{"--max-model-len", "1048576", "--kv-cache-tokens", "1048576", "--kv-cpu-cache-tokens", "305175"}},
		{"offload, the server args' bytes per token and GPU tokens", append(dram("hicache", 100), "SIM_KV_CACHE_TOKENS=65536"), []string{"--kv-bytes-per-token", "1000000"},
			[]string{"--max-model-len", "1048576", "--kv-cache-tokens", "65536", "--kv-cpu-cache-tokens", "100000", "--kv-bytes-per-token", "1000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, "H200")
			port := freePort(t)
			vars := append([]string{"AGENTIC=true", "KV_OFFLOADING=none", "FRAMEWORK=sim", "FLEET_BIN=" + filepath.Join(r.bin, "fleet")}, tt.vars...)
			s := r.start(r.env(port, vars...), "bash", append([]string{"scripts/server/sim.sh"}, tt.args...)...)
			waitHealthy(t, s, port)
			must(t, s.cmd.Process.Signal(syscall.SIGTERM))
			s.wait(t, 30*time.Second)
			calls := r.callsOf("fleet", "sim")
			if len(calls) != 1 {
				t.Fatalf("fleet sim ran %d times; output:\n%s", len(calls), s.out)
			}
			want := append([]string{"sim", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--model", "meta/Test-Model"}, tt.want...)
			if !reflect.DeepEqual(calls[0].argv, want) {
				t.Errorf("fleet argv\n got %q\nwant %q", calls[0].argv, want)
			}
		})
	}
}

// TestAgenticLaunchersRefuse: a backend the framework does not render,
// or offload settings that do not add up, stop the launcher with
// FLEET_EXIT_BAD_ENV (14) and a reason before anything starts.
func TestAgenticLaunchersRefuse(t *testing.T) {
	tests := []struct {
		name, launcher string
		vars           []string
		want           string
	}{
		{"SGLang has no vLLM connector", "sglang", dram("vllm-simple", 100), "the sglang launcher has no KV offload backend 'vllm-simple': want hicache"},
		{"vLLM has no HiCache", "vllm", dram("hicache", 100), "the vllm launcher has no KV offload backend 'hicache'"},
		{"TensorRT-LLM has no LMCache", "trt", dram("lmcache", 100), "the trt launcher has no KV offload backend 'lmcache': want native"},
		{"Dynamo renders no offload", "dynamo-vllm", dram("vllm-simple", 100), "the dynamo-vllm launcher renders no KV offload"},
		{"Mooncake needs its master", "vllm", dram("mooncake", 100), "mooncake KV offload needs a running mooncake_master"},
		{"an unknown offload mode", "vllm", []string{"KV_OFFLOADING=disk"}, "KV_OFFLOADING=disk: want none or dram"},
		{"dram without its size", "sglang", []string{"KV_OFFLOADING=dram", "KV_OFFLOAD_BACKEND=hicache"}, "needs TOTAL_CPU_DRAM_GB"},
		{"no offload on a PD worker", "vllm", append(dram("vllm-simple", 100), "ROLE=prefill", "NODE_ADDR=127.0.0.1", "BOOTSTRAP_PORT=7000"),
			"offload on aggregated workers only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, "H200")
			port := freePort(t)
			vars := append([]string{"AGENTIC=true", "RUNTIME=docker", "IMAGE=example/server:1", "TOTAL_CPU_DRAM_GB="}, tt.vars...)
			s := r.start(r.env(port, vars...), "bash", "scripts/server/"+tt.launcher+".sh")
			if code := s.wait(t, 30*time.Second); code != 14 {
				t.Errorf("exit %d, want 14; output:\n%s", code, s.out)
			}
			if out := s.out.String(); !strings.Contains(out, tt.want) {
				t.Errorf("output does not say %q:\n%s", tt.want, out)
			}
			if runs := r.callsOf("docker", "run"); len(runs) > 0 {
				t.Errorf("docker ran: %q", runs[0].argv)
			}
		})
	}
}
