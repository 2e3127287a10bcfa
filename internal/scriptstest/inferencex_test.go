package scriptstest

import (
	"archive/tar"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
)

// checkout is the miniature InferenceX checkout the project writes.
func checkout() string { return filepath.Join(repo, "internal", "inferencex", "testdata", "checkout") }

const (
	ixScript    = "benchmarks/single_node/fixed_seq_len/tiny_fp8_h200.sh"
	ixMTPScript = "benchmarks/single_node/fixed_seq_len/tiny_fp8_h200_mtp.sh"
	ixResult    = "tiny_tp8-ep1-dpafalse_conc4_fp8_sglang_spec-none_h200-fleet_00"
	ixImage     = "lmsysorg/sglang:v0.5.9-cu130"
)

// needTools skips when the real programs the fixture's scripts run
// inside the fake container (python3 for the client, curl for the health
// wait) are not where the container's PATH looks.
func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"python3", "curl"} {
		found := false
		for _, d := range []string{"/usr/local/bin", "/usr/bin", "/bin"} {
			if _, err := os.Stat(filepath.Join(d, tool)); err == nil {
				found = true
			}
		}
		if !found {
			t.Skipf("no %s in /usr/local/bin, /usr/bin or /bin", tool)
		}
	}
}

// writeBundle tars the checkout's benchmarks/ and utils/ (and extra
// files, path -> content) into the work dir as InferenceX's bundle.
func writeBundle(t *testing.T, dst string, extra map[string]string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	f, err := os.Create(dst)
	must(t, err)
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, top := range []string{"benchmarks", "utils"} {
		must(t, filepath.Walk(filepath.Join(checkout(), top), func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(checkout(), p)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			extra[filepath.ToSlash(rel)] = string(b)
			return nil
		}))
	}
	names := slices.Sorted(maps.Keys(extra))
	for _, n := range names {
		must(t, tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(extra[n])), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(extra[n]))
		must(t, err)
	}
	must(t, tw.Close())
}

// ixEnv is the script's environment contract as the controller sets it.
func ixEnv() map[string]string {
	return map[string]string{
		"MODEL": "tiny/Tiny-FP8", "MODEL_PREFIX": "tiny", "IMAGE": ixImage, "FRAMEWORK": "sglang", "PRECISION": "fp8",
		"EXP_NAME": "tiny_8k1k", "TP": "8", "PP_SIZE": "1", "DCP_SIZE": "1", "PCP_SIZE": "1", "EP_SIZE": "1",
		"DP_ATTENTION": "false", "CONC": "4", "ISL": "64", "OSL": "16", "MAX_MODEL_LEN": "336",
		"RANDOM_RANGE_RATIO": "0.8", "RESULT_FILENAME": ixResult, "SPEC_DECODING": "none", "DISAGG": "false",
		"RUN_EVAL": "false", "EVAL_ONLY": "false", "RUNNER_TYPE": "h200", "GPU_COUNT": "8",
		// The fixture's client runs fleet bench from here.
		"FIXTURE_FLEET_BENCH": fleetBin,
	}
}

type ixJob struct {
	r    *rig
	port int
	env  []string // job.sh's environment
	job  *jobspec.Job
	ws   string
}

// newIXJob writes the job file of an InferenceX job and its bundle, and
// returns job.sh's environment (the contract of jobspec.Job.Env, as the
// engine's .fleet/env.sh sets it, over the rig's machine settings).
func newIXJob(t *testing.T, r *rig, runtime, script, client string, edit func(map[string]string), extra map[string]string) *ixJob {
	t.Helper()
	port := freePort(t)
	vars := []string{"FRAMEWORK=sglang", "MODEL=tiny/Tiny-FP8", "RUNTIME=" + runtime, "RESULT_FILENAME=" + ixResult, "ISL=64", "OSL=16", "MAX_MODEL_LEN=336"}
	if runtime != "none" {
		vars = append(vars, "IMAGE="+ixImage)
	}
	base := r.env(port, vars...)
	j := r.jobOf(base)
	env := ixEnv()
	if edit != nil {
		edit(env)
	}
	j.InferenceX = &jobspec.InferenceX{Bundle: "bundle/ix.tar", Workspace: "ix", Script: script, Env: env,
		Client: client, ResultFilename: ixResult}
	if extra == nil {
		extra = map[string]string{}
	}
	writeBundle(t, filepath.Join(r.work, "bundle", "ix.tar"), extra)
	must(t, j.Write(filepath.Join(r.work, jobspec.Path)))
	m := map[string]string{}
	for _, e := range base {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	for k, v := range j.Env() {
		if k != "FLEET_BIN" { // the tests' fleet binary, not ./bin/fleet
			m[k] = v
		}
	}
	m["HEALTH_POLL"] = "0.2"
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return &ixJob{r: r, port: port, env: out, job: j, ws: filepath.Join(r.work, "ix")}
}

// seen reads the contract the script recorded in env_seen.txt.
func (x *ixJob) seen(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(x.ws, "env_seen.txt"))
	must(t, err)
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

// TestInferenceXJob runs a whole InferenceX job through scripts/job.sh:
// the bundle unpacked, the script run in docker or on the host with the
// workspace as its directory, its contract, the client it ran, the result
// copied under InferenceX's name, and nothing left running.
func TestInferenceXJob(t *testing.T) {
	needTools(t)
	tests := []struct {
		name, runtime, client string
		gpus                  string
	}{
		{"the checkout's client in docker", "docker", jobspec.ClientInferenceX, ""},
		{"fleet's client in docker on packed GPUs", "docker", jobspec.ClientFleet, "2,3"},
		{"the checkout's client on the host", "none", jobspec.ClientInferenceX, ""},
		{"fleet's client on the host", "none", jobspec.ClientFleet, ""},
		{"the checkout's client in enroot", "enroot", jobspec.ClientInferenceX, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, "H200")
			x := newIXJob(t, r, tt.runtime, ixScript, tt.client, nil, nil)
			if tt.gpus != "" {
				// Packing: the engine's devices, as GPUS in the contract.
				x.job.Devices = []int{2, 3}
				must(t, x.job.Write(filepath.Join(r.work, jobspec.Path)))
				x.env = append(x.env, "GPUS=2,3", "CUDA_VISIBLE_DEVICES=2,3", "HIP_VISIBLE_DEVICES=2,3")
			}
			s := r.start(x.env, "bash", "scripts/job.sh")
			if code := s.wait(t, 120*time.Second); code != 0 {
				log, _ := os.ReadFile(filepath.Join(r.work, "logs", "script.log"))
				t.Fatalf("job.sh exited %d; output:\n%s\nscript.log:\n%s", code, s.out, log)
			}

			// The result, under InferenceX's name, from the client asked for.
			b, err := os.ReadFile(filepath.Join(r.work, "results", ixResult+".json"))
			must(t, err)
			var res struct {
				Completed     int    `json:"completed"`
				MaxConc       int    `json:"max_concurrency"`
				FixtureClient string `json:"fixture_client"`
			}
			must(t, json.Unmarshal(b, &res))
			if res.Completed != 40 || res.MaxConc != 4 {
				t.Errorf("result: %d completed at concurrency %d, want 40 at 4", res.Completed, res.MaxConc)
			}
			if wantMark := tt.client == jobspec.ClientInferenceX; (res.FixtureClient == "inferencex-checkout") != wantMark {
				t.Errorf("client %s: result marked %q", tt.client, res.FixtureClient)
			}
			for _, f := range []string{"server.log", "gpu_metrics.csv"} {
				if fi, err := os.Stat(filepath.Join(r.work, "logs", f)); err != nil || fi.Size() == 0 {
					t.Errorf("logs/%s not copied from the workspace: %v", f, err)
				}
			}
			if b, _ := os.ReadFile(filepath.Join(r.work, "logs", "gpu_metrics.csv")); !strings.HasPrefix(string(b), "timestamp, index, power.draw") {
				t.Errorf("gpu_metrics.csv: %.80q", b)
			}

			// The contract as the script saw it: every variable of the
			// section with its value, the port fleet chose, the cache.
			seen := x.seen(t)
			want := map[string]string{"PORT": strconv.Itoa(x.port), "HF_HUB_CACHE": r.hf + "/hub"}
			for k, v := range ixEnv() {
				if k != "FIXTURE_FLEET_BENCH" {
					want[k] = v
				}
			}
			if !maps.Equal(seen, want) {
				t.Errorf("the script saw\n%v\nwant\n%v", seen, want)
			}

			runs := r.callsOf("docker", "run")
			var script []call
			for _, c := range runs {
				if !slices.ContainsFunc(c.argv, func(a string) bool { return strings.HasSuffix(a, "-download") }) {
					script = append(script, c)
				}
			}
			if tt.runtime == "docker" {
				if len(script) != 1 {
					t.Fatalf("docker ran the script %d times, want once", len(script))
				}
				names := []string{"HF_HOME", "HF_HUB_CACHE", "HF_TOKEN", "PORT"}
				for k := range ixEnv() {
					names = append(names, k)
				}
				sort.Strings(names)
				gpus := []string{"--gpus", "all"}
				if tt.gpus != "" {
					gpus = []string{"--gpus", `"device=2,3"`}
				}
				wantArgv := append([]string{"run", "--rm", "--name", "fleet-" + nodeUser(t) + "-run1-cfg_1k1k_tp8-ep1-dpafalse_conc4",
					"--network=host", "--ipc=host", "--shm-size=16g"}, gpus...)
				wantArgv = append(wantArgv, "-v", x.ws+":/workspace", "-w", "/workspace", "-v", r.hf+":"+r.hf)
				for _, n := range names {
					wantArgv = append(wantArgv, "-e", n)
				}
				wantArgv = append(wantArgv, "--entrypoint", "bash", ixImage, ixScript)
				if !reflect.DeepEqual(script[0].argv, wantArgv) {
					t.Errorf("docker argv\n got %q\nwant %q", script[0].argv, wantArgv)
				}
			} else if len(script) != 0 {
				t.Errorf("docker ran for RUNTIME=%s: %q", tt.runtime, script[0].argv)
			}
			if tt.runtime == "enroot" {
				starts := r.callsOf("enroot", "start")
				if len(starts) != 1 || !slices.Contains(starts[0].argv, x.ws+":/workspace") ||
					!slices.Contains(starts[0].argv, "/workspace") || starts[0].argv[len(starts[0].argv)-1] != ixScript {
					t.Errorf("enroot start calls: %q", starts)
				}
			}
			// The server the script started is the fake's SGLang.
			if sg := r.callsOf("python3", "-m"); len(sg) != 1 || sg[0].argv[1] != "sglang.launch_server" {
				t.Errorf("python3 -m calls: %v", sg)
			}
			if tt.client == jobspec.ClientFleet {
				b, err := os.ReadFile(filepath.Join(x.ws, "utils", "bench_serving", "benchmark_serving.py"))
				if err != nil || !strings.Contains(string(b), `"bench"`) {
					t.Errorf("the checkout's client was not replaced by fleet's: %v\n%s", err, b)
				}
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

// TestInferenceXJobFails: how a job whose script fails, or ends without
// its result, ends, and why.
func TestInferenceXJobFails(t *testing.T) {
	needTools(t)
	tests := []struct {
		name, runtime, script string
		edit                  func(map[string]string)
		extra                 map[string]string
		code                  int
		says                  []string
	}{
		{name: "a contract variable missing, in docker", runtime: "docker", script: ixMTPScript,
			code: jobspec.ExitScriptFailed, says: []string{ixMTPScript, "exited (status 1) before its server became healthy", "unset or empty: SPEC_DECODING"},
			edit: func(m map[string]string) { delete(m, "SPEC_DECODING") }},
		{name: "a contract variable missing, on the host", runtime: "none", script: ixMTPScript,
			code: jobspec.ExitScriptFailed, says: []string{ixMTPScript, "unset or empty: SPEC_DECODING"},
			edit: func(m map[string]string) { delete(m, "SPEC_DECODING") }},
		{name: "no result file", runtime: "docker", script: "benchmarks/single_node/fixed_seq_len/silent_fp8_h200.sh",
			extra: map[string]string{"benchmarks/single_node/fixed_seq_len/silent_fp8_h200.sh": "#!/usr/bin/env bash\necho 'benchmark skipped'\n"},
			code:  jobspec.ExitNoResult, says: []string{"silent_fp8_h200.sh ended (status 0) without its result", "no " + ixResult + ".json", "benchmark skipped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, "H200")
			x := newIXJob(t, r, tt.runtime, tt.script, jobspec.ClientInferenceX, tt.edit, tt.extra)
			s := r.start(x.env, "bash", "scripts/job.sh")
			if code := s.wait(t, 120*time.Second); code != tt.code {
				t.Fatalf("job.sh exited %d, want %d; output:\n%s", code, tt.code, s.out)
			}
			for _, w := range tt.says {
				if !strings.Contains(s.out.String(), w) {
					t.Errorf("output does not say %q:\n%s", w, s.out)
				}
			}
			if _, err := os.Stat(filepath.Join(r.work, "results", ixResult+".json")); err == nil {
				t.Errorf("a failed job left a result")
			}
			if left := r.waitGone(10 * time.Second); len(left) > 0 {
				t.Errorf("processes of the job still running: %v", left)
			}
			if c := r.containers(); len(c) > 0 {
				t.Errorf("containers left: %v", c)
			}
		})
	}
}

// TestInferenceXJobCancel cancels an InferenceX job in the middle of its
// benchmark the way the shell target does: the container and everything
// in it must be gone.
func TestInferenceXJobCancel(t *testing.T) {
	needTools(t)
	r := newRig(t, "H200")
	// Long outputs: the benchmark outlasts the cancel.
	x := newIXJob(t, r, "docker", ixScript, jobspec.ClientInferenceX, func(m map[string]string) { m["OSL"] = "30000" }, nil)
	s := r.start(x.env, "bash", "scripts/job.sh")
	waitHealthy(t, s, x.port)
	// Wait for the client to start (its warm-up requests are in flight).
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.out.String(), `"phase":"benchmark"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no benchmark phase; output:\n%s", s.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c := r.containers(); len(c) != 1 {
		t.Fatalf("containers while the job runs: %v", c)
	}
	pg := s.cmd.Process.Pid
	must(t, syscall.Kill(-pg, syscall.SIGTERM))
	<-s.done
	s.done <- nil
	deadline = time.Now().Add(20 * time.Second)
	for syscall.Kill(-pg, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if syscall.Kill(-pg, 0) == nil {
		t.Errorf("the job's process group still runs 20s after TERM")
	}
	_ = syscall.Kill(-pg, syscall.SIGKILL)
	if left := r.waitGone(10 * time.Second); len(left) > 0 {
		t.Errorf("processes still running after cancel: %v", left)
	}
	if c := r.containers(); len(c) > 0 {
		t.Errorf("containers left after cancel: %v", c)
	}
	if _, err := os.Stat(filepath.Join(r.work, "results", ixResult+".json")); err == nil {
		t.Errorf("a cancelled job left a result")
	}
}

// TestShellcheckCheckout keeps the miniature checkout's scripts clean.
func TestShellcheckCheckout(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck is not installed")
	}
	files, err := filepath.Glob(filepath.Join(checkout(), "benchmarks", "*.sh"))
	must(t, err)
	more, err := filepath.Glob(filepath.Join(checkout(), "benchmarks", "single_node", "fixed_seq_len", "*.sh"))
	must(t, err)
	files = append(files, more...)
	if len(files) < 3 {
		t.Fatalf("scripts: %v", files)
	}
	cmd := exec.Command("shellcheck", append([]string{"-x", "-P", "SCRIPTDIR"}, files...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
