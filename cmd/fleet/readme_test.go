package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/config"
)

// TestReadme runs README.md's examples as written, so that a README that
// drifts from fleet fails here. Every command line of every code block
// runs, unless a marker in the README says why it cannot (see
// readmeparse_test.go); every command that runs needs a check of its
// output in readmeChecks, so a new example cannot slip in untested. HCL
// blocks are loaded with internal/config.
//
// The commands run in order, as a reader would type them: the README's own
// build line builds the fleet binary the rest use; fleet commands run in a
// scratch directory holding copies of inventory.hcl and sweeps/, with HOME
// there too. `fleet sim` runs in the background (on a free port that
// replaces the README's) until the next heading. The placeholders RUN_A and
// RUN_B stand for the latest run.
//
// With -short, the demo sweep and the benchmark client (a minute and more)
// do not run; a fixture run stands in for the demo's.
func TestReadme(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseMarkdown(string(src))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	r := newReadmeRun(t, root)
	defer r.stopBackground()

	var inv *config.Inventory
	section := ""
	for _, b := range blocks {
		if b.section != section {
			r.stopBackground()
			section = b.section
		}
		switch {
		case b.fenced && b.lang == "hcl":
			if b.skipAll != "" {
				t.Logf("README.md:%d: not loaded: %s", b.line, b.skipAll)
				continue
			}
			inv = r.loadHCL(b, inv)
		case !b.fenced || slices.Contains([]string{"", "sh", "bash", "shell", "console"}, b.lang):
			cmds, err := b.commands()
			if err != nil {
				t.Fatalf("README.md: %v", err)
			}
			for _, c := range cmds {
				checkBenchNames(t, root, c)
				if c.skip != "" {
					t.Logf("README.md:%d: not run (%s): %s", c.line, c.skip, c.text)
					continue
				}
				r.run(c)
			}
		default:
			if b.skipAll == "" {
				t.Errorf("README.md:%d: the test cannot check a %q block; mark it <!-- readme-test: skip: REASON -->", b.line, b.lang)
			}
		}
	}
	if r.ran == 0 {
		t.Fatal("no README command ran")
	}
}

// readmeRun is the state of one pass through the README.
type readmeRun struct {
	t      *testing.T
	root   string // the module
	ws     string // where fleet commands run
	home   string
	binDir string // holds the fleet the README built
	port   string // the port that stands in for the README's 8000
	bg     []*exec.Cmd
	ran    int
}

func newReadmeRun(t *testing.T, root string) *readmeRun {
	r := &readmeRun{t: t, root: root, ws: t.TempDir(), binDir: t.TempDir()}
	r.home = filepath.Join(r.ws, "home")
	copyPath(t, filepath.Join(root, "inventory.hcl"), filepath.Join(r.ws, "inventory.hcl"))
	copyPath(t, filepath.Join(root, "sweeps"), filepath.Join(r.ws, "sweeps"))
	// The miniature InferenceX checkout the README's examples plan.
	ix := filepath.Join("internal", "inferencex", "testdata", "checkout")
	copyPath(t, filepath.Join(root, ix), filepath.Join(r.ws, ix))
	// Results made elsewhere, for `fleet results import ~/inferencemax-results/`:
	// bench_serving files named the InferenceMAX way.
	fixture := filepath.Join(root, "internal/store/testdata/runs/20261101-120000-fixture")
	files, _ := filepath.Glob(filepath.Join(fixture, "jobs/*/results/*.json"))
	if len(files) == 0 {
		t.Fatalf("no result files in %s", fixture)
	}
	for _, f := range files {
		copyPath(t, f, filepath.Join(r.home, "inferencemax-results", filepath.Base(f)))
	}
	if testing.Short() {
		copyPath(t, fixture, filepath.Join(r.ws, "results", filepath.Base(fixture)))
	}
	return r
}

// slowCommands take a minute or more; -short leaves them out.
var slowCommands = []string{"fleet sweep", "fleet bench"}

func (r *readmeRun) run(c mdCommand) {
	t := r.t
	line := strings.Replace(c.text, "go run ./cmd/fleet", "fleet", 1)
	for _, slow := range slowCommands {
		if testing.Short() && strings.HasPrefix(line, slow) {
			t.Logf("README.md:%d: not run with -short: %s", c.line, line)
			return
		}
	}
	check := readmeCheckFor(line)
	if check == nil {
		t.Errorf("README.md:%d: no check for %q: add one to readmeChecks, or mark the line <!-- readme-test: skip \"...\": REASON -->", c.line, line)
		return
	}
	if strings.HasPrefix(line, "fleet sim ") {
		r.port = freePort(t)
	}
	if r.port != "" {
		line = regexp.MustCompile(`(--port |:)8000\b`).ReplaceAllString(line, "${1}"+r.port)
	}
	if id := r.latestRun(); id != "" {
		line = regexp.MustCompile(`\bRUN_[AB]\b`).ReplaceAllString(line, id)
	}
	r.ran++
	t.Logf("README.md:%d: %s", c.line, line)

	cmd := exec.Command("bash", "-c", line)
	cmd.Dir, cmd.Env = r.ws, r.env()
	// Its own process group, so that a stop reaches what bash started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if strings.HasPrefix(line, "go ") {
		// The toolchain runs in the module, with the environment (and so
		// the build cache) the test has; CGO_ENABLED as TestMain's build,
		// which leaves only the link to do.
		cmd.Dir, cmd.Env = r.root, append(os.Environ(), "CGO_ENABLED=0")
	}
	if strings.HasPrefix(line, "fleet sim ") {
		r.startBackground(c, cmd, check)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("README.md:%d: %v", c.line, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err := cmd.Wait()
	stop()
	if err != nil {
		t.Errorf("README.md:%d: %s: %v\nstdout:\n%s\nstderr:\n%s", c.line, line, err, tail(stdout.String(), 40), tail(stderr.String(), 40))
		return
	}
	if err := check(r, stdout.String()); err != nil {
		t.Errorf("README.md:%d: %s: %v\nstdout:\n%s\nstderr:\n%s", c.line, line, err, tail(stdout.String(), 40), tail(stderr.String(), 20))
	}
}

func (r *readmeRun) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+r.home, "PATH="+r.binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// startBackground starts a server command and waits until it says it
// serves; it runs until the next heading.
func (r *readmeRun) startBackground(c mdCommand, cmd *exec.Cmd, check readmeCheck) {
	t := r.t
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("README.md:%d: %v", c.line, err)
	}
	r.bg = append(r.bg, cmd)
	// A server that never says it serves is stopped, which ends the scan.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	var seen strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if check(r, seen.String()) == nil && stop() {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return
		}
	}
	_ = cmd.Wait()
	t.Fatalf("README.md:%d: %s ended before it served: %v\nstdout:\n%s\nstderr:\n%s", c.line, c.text, check(r, seen.String()), seen.String(), tail(stderr.String(), 20))
}

func (r *readmeRun) stopBackground() {
	for _, cmd := range r.bg {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	}
	r.bg = nil
}

// latestRun is the newest run directory under the scratch results/.
func (r *readmeRun) latestRun() string {
	runs, _ := filepath.Glob(filepath.Join(r.ws, "results", "*", "run.json"))
	sort.Strings(runs) // run ids start with their start time
	if len(runs) == 0 {
		return ""
	}
	return filepath.Base(filepath.Dir(runs[len(runs)-1]))
}

// loadHCL loads an HCL example: an inventory, or a sweep (against the
// inventory example before it). Parsing and checking only: the hosts need
// not exist.
func (r *readmeRun) loadHCL(b mdBlock, inv *config.Inventory) *config.Inventory {
	t := r.t
	kind := "inventory"
	if regexp.MustCompile(`(?m)^(config\s+"|inferencex\s+\{)`).MatchString(b.text) {
		kind = "sweep"
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("readme-%s-line%d.hcl", kind, b.line))
	if err := os.WriteFile(path, []byte(b.text), 0o644); err != nil {
		t.Fatal(err)
	}
	l := config.NewLoader(nil)
	var msg bytes.Buffer
	if kind == "inventory" {
		got, diags := l.Inventory(path, true)
		if diags.HasErrors() {
			_ = l.WriteDiagnostics(&msg, diags, false)
			t.Errorf("README.md:%d: the inventory example does not load:\n%s", b.line, msg.String())
			return inv
		}
		if len(got.Nodes) < 2 || len(got.Clusters) == 0 {
			t.Errorf("README.md:%d: the inventory example loads %d nodes and %d clusters, want its node (and local) and a cluster", b.line, len(got.Nodes), len(got.Clusters))
		}
		return got
	}
	if inv == nil {
		t.Errorf("README.md:%d: a sweep example before any inventory example", b.line)
		return inv
	}
	sw, diags := l.Sweep(path, inv)
	if diags.HasErrors() {
		_ = l.WriteDiagnostics(&msg, diags, false)
		t.Errorf("README.md:%d: the sweep example does not load:\n%s", b.line, msg.String())
		return inv
	}
	if len(sw.Configs) == 0 && sw.InferenceX == nil {
		t.Errorf("README.md:%d: the sweep example has no config and no inferencex block", b.line)
	}
	return inv
}

// checkBenchNames: a benchmark line names benchmarks that exist, so the
// Development section keeps up with renames without running for minutes.
func checkBenchNames(t *testing.T, root string, c mdCommand) {
	words := shellFields(c.text)
	if len(words) < 2 || words[0] != "go" || words[1] != "test" {
		return
	}
	pattern, pkg := "", ""
	for i, w := range words {
		switch {
		case w == "-bench" && i+1 < len(words):
			pattern = words[i+1]
		case strings.HasPrefix(w, "./"):
			pkg = w
		}
	}
	if pattern == "" || strings.Contains(pkg, "...") {
		return
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		t.Errorf("README.md:%d: -bench %q: %v", c.line, pattern, err)
		return
	}
	files, _ := filepath.Glob(filepath.Join(root, pkg, "*_test.go"))
	decl := regexp.MustCompile(`(?m)^func (Benchmark\w+)\(\w+ \*testing\.B\)`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
			if re.MatchString(m[1]) {
				return
			}
		}
	}
	t.Errorf("README.md:%d: no benchmark in %s matches -bench %q", c.line, pkg, pattern)
}

// readmeCheck says what is wrong with a command's output (stdout; a
// server's stdout so far), or nil.
type readmeCheck func(r *readmeRun, stdout string) error

// readmeChecks: the output check of each kind of command the README runs,
// by command prefix (the longest matching prefix counts).
var readmeChecks = map[string]readmeCheck{
	"go build -o bin/fleet ./cmd/fleet": func(r *readmeRun, _ string) error {
		// The binary the README builds is the one the rest of it runs.
		built := filepath.Join(r.root, "bin", "fleet")
		out, err := exec.Command(built, "version").Output()
		if err != nil {
			return fmt.Errorf("%s version: %v", built, err)
		}
		if !strings.HasPrefix(string(out), "fleet ") {
			return fmt.Errorf("%s version says %q", built, out)
		}
		copyPath(r.t, built, filepath.Join(r.binDir, "fleet"))
		return nil
	},
	"fleet sweep": func(r *readmeRun, out string) error {
		// The README promises three jobs and a results directory laid out
		// as its Results table says.
		m := regexp.MustCompile(`Run (\S+): 3 jobs, 3 done, 0 failed`).FindStringSubmatch(out)
		if m == nil {
			return fmt.Errorf("no line saying the run's 3 jobs are done")
		}
		run := filepath.Join(r.ws, "results", m[1])
		for _, p := range []string{"run.json", "journal.jsonl", "summary.json", "summary.txt",
			"jobs/*/row.json", "jobs/*/results/*.json", "jobs/*/logs/server.log", "jobs/*/logs/client.log", "jobs/*/job.log"} {
			if found, _ := filepath.Glob(filepath.Join(run, p)); len(found) == 0 {
				return fmt.Errorf("no %s in %s", p, run)
			}
		}
		results, _ := filepath.Glob(filepath.Join(run, "jobs/*/results/*.json"))
		name := regexp.MustCompile(`^[a-z0-9]+_[a-z0-9]+_[a-z0-9]+_[a-z]+_tp\d+-ep\d+-dpa(true|false)_conc\d+_[a-z0-9-]+\.json$`)
		for _, f := range results {
			if !name.MatchString(filepath.Base(f)) {
				return fmt.Errorf("result %s is not named the InferenceMAX way", filepath.Base(f))
			}
		}
		if !strings.Contains(out, "TPUT/GPU") {
			return fmt.Errorf("no summary table")
		}
		return nil
	},
	"fleet eval": func(_ *readmeRun, out string) error {
		if !strings.Contains(out, "gsm8k: exact_match 0.8000 (8 of 10 right, 0 without a reply); threshold 0.7: passed") {
			return fmt.Errorf("no score of 8 of 10, passing sim70b's threshold")
		}
		return nil
	},
	"fleet plan sweeps/eval-sim.hcl": func(_ *readmeRun, out string) error {
		if !strings.Contains(out, "eval gsm8k (builtin, 3 shots); thresholds gsm8k >= 0.7") || !strings.Contains(out, "2 jobs on 1 machine") {
			return fmt.Errorf("no eval line under the eval job, or not its 2 jobs")
		}
		return nil
	},
	"fleet plan": func(_ *readmeRun, out string) error {
		m := regexp.MustCompile(`(?m)^(\d+) jobs on \d+ machines`).FindStringSubmatch(out)
		if m == nil || m[1] == "0" {
			return fmt.Errorf("no job count, or no job")
		}
		return nil
	},
	"fleet plan sweeps/spec-sim.hcl": func(_ *readmeRun, out string) error {
		// Both methods of the swept spec, in ids and result names.
		for _, want := range []string{"-spec-mtp_conc4 ", "_spec-none_conc4_local", "_spec-mtp_conc16_local", "speculative decoding mtp, 3 draft tokens per step", "5 jobs on 1 machine"} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("no %q", want)
			}
		}
		return nil
	},
	"fleet inferencex matrix": func(_ *readmeRun, out string) error {
		// The generator's rows: a JSON array, each with its exp-name.
		var rows []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			return fmt.Errorf("not a JSON array of rows: %v", err)
		}
		if len(rows) == 0 || rows[0]["exp-name"] == nil {
			return fmt.Errorf("no generator rows")
		}
		return nil
	},
	"fleet status": func(_ *readmeRun, out string) error {
		if !regexp.MustCompile(`(?m)^Run \S+: \d+ jobs: \d+ done`).MatchString(out) || !strings.Contains(out, "STATE") {
			return fmt.Errorf("no run headline and job table")
		}
		return nil
	},
	"fleet report": func(r *readmeRun, out string) error {
		m := regexp.MustCompile(`(?m)^Report: (\S+\.html) `).FindStringSubmatch(out)
		if m == nil {
			return fmt.Errorf("no report path")
		}
		if _, err := os.Stat(filepath.Join(r.ws, m[1])); err != nil {
			return err
		}
		for _, want := range []string{"Pareto frontier", "TPUT/GPU"} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("no %q", want)
			}
		}
		return nil
	},
	"fleet compare": func(_ *readmeRun, out string) error {
		if !regexp.MustCompile(`[1-9]\d* configurations compared: 0 regressed`).MatchString(out) {
			return fmt.Errorf("no comparison of the run with itself")
		}
		return nil
	},
	"fleet results import": func(_ *readmeRun, out string) error {
		if !regexp.MustCompile(`(?m)^[1-9]\d* imported`).MatchString(out) {
			return fmt.Errorf("nothing imported")
		}
		return nil
	},
	"fleet results export --format csv": func(_ *readmeRun, out string) error {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if !strings.HasPrefix(lines[0], "run_id,job_id,") || len(lines) < 2 {
			return fmt.Errorf("no CSV header and rows")
		}
		return nil
	},
	"fleet sim": func(_ *readmeRun, out string) error {
		if !strings.Contains(out, "Application startup complete.") {
			return fmt.Errorf("no readiness line")
		}
		return nil
	},
	"fleet bench --base-url http://127.0.0.1:8000 --model m --dataset-name cc-traces": func(r *readmeRun, out string) error {
		// The agentic replay: its summary, and InferenceX's agentic row
		// whose server hit rate meets the trace's theoretical one (the
		// simulator's cache holds every session).
		if !strings.Contains(out, "Agentic Replay Result") {
			return fmt.Errorf("no replay summary")
		}
		raw, err := os.ReadFile(filepath.Join(r.ws, "agentic.json"))
		if err != nil {
			return err
		}
		var row struct {
			ScenarioType   string `json:"scenario_type"`
			RequestMetrics struct {
				Cache struct {
					Theoretical float64 `json:"theoretical_cache_hit_rate"`
				} `json:"cache"`
			} `json:"request_metrics"`
			ServerMetrics struct {
				Cache struct {
					Overall *float64 `json:"overall_cache_hit_rate"`
				} `json:"cache"`
			} `json:"server_metrics"`
		}
		if err := json.Unmarshal(raw, &row); err != nil {
			return err
		}
		if row.ScenarioType != "agentic-coding" || row.ServerMetrics.Cache.Overall == nil {
			return fmt.Errorf("not an agentic row with the server's cache: %s", raw)
		}
		if d := *row.ServerMetrics.Cache.Overall - row.RequestMetrics.Cache.Theoretical; d > 0.05 || d < -0.05 {
			return fmt.Errorf("server hit rate %.3f, theoretical %.3f", *row.ServerMetrics.Cache.Overall, row.RequestMetrics.Cache.Theoretical)
		}
		return nil
	},
	"fleet bench": func(r *readmeRun, _ string) error {
		// bench_serving's keys come first, in its order.
		raw, err := os.ReadFile(filepath.Join(r.ws, "r.json"))
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		var keys []string
		if _, err := dec.Token(); err != nil {
			return err
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			keys = append(keys, k.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
		}
		want := []string{"date", "backend", "model_id", "tokenizer_id", "best_of", "num_prompts", "request_rate", "burstiness", "max_concurrency", "duration", "completed"}
		if len(keys) < len(want) || !slices.Equal(keys[:len(want)], want) {
			return fmt.Errorf("r.json starts with keys %v, want %v", keys[:min(len(keys), len(want))], want)
		}
		var res struct {
			NumPrompts int    `json:"num_prompts"`
			Completed  int    `json:"completed"`
			Model      string `json:"model_id"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return err
		}
		if res.NumPrompts == 0 || res.Completed != res.NumPrompts {
			return fmt.Errorf("r.json: %d of %d prompts completed", res.Completed, res.NumPrompts)
		}
		return nil
	},
}

func readmeCheckFor(line string) readmeCheck {
	best := ""
	for prefix := range readmeChecks {
		if (line == prefix || strings.HasPrefix(line, prefix+" ")) && len(prefix) > len(best) {
			best = prefix
		}
	}
	return readmeChecks[best]
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// copyPath copies a file or a directory tree, keeping modes (a binary stays
// executable) and making parent directories.
func copyPath(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
