package scriptstest

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/topology"
)

// roleJob is the job id of the multi-node tests' jobs (r.env's).
const roleJob = "cfg_1k1k_tp8-ep1-dpafalse_conc4"

// roleImage is the image every multi-node test job runs, and its squash
// file's name.
const roleImage, roleSquash = "fleet/pd-test:1", "fleet+pd-test+1.sqsh"

// Shapes of the multi-node tests.
var (
	// 1 prefill worker tp4, 1 decode worker tp4 (KV engine per case).
	pd1x1 = topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 4}, Decode: topology.Pool{Workers: 1, TP: 4}}
	// 2 prefill workers tp4, 1 decode worker tp16 ep16 with data-parallel
	// attention over 2 nodes of 8 GPUs.
	pdWide = topology.Shape{Prefill: topology.Pool{Workers: 2, TP: 4}, Decode: topology.Pool{Workers: 1, TP: 16, EP: 16, DPAttn: true}, KVTransfer: "nixl"}
	// 2 aggregated workers tp8.
	agg2 = topology.Shape{Prefill: topology.Pool{Workers: 2, TP: 8}}
)

// Processes and endpoints of the multi-node tests: node 0 is 10.0.0.1,
// node 1 10.0.0.2.
var (
	prefill0    = topology.Process{Role: topology.RolePrefill, Worker: 0, Nodes: 1, Devices: []int{0, 1, 2, 3}}
	decode0     = topology.Process{Role: topology.RoleDecode, Worker: 0, Nodes: 1, Devices: []int{4, 5, 6, 7}}
	agg1        = topology.Process{Role: topology.RoleAgg, Worker: 1, Nodes: 1, Devices: []int{0, 1, 2, 3, 4, 5, 6, 7}}
	router0     = topology.Process{Role: topology.RoleRouter}
	infra0      = topology.Process{Role: topology.RoleInfra}
	decodeLead  = topology.Process{Role: topology.RoleDecode, Worker: 0, Nodes: 2, Devices: []int{0, 1, 2, 3, 4, 5, 6, 7}}
	decodeRank1 = topology.Process{Role: topology.RoleDecode, Worker: 0, Rank: 1, Nodes: 2, Devices: []int{0, 1, 2, 3, 4, 5, 6, 7}}

	infraEP    = jobspec.Endpoint{Role: topology.RoleInfra, Host: "10.0.0.1", Port: 2379, BootstrapPort: 4222}
	decodeLdEP = jobspec.Endpoint{Role: topology.RoleDecode, Node: 2, Host: "10.0.0.3", Port: 6100, BootstrapPort: 7200, DistPort: 8300}
	pdPeers    = []jobspec.Endpoint{
		{Role: topology.RolePrefill, Worker: 0, Host: "10.0.0.1", Port: 6100, BootstrapPort: 7200, DistPort: 8300},
		{Role: topology.RolePrefill, Worker: 1, Host: "10.0.0.1", Port: 6132, BootstrapPort: 7201, DistPort: 8301},
		decodeLdEP,
		{Role: topology.RoleDecode, Worker: 0, Rank: 1, Node: 3, Host: "10.0.0.4", Port: 6100},
	}
	aggPeers = []jobspec.Endpoint{
		{Role: topology.RoleAgg, Worker: 0, Host: "10.0.0.1", Port: 6100, DistPort: 8300},
		{Role: topology.RoleAgg, Worker: 1, Host: "10.0.0.2", Port: 6100, DistPort: 8300},
	}
)

// roleEnv is the launcher environment of process p of a multi-node job
// (jobspec.ProcessEnv over the rig's job), listening on port of
// 10.0.0.<node+1> with bootstrap port 8998 and distributed-init port
// 8300 unless self says otherwise. Only the rig's own variables (PATH,
// HOME, the token) stay from the single-node environment.
func (r *rig) roleEnv(port int, vars []string, s topology.Shape, p topology.Process, self jobspec.Endpoint, peers []jobspec.Endpoint) []string {
	r.t.Helper()
	base := r.env(port, vars...)
	j := r.jobOf(base)
	j.Multi = &jobspec.Multi{Shape: s, ConcList: []int{4, 16}}
	self.Role, self.Worker, self.Rank = p.Role, p.Worker, p.Rank
	if self.Host == "" {
		self.Host = "10.0.0." + strconv.Itoa(self.Node+1)
	}
	self.Port = port
	if self.BootstrapPort == 0 {
		self.BootstrapPort = 8998
	}
	if self.DistPort == 0 {
		self.DistPort = 8300
	}
	job := j.Env()
	m := map[string]string{}
	for _, e := range base {
		k, v, _ := strings.Cut(e, "=")
		switch k {
		case "TP", "EP", "PP", "DP_ATTN", "GPUS", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES":
			continue
		}
		if _, ok := job[k]; !ok {
			m[k] = v
		}
	}
	for k, v := range j.ProcessEnv(p, self, peers) {
		m[k] = v
	}
	m["FLEET_BIN"] = filepath.Join(r.bin, "fleet")
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// TestRoleLaunchers starts every framework's launcher for each role of a
// multi-node job, in docker and in enroot, with the environment
// jobspec.ProcessEnv gives, waits for the (simulated) process to answer
// on its port, stops it as fleet does (TERM), and checks the exact
// command line, container and config files, and that nothing is left.
func TestRoleLaunchers(t *testing.T) {
	user := nodeUser(t)
	tests := []struct {
		name     string
		launcher string
		shape    topology.Shape
		proc     topology.Process
		self     jobspec.Endpoint // host, node and bootstrap/dist ports; the port is the test's
		peers    []jobspec.Endpoint
		vars     []string // job variables over r.env's
		args     []string // the launcher's extra arguments (server_args)
		// program and argv ({P} port, {W} work dir, {N} the infra's NATS
		// port): what the container runs; argv nil for a shell that runs
		// the programs of also.
		program string
		argv    []string
		also    map[string][]string
		// envs: the variables the container gets by name, besides
		// HF_HOME, HF_TOKEN and PYTHONNOUSERSITE.
		envs []string
		// files: files in the work dir and their exact content.
		files map[string]string
		// hostOnly: the simulator, which runs on this machine whatever
		// the runtime; pyxis: only inside a Slurm job whose step pyxis
		// put in the container (RUNTIME=enroot, SLURM_JOB_ID set).
		hostOnly, pyxis bool
	}{
		{
			name: "SGLang prefill, mooncake by default", launcher: "sglang", shape: pd1x1, proc: prefill0,
			program: "python3",
			argv: []string{"-m", "sglang.launch_server", "--model-path", "meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}",
				"--trust-remote-code", "--tp-size", "4", "--dp-size", "1", "--ep-size", "1", "--context-length", "2304",
				"--mem-fraction-static", "0.82", "--cuda-graph-max-bs", "16", "--max-running-requests", "16",
				"--chunked-prefill-size", "32768", "--max-prefill-tokens", "32768", "--disable-radix-cache", "--stream-interval", "10",
				"--disaggregation-mode", "prefill", "--disaggregation-transfer-backend", "mooncake", "--disaggregation-bootstrap-port", "8998"},
		},
		{
			name: "SGLang decode, second node of a dp-attention worker, radix cache asked for", launcher: "sglang", shape: pdWide, proc: decodeRank1,
			self: jobspec.Endpoint{Node: 3}, peers: []jobspec.Endpoint{decodeLdEP},
			args:    []string{"--disaggregation-decode-enable-radix-cache"},
			program: "python3",
			argv: []string{"-m", "sglang.launch_server", "--model-path", "meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}",
				"--trust-remote-code", "--tp-size", "16", "--dp-size", "16", "--enable-dp-attention", "--ep-size", "16", "--context-length", "2304",
				"--mem-fraction-static", "0.82", "--cuda-graph-max-bs", "16", "--max-running-requests", "16",
				"--chunked-prefill-size", "32768", "--max-prefill-tokens", "32768", "--stream-interval", "10",
				"--disaggregation-mode", "decode", "--disaggregation-transfer-backend", "nixl",
				"--dist-init-addr", "10.0.0.3:8300", "--nnodes", "2", "--node-rank", "1", "--disaggregation-decode-enable-radix-cache"},
		},
		{
			name: "SGLang aggregated worker", launcher: "sglang", shape: agg2, proc: agg1, self: jobspec.Endpoint{Node: 1},
			program: "python3",
			argv: []string{"-m", "sglang.launch_server", "--model-path", "meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}",
				"--trust-remote-code", "--tp-size", "8", "--dp-size", "1", "--ep-size", "1", "--context-length", "2304",
				"--mem-fraction-static", "0.82", "--cuda-graph-max-bs", "16", "--max-running-requests", "16",
				"--chunked-prefill-size", "32768", "--max-prefill-tokens", "32768", "--disable-radix-cache", "--stream-interval", "10"},
		},
		{
			name: "SGLang router, prefill with bootstrap ports, session affinity", launcher: "sglang", proc: router0, peers: pdPeers,
			shape: withPolicy(pdWide, "session"), args: []string{"--mem-fraction-static", "0.8"},
			program: "python3",
			argv: []string{"-m", "sglang_router.launch_router", "--pd-disaggregation",
				"--prefill", "http://10.0.0.1:6100", "7200", "--prefill", "http://10.0.0.1:6132", "7201", "--decode", "http://10.0.0.3:6100",
				"--host", "0.0.0.0", "--port", "{P}", "--policy", "consistent_hashing"},
		},
		{
			name: "SGLang router of aggregated workers", launcher: "sglang", shape: withPolicy(agg2, "random"), proc: router0, peers: aggPeers,
			program: "python3",
			argv: []string{"-m", "sglang_router.launch_router", "--worker-urls", "http://10.0.0.1:6100", "http://10.0.0.2:6100",
				"--host", "0.0.0.0", "--port", "{P}", "--policy", "random"},
		},
		{
			name: "vLLM prefill over NIXL", launcher: "vllm", shape: withKV(pd1x1, "nixl"), proc: prefill0,
			program: "vllm",
			argv: []string{"serve", "meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}", "--config", "vllm-config-prefill-0.yaml",
				"--kv-transfer-config", `{"kv_connector":"NixlConnector","kv_role":"kv_both"}`},
			envs: []string{"VLLM_NIXL_SIDE_CHANNEL_HOST", "VLLM_NIXL_SIDE_CHANNEL_PORT"},
			files: map[string]string{"vllm-config-prefill-0.yaml": `# vLLM settings of job ` + roleJob + `, written by scripts/server/vllm.sh
tensor-parallel-size: 4
data-parallel-size: 1
max-model-len: 2304
max-num-seqs: 16
max-num-batched-tokens: 8192
gpu-memory-utilization: 0.9
kv-cache-dtype: fp8
async-scheduling: true
no-enable-prefix-caching: true
`},
		},
		{
			name: "vLLM decode over Mooncake, second node of a data-parallel worker", launcher: "vllm", shape: withKV(pdWide, "mooncake"),
			proc: decodeRank1, self: jobspec.Endpoint{Node: 3}, peers: []jobspec.Endpoint{decodeLdEP},
			program: "vllm",
			argv: []string{"serve", "meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}", "--config", "vllm-config-decode-0-node1.yaml",
				"--kv-transfer-config", `{"kv_connector":"MooncakeConnector","kv_role":"kv_consumer"}`,
				"--data-parallel-size-local", "8", "--data-parallel-start-rank", "8", "--data-parallel-address", "10.0.0.3",
				"--data-parallel-rpc-port", "8300", "--headless"},
			envs: []string{"VLLM_NIXL_SIDE_CHANNEL_HOST", "VLLM_NIXL_SIDE_CHANNEL_PORT"},
			files: map[string]string{"vllm-config-decode-0-node1.yaml": `# vLLM settings of job ` + roleJob + `, written by scripts/server/vllm.sh
tensor-parallel-size: 1
data-parallel-size: 16
enable-expert-parallel: true
max-model-len: 2304
max-num-seqs: 16
max-num-batched-tokens: 8192
gpu-memory-utilization: 0.9
kv-cache-dtype: fp8
async-scheduling: true
no-enable-prefix-caching: true
`},
		},
		{
			name: "vLLM decode leader over MoRI", launcher: "vllm", shape: withKV(pdWide, "mori"), proc: decodeLead, self: jobspec.Endpoint{Node: 2},
			program: "vllm",
			argv: []string{"serve", "meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}", "--config", "vllm-config-decode-0.yaml",
				"--kv-transfer-config", `{"kv_connector":"MoRIIOConnector","kv_role":"kv_consumer"}`,
				"--data-parallel-size-local", "8", "--data-parallel-start-rank", "0", "--data-parallel-address", "10.0.0.3",
				"--data-parallel-rpc-port", "8300"},
			envs: []string{"VLLM_NIXL_SIDE_CHANNEL_HOST", "VLLM_NIXL_SIDE_CHANNEL_PORT"},
		},
		{
			name: "vLLM aggregated worker", launcher: "vllm", shape: agg2, proc: agg1, args: []string{"--enforce-eager"},
			program: "vllm",
			argv:    []string{"serve", "meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}", "--config", "vllm-config-agg-1.yaml", "--enforce-eager"},
		},
		{
			name: "vLLM router (vllm-router), two-phase prefill then decode", launcher: "vllm", shape: pdWide, proc: router0, peers: pdPeers,
			args:    []string{"--enforce-eager"},
			program: "vllm-router",
			argv: []string{"--vllm-pd-disaggregation", "--prefill", "http://10.0.0.1:6100", "--prefill", "http://10.0.0.1:6132",
				"--decode", "http://10.0.0.3:6100", "--host", "0.0.0.0", "--port", "{P}", "--policy", "round_robin"},
		},
		{
			name: "vLLM router of aggregated workers, session affinity", launcher: "vllm", shape: withPolicy(agg2, "session"), proc: router0, peers: aggPeers,
			program: "vllm-router",
			argv: []string{"--worker-urls", "http://10.0.0.1:6100", "http://10.0.0.2:6100",
				"--host", "0.0.0.0", "--port", "{P}", "--policy", "consistent_hash"},
		},
		{
			name: "TensorRT-LLM context server over NIXL", launcher: "trt", shape: withKV(pd1x1, "nixl"), proc: prefill0,
			program: "trtllm-serve",
			argv: []string{"meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}", "--backend", "pytorch", "--trust_remote_code",
				"--tp_size", "4", "--ep_size", "1", "--pp_size", "1", "--max_seq_len", "2304", "--max_batch_size", "16",
				"--max_num_tokens", "8192", "--config", "trtllm-extra-prefill-0.yaml"},
			files: map[string]string{"trtllm-extra-prefill-0.yaml": `# TensorRT-LLM options of job ` + roleJob + `, written by scripts/server/trt.sh
cuda_graph_config:
  enable_padding: true
  max_batch_size: 16
enable_attention_dp: false
kv_cache_config:
  dtype: fp8
  free_gpu_memory_fraction: 0.9
  enable_block_reuse: false
stream_interval: 10
cache_transceiver_config:
  backend: NIXL
  max_tokens_in_buffer: 2304
disable_overlap_scheduler: true
`},
		},
		{
			name: "TensorRT-LLM generation server over UCX", launcher: "trt", shape: withKV(pd1x1, "ucx"), proc: decode0,
			program: "trtllm-serve",
			argv: []string{"meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}", "--backend", "pytorch", "--trust_remote_code",
				"--tp_size", "4", "--ep_size", "1", "--pp_size", "1", "--max_seq_len", "2304", "--max_batch_size", "16",
				"--max_num_tokens", "8192", "--config", "trtllm-extra-decode-0.yaml"},
			files: map[string]string{"trtllm-extra-decode-0.yaml": `# TensorRT-LLM options of job ` + roleJob + `, written by scripts/server/trt.sh
cuda_graph_config:
  enable_padding: true
  max_batch_size: 16
enable_attention_dp: false
kv_cache_config:
  dtype: fp8
  free_gpu_memory_fraction: 0.9
  enable_block_reuse: false
stream_interval: 10
cache_transceiver_config:
  backend: UCX
  max_tokens_in_buffer: 2304
`},
		},
		{
			name: "TensorRT-LLM aggregated worker", launcher: "trt", shape: agg2, proc: agg1,
			program: "trtllm-serve",
			argv: []string{"meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}", "--backend", "pytorch", "--trust_remote_code",
				"--tp_size", "8", "--ep_size", "1", "--pp_size", "1", "--max_seq_len", "2304", "--max_batch_size", "16",
				"--max_num_tokens", "8192", "--config", "trtllm-extra-agg-1.yaml"},
		},
		{
			name: "TensorRT-LLM disaggregated server", launcher: "trt", shape: pdWide, proc: router0, peers: pdPeers,
			program: "trtllm-serve",
			argv:    []string{"disaggregated", "-c", "trtllm-disagg-router-0.yaml"},
			files: map[string]string{"trtllm-disagg-router-0.yaml": `# TensorRT-LLM disaggregated server of job ` + roleJob + `, written by scripts/server/trt.sh
hostname: 0.0.0.0
port: {P}
backend: pytorch
context_servers:
  num_instances: 2
  router:
    type: round_robin
  urls:
    - "10.0.0.1:6100"
    - "10.0.0.1:6132"
generation_servers:
  num_instances: 1
  router:
    type: round_robin
  urls:
    - "10.0.0.3:6100"
`},
		},
		{
			name: "Dynamo infra: etcd and NATS", launcher: "dynamo-vllm", shape: withInfra(pd1x1), proc: infra0,
			self:    jobspec.Endpoint{DistPort: 2380},
			program: "bash",
			also: map[string][]string{
				"etcd": {"--name", "infra-0", "--data-dir", "{W}/etcd-infra-0", "--listen-client-urls", "http://0.0.0.0:{P}",
					"--advertise-client-urls", "http://10.0.0.1:{P}", "--listen-peer-urls", "http://127.0.0.1:2380",
					"--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--initial-cluster", "infra-0=http://127.0.0.1:2380"},
				"nats-server": {"-a", "0.0.0.0", "-p", "{N}", "-js", "--store_dir", "{W}/nats-infra-0"},
			},
		},
		{
			name: "Dynamo frontend, session affinity by KV routing", launcher: "dynamo-vllm", shape: withPolicy(withInfra(pdWide), "session"),
			proc: router0, peers: append([]jobspec.Endpoint{infraEP}, pdPeers...), args: []string{"--enforce-eager"},
			program: "python3",
			argv:    []string{"-m", "dynamo.frontend", "--http-port", "{P}", "--router-mode", "kv"},
			envs:    []string{"ETCD_ENDPOINTS", "NATS_SERVER"},
		},
		{
			name: "Dynamo vLLM prefill worker", launcher: "dynamo-vllm", shape: withInfra(withKV(pd1x1, "nixl")), proc: prefill0,
			peers:   []jobspec.Endpoint{infraEP},
			program: "python3",
			argv: []string{"-m", "dynamo.vllm", "--model", "meta/Test-Model", "--disaggregation-mode", "prefill",
				"--tensor-parallel-size", "4", "--data-parallel-size", "1", "--max-model-len", "2304", "--max-num-seqs", "16",
				"--kv-cache-dtype", "fp8", "--no-enable-prefix-caching",
				"--kv-transfer-config", `{"kv_connector":"NixlConnector","kv_role":"kv_both"}`},
			envs: []string{"DYN_SYSTEM_ENABLED", "DYN_SYSTEM_PORT", "ETCD_ENDPOINTS", "NATS_SERVER", "VLLM_NIXL_SIDE_CHANNEL_HOST", "VLLM_NIXL_SIDE_CHANNEL_PORT"},
		},
		{
			name: "Dynamo vLLM decode leader of a data-parallel worker", launcher: "dynamo-vllm", shape: withInfra(pdWide), proc: decodeLead,
			self: jobspec.Endpoint{Node: 2}, peers: []jobspec.Endpoint{infraEP},
			program: "python3",
			argv: []string{"-m", "dynamo.vllm", "--model", "meta/Test-Model", "--disaggregation-mode", "decode",
				"--tensor-parallel-size", "1", "--data-parallel-size", "16", "--enable-expert-parallel", "--max-model-len", "2304", "--max-num-seqs", "16",
				"--kv-cache-dtype", "fp8", "--no-enable-prefix-caching",
				"--kv-transfer-config", `{"kv_connector":"NixlConnector","kv_role":"kv_both"}`,
				"--data-parallel-size-local", "8", "--data-parallel-start-rank", "0", "--data-parallel-address", "10.0.0.3",
				"--data-parallel-rpc-port", "8300"},
			envs: []string{"DYN_SYSTEM_ENABLED", "DYN_SYSTEM_PORT", "ETCD_ENDPOINTS", "NATS_SERVER", "VLLM_NIXL_SIDE_CHANNEL_HOST", "VLLM_NIXL_SIDE_CHANNEL_PORT"},
		},
		{
			name: "Dynamo vLLM aggregated worker", launcher: "dynamo-vllm", shape: withInfra(agg2), proc: agg1, peers: []jobspec.Endpoint{infraEP},
			args:    []string{"--enforce-eager"},
			program: "python3",
			argv: []string{"-m", "dynamo.vllm", "--model", "meta/Test-Model",
				"--tensor-parallel-size", "8", "--data-parallel-size", "1", "--max-model-len", "2304", "--max-num-seqs", "16",
				"--kv-cache-dtype", "fp8", "--no-enable-prefix-caching", "--enforce-eager"},
			envs: []string{"DYN_SYSTEM_ENABLED", "DYN_SYSTEM_PORT", "ETCD_ENDPOINTS", "NATS_SERVER"},
		},
		{
			name: "Dynamo SGLang prefill worker, NIXL by default", launcher: "dynamo-sglang", shape: withInfra(pd1x1), proc: prefill0,
			peers:   []jobspec.Endpoint{infraEP},
			program: "python3",
			argv: []string{"-m", "dynamo.sglang", "--model-path", "meta/Test-Model", "--trust-remote-code", "--tp-size", "4", "--dp-size", "1",
				"--ep-size", "1", "--context-length", "2304", "--max-running-requests", "16", "--disable-radix-cache",
				"--disaggregation-mode", "prefill", "--disaggregation-transfer-backend", "nixl", "--disaggregation-bootstrap-port", "8998"},
			envs: []string{"DYN_SYSTEM_ENABLED", "DYN_SYSTEM_PORT", "ETCD_ENDPOINTS", "NATS_SERVER"},
		},
		{
			name: "Dynamo SGLang decode, second node of its worker", launcher: "dynamo-sglang", shape: withInfra(pdWide), proc: decodeRank1,
			self: jobspec.Endpoint{Node: 3}, peers: []jobspec.Endpoint{infraEP, decodeLdEP},
			program: "python3",
			argv: []string{"-m", "dynamo.sglang", "--model-path", "meta/Test-Model", "--trust-remote-code", "--tp-size", "16",
				"--dp-size", "16", "--enable-dp-attention", "--ep-size", "16", "--context-length", "2304", "--max-running-requests", "16",
				"--disable-radix-cache", "--disaggregation-mode", "decode", "--disaggregation-transfer-backend", "nixl",
				"--dist-init-addr", "10.0.0.3:8300", "--nnodes", "2", "--node-rank", "1"},
			envs: []string{"DYN_SYSTEM_ENABLED", "DYN_SYSTEM_PORT", "ETCD_ENDPOINTS", "NATS_SERVER"},
		},
		{
			name: "Dynamo TensorRT-LLM prefill worker", launcher: "dynamo-trt", shape: withInfra(withKV(pd1x1, "nixl")), proc: prefill0,
			peers:   []jobspec.Endpoint{infraEP},
			program: "python3",
			argv: []string{"-m", "dynamo.trtllm", "--model-path", "meta/Test-Model", "--disaggregation-mode", "prefill",
				"--extra-engine-args", "trtllm-engine-prefill-0.yaml"},
			envs: []string{"DYN_SYSTEM_ENABLED", "DYN_SYSTEM_PORT", "ETCD_ENDPOINTS", "NATS_SERVER"},
			files: map[string]string{"trtllm-engine-prefill-0.yaml": `# TensorRT-LLM engine options of job ` + roleJob + `, written by scripts/server/dynamo-trt.sh
tensor_parallel_size: 4
moe_expert_parallel_size: 1
enable_attention_dp: false
max_batch_size: 16
max_num_tokens: 8192
max_seq_len: 2304
kv_cache_config:
  free_gpu_memory_fraction: 0.8
  enable_block_reuse: false
cache_transceiver_config:
  backend: NIXL
  max_tokens_in_buffer: 2304
disable_overlap_scheduler: true
`},
		},
		{
			name: "Dynamo TensorRT-LLM aggregated worker", launcher: "dynamo-trt", shape: withInfra(agg2), proc: agg1, peers: []jobspec.Endpoint{infraEP},
			program: "python3",
			argv:    []string{"-m", "dynamo.trtllm", "--model-path", "meta/Test-Model", "--extra-engine-args", "trtllm-engine-agg-1.yaml"},
			envs:    []string{"DYN_SYSTEM_ENABLED", "DYN_SYSTEM_PORT", "ETCD_ENDPOINTS", "NATS_SERVER"},
			files: map[string]string{"trtllm-engine-agg-1.yaml": `# TensorRT-LLM engine options of job ` + roleJob + `, written by scripts/server/dynamo-trt.sh
tensor_parallel_size: 8
moe_expert_parallel_size: 1
enable_attention_dp: false
max_batch_size: 16
max_num_tokens: 8192
max_seq_len: 2304
kv_cache_config:
  free_gpu_memory_fraction: 0.8
  enable_block_reuse: false
`},
		},
		{
			name: "Dynamo SGLang frontend, random", launcher: "dynamo-sglang", shape: withPolicy(withInfra(pd1x1), "random"),
			proc: router0, peers: []jobspec.Endpoint{infraEP},
			program: "python3",
			argv:    []string{"-m", "dynamo.frontend", "--http-port", "{P}", "--router-mode", "random"},
			envs:    []string{"ETCD_ENDPOINTS", "NATS_SERVER"},
		},
		{
			name: "Dynamo SGLang aggregated worker", launcher: "dynamo-sglang", shape: withInfra(agg2), proc: agg1, peers: []jobspec.Endpoint{infraEP},
			program: "python3",
			argv: []string{"-m", "dynamo.sglang", "--model-path", "meta/Test-Model", "--trust-remote-code", "--tp-size", "8", "--dp-size", "1",
				"--ep-size", "1", "--context-length", "2304", "--max-running-requests", "16", "--disable-radix-cache"},
			envs: []string{"DYN_SYSTEM_ENABLED", "DYN_SYSTEM_PORT", "ETCD_ENDPOINTS", "NATS_SERVER"},
		},
		{
			name: "Dynamo SGLang infra", launcher: "dynamo-sglang", shape: withInfra(agg2), proc: infra0,
			program: "bash",
			also: map[string][]string{
				"etcd": {"--name", "infra-0", "--data-dir", "{W}/etcd-infra-0", "--listen-client-urls", "http://0.0.0.0:{P}",
					"--advertise-client-urls", "http://10.0.0.1:{P}", "--listen-peer-urls", "http://127.0.0.1:8300",
					"--initial-advertise-peer-urls", "http://127.0.0.1:8300", "--initial-cluster", "infra-0=http://127.0.0.1:8300"},
				"nats-server": {"-a", "0.0.0.0", "-p", "{N}", "-js", "--store_dir", "{W}/nats-infra-0"},
			},
		},
		{
			name: "Dynamo TensorRT-LLM decode worker, the default transceiver", launcher: "dynamo-trt", shape: withInfra(pd1x1), proc: decode0,
			peers:   []jobspec.Endpoint{infraEP},
			program: "python3",
			argv: []string{"-m", "dynamo.trtllm", "--model-path", "meta/Test-Model", "--disaggregation-mode", "decode",
				"--extra-engine-args", "trtllm-engine-decode-0.yaml"},
			envs: []string{"DYN_SYSTEM_ENABLED", "DYN_SYSTEM_PORT", "ETCD_ENDPOINTS", "NATS_SERVER"},
			files: map[string]string{"trtllm-engine-decode-0.yaml": `# TensorRT-LLM engine options of job ` + roleJob + `, written by scripts/server/dynamo-trt.sh
tensor_parallel_size: 4
moe_expert_parallel_size: 1
enable_attention_dp: false
max_batch_size: 16
max_num_tokens: 8192
max_seq_len: 2304
kv_cache_config:
  free_gpu_memory_fraction: 0.8
  enable_block_reuse: false
cache_transceiver_config:
  backend: DEFAULT
  max_tokens_in_buffer: 2304
`},
		},
		{
			name: "Dynamo TensorRT-LLM frontend", launcher: "dynamo-trt", shape: withInfra(pd1x1), proc: router0, peers: []jobspec.Endpoint{infraEP},
			program: "python3",
			argv:    []string{"-m", "dynamo.frontend", "--http-port", "{P}", "--router-mode", "round-robin"},
			envs:    []string{"ETCD_ENDPOINTS", "NATS_SERVER"},
		},
		{
			name: "SGLang decode inside a Slurm job", launcher: "sglang", shape: withKV(pd1x1, "mori"), proc: decode0, pyxis: true,
			program: "python3",
			argv: []string{"-m", "sglang.launch_server", "--model-path", "meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}",
				"--trust-remote-code", "--tp-size", "4", "--dp-size", "1", "--ep-size", "1", "--context-length", "2304",
				"--mem-fraction-static", "0.82", "--cuda-graph-max-bs", "16", "--max-running-requests", "16",
				"--chunked-prefill-size", "32768", "--max-prefill-tokens", "32768", "--disable-radix-cache", "--stream-interval", "10",
				"--disaggregation-mode", "decode", "--disaggregation-transfer-backend", "mori"},
		},
		{
			name: "TensorRT-LLM context server inside a Slurm job: mpirun", launcher: "trt", shape: pd1x1, proc: prefill0, pyxis: true,
			program: "mpirun",
			argv: []string{"-n", "1", "--oversubscribe", "--allow-run-as-root", "trtllm-serve", "meta/Test-Model", "--host", "0.0.0.0", "--port", "{P}",
				"--backend", "pytorch", "--trust_remote_code", "--tp_size", "4", "--ep_size", "1", "--pp_size", "1", "--max_seq_len", "2304",
				"--max_batch_size", "16", "--max_num_tokens", "8192", "--config", "trtllm-extra-prefill-0.yaml"},
		},
		{
			name: "Dynamo TensorRT-LLM worker inside a Slurm job: mpirun", launcher: "dynamo-trt", shape: withInfra(agg2), proc: agg1,
			peers: []jobspec.Endpoint{infraEP}, pyxis: true,
			program: "mpirun",
			argv: []string{"-n", "1", "--oversubscribe", "--allow-run-as-root", "python3", "-m", "dynamo.trtllm", "--model-path", "meta/Test-Model",
				"--extra-engine-args", "trtllm-engine-agg-1.yaml"},
		},
		{
			name: "sim prefill", launcher: "sim", shape: pd1x1, proc: prefill0, hostOnly: true, args: []string{"--time-scale", "0.05"},
			program: "fleet",
			argv: []string{"sim", "--role", "prefill", "--host", "0.0.0.0", "--port", "{P}", "--model", "meta/Test-Model", "--max-model-len", "2304",
				"--bootstrap-port", "8998", "--advertise-host", "10.0.0.1", "--time-scale", "0.05"},
		},
		{
			name: "sim decode, second node of its worker", launcher: "sim", shape: pdWide, proc: decodeRank1, hostOnly: true,
			self: jobspec.Endpoint{Node: 3, BootstrapPort: 7300}, peers: []jobspec.Endpoint{decodeLdEP},
			program: "fleet",
			argv: []string{"sim", "--role", "decode", "--host", "0.0.0.0", "--port", "{P}", "--model", "meta/Test-Model", "--max-model-len", "2304",
				"--bootstrap-port", "7300", "--nnodes", "2", "--node-rank", "1", "--dist-init-addr", "10.0.0.3:8300"},
		},
		{
			name: "sim aggregated worker", launcher: "sim", shape: agg2, proc: agg1, hostOnly: true,
			program: "fleet",
			argv:    []string{"sim", "--role", "agg", "--host", "0.0.0.0", "--port", "{P}", "--model", "meta/Test-Model", "--max-model-len", "2304"},
		},
		{
			name: "sim router of prefill and decode workers", launcher: "sim", shape: pdWide, proc: router0, peers: pdPeers, hostOnly: true,
			args:    []string{"--time-scale", "0.05"},
			program: "fleet",
			argv: []string{"sim", "--role", "router", "--host", "0.0.0.0", "--port", "{P}",
				"--prefill", "http://10.0.0.1:6100", "--prefill", "http://10.0.0.1:6132", "--decode", "http://10.0.0.3:6100", "--policy", "round_robin"},
		},
		{
			name: "sim router of aggregated workers, session affinity", launcher: "sim", shape: withPolicy(agg2, "session"), proc: router0,
			peers: aggPeers, hostOnly: true,
			program: "fleet",
			argv: []string{"sim", "--role", "router", "--host", "0.0.0.0", "--port", "{P}",
				"--agg", "http://10.0.0.1:6100", "--agg", "http://10.0.0.2:6100", "--policy", "session"},
		},
	}
	for _, tt := range tests {
		runtimes := []string{"docker", "enroot"}
		switch {
		case tt.hostOnly:
			runtimes = []string{"none"}
		case tt.pyxis:
			runtimes = []string{"pyxis"}
		}
		for _, rt := range runtimes {
			t.Run(tt.name+" in "+rt, func(t *testing.T) {
				t.Parallel()
				r := newRig(t, "H200")
				port := freePort(t)
				nats := 0
				self := tt.self
				if tt.proc.Role == topology.RoleInfra {
					nats = freePort(t)
					self.BootstrapPort = nats
				}
				vars := []string{"RUNTIME=" + rt, "IMAGE=" + roleImage}
				if rt == "pyxis" {
					vars = []string{"RUNTIME=enroot", "SLURM_JOB_ID=77", "IMAGE=" + roleImage}
				}
				env := r.roleEnv(port, vars, tt.shape, tt.proc, self, tt.peers)
				s := r.start(env, "bash", append([]string{"scripts/server/" + tt.launcher + ".sh"}, tt.args...)...)
				waitHealthy(t, s, port)
				if nats > 0 {
					waitHealthy(t, s, nats)
				}
				must(t, s.cmd.Process.Signal(syscall.SIGTERM))
				code := s.wait(t, 30*time.Second)
				if !tt.hostOnly && code != 143 {
					t.Errorf("launcher exited %d after TERM, want 143; output:\n%s", code, s.out)
				}

				name := "fleet-" + user + "-run1-" + roleJob + "-" + tt.proc.Name()
				sq := filepath.Join(r.root, "home", ".cache", "fleet", "squash", roleSquash)
				subst := func(in []string) []string {
					out := make([]string, len(in))
					for i, a := range in {
						out[i] = strings.NewReplacer("{W}", r.work, "{H}", r.hf, "{P}", strconv.Itoa(port), "{S}", sq, "{N}", strconv.Itoa(nats)).Replace(a)
					}
					return out
				}
				prog := r.callsOf(tt.program, "")
				if tt.argv != nil {
					if len(prog) != 1 {
						t.Fatalf("%s ran %d times, want once; output:\n%s", tt.program, len(prog), s.out)
					}
					if want := subst(tt.argv); !reflect.DeepEqual(prog[0].argv, want) {
						t.Errorf("%s argv\n got %q\nwant %q", tt.program, prog[0].argv, want)
					}
				}
				for p, argv := range tt.also {
					calls := r.callsOf(p, "")
					if len(calls) != 1 {
						t.Fatalf("%s ran %d times, want once; output:\n%s", p, len(calls), s.out)
					}
					if want := subst(argv); !reflect.DeepEqual(calls[0].argv, want) {
						t.Errorf("%s argv\n got %q\nwant %q", p, calls[0].argv, want)
					}
				}

				envs := append([]string{"HF_HOME", "HF_TOKEN", "PYTHONNOUSERSITE"}, tt.envs...)
				sort.Strings(envs)
				gpuless := tt.proc.Role == topology.RoleRouter || tt.proc.Role == topology.RoleInfra
				devs := make([]string, len(tt.proc.Devices))
				for i, d := range tt.proc.Devices {
					devs[i] = strconv.Itoa(d)
				}
				runs := r.callsOf("docker", "run")
				switch rt {
				case "docker":
					want := []string{"run", "--rm", "--name", name, "--network=host", "--ipc=host", "--shm-size=16g"}
					if !gpuless {
						want = append(want, "--gpus", `"device=`+strings.Join(devs, ",")+`"`)
					}
					want = append(want, "-v", "{W}:{W}", "-w", "{W}", "-v", "{H}:{H}")
					for _, n := range envs {
						want = append(want, "-e", n)
					}
					want = append(want, "--entrypoint", tt.program, roleImage)
					want = append(want, tt.argv...)
					if len(runs) != 1 {
						t.Fatalf("docker run %d times, want once; output:\n%s", len(runs), s.out)
					}
					got := runs[0].argv
					if tt.argv == nil && len(got) > len(want) {
						got = got[:len(want)] // a shell's script is not the point
					}
					if want := subst(want); !reflect.DeepEqual(got, want) {
						t.Errorf("docker argv\n got %q\nwant %q", got, want)
					}
					if len(r.callsOf("docker", "stop")) == 0 {
						t.Errorf("no docker stop after TERM")
					}
				case "enroot":
					start := []string{"start", "--rw", "-m", "{W}:{W}", "-m", "{H}:{H}"}
					for _, n := range envs {
						start = append(start, "-e", n)
					}
					if gpuless {
						start = append(start, "-e", "NVIDIA_VISIBLE_DEVICES=void")
					} else {
						start = append(start, "-e", "NVIDIA_VISIBLE_DEVICES="+strings.Join(devs, ","))
					}
					start = append(start, name, "sh", "-c", `cd "$1" && shift && exec "$@"`, "sh", "{W}", tt.program)
					start = append(start, tt.argv...)
					want := [][]string{
						subst([]string{"import", "-o", "{S}.part", "docker://" + roleImage}),
						subst([]string{"remove", "-f", name}),
						subst([]string{"create", "-n", name, "{S}"}),
						subst(start),
						subst([]string{"remove", "-f", name}),
					}
					var got [][]string
					for _, c := range r.callsOf("enroot", "") {
						got = append(got, c.argv)
					}
					if tt.argv == nil && len(got) == len(want) && len(got[3]) > len(want[3]) {
						got[3] = got[3][:len(want[3])]
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("enroot calls\n got %q\nwant %q", got, want)
					}
				}
				if rt != "docker" && len(runs) != 0 {
					t.Errorf("docker ran for RUNTIME=%s: %q", rt, runs[0].argv)
				}
				if rt == "pyxis" || rt == "none" {
					if c := r.callsOf("enroot", ""); len(c) != 0 {
						t.Errorf("enroot ran inside the job's container: %q", c[0].argv)
					}
				}
				for f, content := range tt.files {
					b, err := os.ReadFile(filepath.Join(r.work, f))
					must(t, err)
					if want := subst([]string{content})[0]; string(b) != want {
						t.Errorf("%s\n got:\n%s\nwant:\n%s", f, b, want)
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
}

func withPolicy(s topology.Shape, p string) topology.Shape { s.Router.Policy = p; return s }
func withKV(s topology.Shape, kv string) topology.Shape    { s.KVTransfer = kv; return s }
func withInfra(s topology.Shape) topology.Shape            { s.Infra = true; return s }

// TestRoleLaunchersRefuse: a role a framework cannot start ends the
// launcher with FLEET_EXIT_BAD_ENV (14) and a reason, before anything
// runs.
func TestRoleLaunchersRefuse(t *testing.T) {
	tests := []struct {
		name, launcher string
		shape          topology.Shape
		proc           topology.Process
		peers          []jobspec.Endpoint
		want           string
		over           []string // variables over the process's environment
	}{
		{"the simulator has no infra process", "sim", withInfra(pd1x1), infra0, nil, "the sim framework needs no infra process", nil},
		{"SGLang has no infra process", "sglang", withInfra(pd1x1), infra0, nil, "the sglang framework needs no infra process", nil},
		{"vLLM spans nodes by data parallelism only", "vllm", topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 16}, Decode: topology.Pool{Workers: 1, TP: 8}},
			topology.Process{Role: topology.RolePrefill, Nodes: 2, Devices: []int{0, 1, 2, 3, 4, 5, 6, 7}}, nil, "a vLLM worker spans nodes by data parallelism", nil},
		{"vLLM has no KV connector for ucx", "vllm", withKV(pd1x1, "ucx"), prefill0, nil, "vLLM has no connector for KV_TRANSFER=ucx", nil},
		{"TensorRT-LLM workers stay on one node", "trt", pdWide, decodeLead, nil, "a TensorRT-LLM worker spanning nodes needs one MPI job", nil},
		{"TensorRT-LLM has no aggregated router", "trt", agg2, router0, aggPeers, "an aggregated multi-node job has no trt router", nil},
		{"TensorRT-LLM's router is round robin only", "trt", withPolicy(pdWide, "session"), router0, pdPeers, "has no session policy", nil},
		{"TensorRT-LLM has no mooncake transceiver", "trt", withKV(pd1x1, "mooncake"), prefill0, nil, "no backend for KV_TRANSFER=mooncake", nil},
		{"Dynamo runs roles only", "dynamo-sglang", pd1x1, topology.Process{}, nil, "ROLE is not set", nil},
		{"Dynamo workers need the infra process", "dynamo-vllm", withInfra(pd1x1), prefill0, nil, "required variable ETCD_ENDPOINTS is not set", nil},
		{"an unknown role", "vllm", pd1x1, topology.Process{Role: "encode"}, nil, "unknown ROLE encode", nil},
		{"SGLang's router pairs each prefill worker with its bootstrap port", "sglang", pdWide, router0, pdPeers,
			"does not pair with PREFILL_ENDPOINTS", []string{"PREFILL_BOOTSTRAP_PORTS=7200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, "H200")
			port := freePort(t)
			env := r.env(port, "RUNTIME=docker", "IMAGE="+roleImage)
			if tt.proc.Role != "" {
				env = r.roleEnv(port, []string{"RUNTIME=docker", "IMAGE=" + roleImage}, tt.shape, tt.proc, jobspec.Endpoint{}, tt.peers)
			}
			env = append(env, tt.over...) // exec keeps the last value of a name
			s := r.start(env, "bash", "scripts/server/"+tt.launcher+".sh")
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

// TestContainerNamesPerRole: every process of a multi-node job on a node
// gets a container of its own, named after the job and the process;
// without ROLE the name is the single-node job's.
func TestContainerNamesPerRole(t *testing.T) {
	job := []string{"FLEET_RUN_ID=run1", "FLEET_JOB_ID=" + roleJob}
	base := containerName(t, "alice", job...)
	if base != "fleet-alice-run1-"+roleJob {
		t.Fatalf("single-node name %q", base)
	}
	tests := []struct {
		env  []string
		want string
	}{
		{[]string{"ROLE=prefill", "ROLE_NAME=prefill-0"}, base + "-prefill-0"},
		{[]string{"ROLE=decode", "ROLE_NAME=decode-0-node1"}, base + "-decode-0-node1"},
		{[]string{"ROLE=router", "ROLE_NAME=router-0"}, base + "-router-0"},
		{[]string{"ROLE_NAME=prefill-0"}, base}, // no role: a single-node job
		{[]string{"ROLE=prefill", "ROLE_NAME=prefill/0 x"}, ""},
	}
	for _, tt := range tests {
		got := containerName(t, "alice", append(job, tt.env...)...)
		if tt.want != "" && got != tt.want {
			t.Errorf("%v: name %q, want %q", tt.env, got, tt.want)
		}
		if !dockerName.MatchString(got) || len(got) > 210 {
			t.Errorf("%v: name %q breaks docker's rules", tt.env, got)
		}
	}
}
