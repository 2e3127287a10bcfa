package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/testrig"
)

// fakeFrameworks puts scripts/testdata/fakebin/fake under every framework
// and container tool name into a directory for a rig node's PATH: the node
// scripts then run for real over SSH, their calls are recorded, and the
// fake servers are fleet's simulator.
func fakeFrameworks(t *testing.T, dir string) (bin, calls string) {
	t.Helper()
	bin, calls = filepath.Join(dir, "bin"), filepath.Join(dir, "fake")
	for _, d := range []string{bin, calls} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src, err := os.ReadFile("../../scripts/testdata/fakebin/fake")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(bin, "fake"), src, 0o755)
	for _, n := range []string{"docker", "vllm", "python3", "trtllm-serve", "mpirun", "hf", "huggingface-cli"} {
		os.Symlink("fake", filepath.Join(bin, n))
	}
	fleet := filepath.Join(agentDir, fmt.Sprintf("fleet-%s-%s", runtime.GOOS, runtime.GOARCH))
	env := fmt.Sprintf("FAKE_DIR='%s'\nFAKE_FLEET_BIN='%s'\nFAKE_PATH='%s:/usr/local/bin:/usr/bin:/bin'\nFAKE_GPU=H200\n", calls, fleet, bin)
	os.WriteFile(filepath.Join(bin, "fake.env"), []byte(env), 0o644)
	return bin, calls
}

// recorded returns the argv of every recorded call of the named program.
func recorded(t *testing.T, calls, name string) [][]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(calls, "calls", "*-"+name+".argv"))
	sort.Strings(files)
	var out [][]string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		out = append(out, strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"))
	}
	return out
}

// TestFrameworkJobsRunOnTheRigThroughTheirLaunchers runs vLLM, SGLang and
// TensorRT-LLM jobs through `fleet sweep` on an SSH node of the rig, under
// docker, with fake framework binaries: the launchers, the model download
// and the container runtime really run on the node.
func TestFrameworkJobsRunOnTheRigThroughTheirLaunchers(t *testing.T) {
	r := testrig.Load(t)
	node := r.Host(t, "node1")
	r.Share(t, node.Name)
	dir := t.TempDir()
	bin, calls := fakeFrameworks(t, dir)
	nodeBin := node.BinDir // the rig's fake nvidia-smi
	inv := filepath.Join(dir, "inventory.hcl")
	os.WriteFile(inv, []byte(fmt.Sprintf(`
node "node1" {
  host          = %q
  user          = %q
  identity_file = %q
  gpu           = "h200"
  gpus          = 8
  runtime       = "docker"
  workdir       = %q
  hf_cache      = %q
  env           = { PATH = "%s:%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }
  env_from      = ["HF_TOKEN"]
}
`, node.Addr, r.User, r.Keys.Private, filepath.Join(node.WorkDir, "fw"), filepath.Join(dir, "hf"), bin, nodeBin)), 0o644)
	sweep := filepath.Join(dir, "fw.hcl")
	var cfgs strings.Builder
	for _, fw := range []struct{ key, framework, image, model, prefix string }{
		{"llama70b-fp8-h200-vllm", "vllm", "vllm/vllm-openai:v0.10.2", "meta-llama/Llama-3.3-70B-Instruct", "llama70b"},
		{"dsr1-fp8-h200-sglang", "sglang", "lmsysorg/sglang:v0.5.2-cu126", "deepseek-ai/DeepSeek-R1-0528", "dsr1"},
		{"dsr1-fp8-h200-trt", "trt", "nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2", "deepseek-ai/DeepSeek-R1-0528", "dsr1"},
	} {
		fmt.Fprintf(&cfgs, `
config %q {
  image = %q
  model = %q
  model_prefix = %q
  precision = "fp8"
  framework = %q
  runner = "node1"
  scenario "1k1k" {
    isl = 256
    osl = 32
    search {
      tp = 8
      conc = [4]
    }
  }
}
`, fw.key, fw.image, fw.model, fw.prefix, fw.framework)
	}
	os.WriteFile(sweep, []byte("client {\n  prompts_per_conc = 2\n  warmups_per_conc = 1\n}\n"+cfgs.String()), 0o644)
	env := rigEnv(t)
	env["HF_TOKEN"] = "hf_rig_fw_secret"
	code, stdout, stderr := runFleet(t, env, "sweep", sweep, "-i", inv, "--known-hosts", r.KnownHosts,
		"--agent-dir", agentDir, "--results", dir, "--run-id", "fw", "--json", "--log-format", "logfmt")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var sum struct{ Done, Failed int }
	json.Unmarshal([]byte(stdout), &sum)
	if sum.Done != 3 {
		t.Fatalf("done %d, want 3\n%s", sum.Done, stdout)
	}
	runs := recorded(t, calls, "docker")
	var images []string
	for _, argv := range runs {
		if len(argv) > 0 && argv[0] == "run" {
			joined := strings.Join(argv, " ")
			for _, want := range []string{"--network=host", "--ipc=host", "--gpus all", "-e HF_TOKEN"} {
				if !strings.Contains(joined, want) {
					t.Errorf("docker run lacks %q: %s", want, joined)
				}
			}
			if strings.Contains(joined, "hf_rig_fw_secret") {
				t.Errorf("secret value in docker's argv: %s", joined)
			}
			for _, a := range argv {
				if strings.Contains(a, "/") && strings.Contains(a, ":") && !strings.Contains(a, "=") && !strings.HasPrefix(a, "/") {
					images = append(images, a)
				}
			}
		}
	}
	// A model download may run in the image too: compare the set.
	images = uniqueSorted(images)
	want := []string{"lmsysorg/sglang:v0.5.2-cu126", "nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2", "vllm/vllm-openai:v0.10.2"}
	if fmt.Sprint(images) != fmt.Sprint(want) {
		t.Errorf("docker ran images %v, want %v", images, want)
	}
	check := func(name string, wants ...string) {
		t.Helper()
		got := recorded(t, calls, name)
		if len(got) == 0 {
			t.Errorf("%s never ran on the node", name)
			return
		}
		joined := strings.Join(got[len(got)-1], " ")
		for _, w := range wants {
			if !strings.Contains(joined, w) {
				t.Errorf("%s argv lacks %q: %s", name, w, joined)
			}
		}
	}
	check("vllm", "serve", "meta-llama/Llama-3.3-70B-Instruct", "--config")
	check("python3", "-m sglang.launch_server", "--model-path deepseek-ai/DeepSeek-R1-0528", "--tp-size 8", "--disable-radix-cache")
	check("trtllm-serve", "deepseek-ai/DeepSeek-R1-0528", "--tp_size 8", "--extra_llm_api_options")
	if len(recorded(t, calls, "hf"))+len(recorded(t, calls, "huggingface-cli")) == 0 {
		t.Errorf("the model was never downloaded")
	}
	if left := leftovers(filepath.Join(node.WorkDir, "fw")); len(left) > 0 {
		t.Errorf("processes left on the node: %v", left)
	}
	var b bytes.Buffer
	b.WriteString(stderr)
	if strings.Contains(b.String(), "hf_rig_fw_secret") {
		t.Errorf("secret in the controller's log")
	}
}

func uniqueSorted(s []string) []string {
	sort.Strings(s)
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
