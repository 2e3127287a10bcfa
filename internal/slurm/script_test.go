package slurm

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/shellgolden"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/local"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/rendered")

const nasty = "a 'quoted' \"double\" $(touch /tmp/pwned) `id` $HOME #not-a-comment \\ end"

func TestBatchScriptMatchesGolden(t *testing.T) {
	spec := &target.Spec{
		RunID: "20260101-120000", JobID: "sim70b_tp8_conc4", Attempt: 2, GPUs: 8,
		Command: []string{"bash", "scripts/job.sh"}, Timeout: 90 * time.Minute,
		Env: map[string]string{"IMAGE": "nvcr.io/nvidia/tensorrt-llm/release:1.0.0"},
	}
	for _, tc := range []struct {
		golden string
		opts   Options
		dir    string
		env    map[string]string
		cmd    []string
		nodes  int
	}{
		{
			golden: "sbatch-plain.sh",
			opts:   Options{Partition: "gpu", Account: "inference", SbatchArgs: []string{"--qos=normal"}},
			dir:    "/shared/fleet/20260101-120000/sim70b_tp8_conc4/2",
			env:    map[string]string{"IMAGE": ""},
		},
		{
			golden: "sbatch-pyxis.sh",
			opts: Options{Partition: "gpu", Account: "inference", TimeLimit: "3:00:00", Container: ContainerPyxis,
				SquashDir: "/shared/squash", HFCache: "/shared/hf-cache", GPUsPerNodeFlag: true},
			dir: "/shared/fleet/20260101-120000/sim70b_tp8_conc4/2",
		},
		{
			golden: "sbatch-pyxis-inferencex.sh",
			opts:   Options{Partition: "gpu", Container: ContainerPyxis, SquashDir: "/shared/squash", HFCache: "/shared/hf-cache"},
			dir:    "/shared/fleet/20260101-120000/tiny_tp8_conc4/1",
			env:    map[string]string{"IMAGE": "lmsysorg/sglang:v0.5.9-cu130", "FLEET_WORKSPACE": "ix"},
		},
		{
			golden: "sbatch-nasty.sh",
			opts: Options{Partition: "gpu " + nasty, Account: nasty, Shared: true, Container: ContainerPyxis,
				SquashDir: "/sq/it's here", SbatchArgs: []string{"--comment=" + nasty, "--qos=a b"}},
			dir: "/shared/it's a \"dir\" $(x) 100%",
			env: map[string]string{"IMAGE": "lmsysorg/sglang:v0.5.2 $(id)"},
			cmd: []string{"bash", "scripts/job.sh", "it's\n$(id) `x`", "A=b", ""},
		},
		{
			// A multi-node job: one allocation, one task per node, each
			// told its rank.
			golden: "sbatch-multinode.sh",
			opts:   Options{Partition: "gpu", Account: "inference"},
			dir:    "/shared/fleet/20260101-120000/sim_p1x8_d1x8/1",
			env:    map[string]string{"IMAGE": ""},
			nodes:  2,
		},
		{
			golden: "sbatch-multinode-pyxis.sh",
			opts:   Options{Partition: "gpu", Container: ContainerPyxis, SquashDir: "/shared/squash", HFCache: "/shared/hf-cache"},
			dir:    "/shared/fleet/20260101-120000/sglang_p2x4_d1x8/1",
			env:    map[string]string{"IMAGE": "lmsysorg/sglang:v0.5.9-cu130"},
			nodes:  3,
		},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			s := *spec
			if tc.env != nil {
				s.Env = tc.env
			}
			if tc.cmd != nil {
				s.Command = tc.cmd
			}
			s.Nodes = tc.nodes
			o := tc.opts
			o.WorkDir = "/shared/fleet"
			got, err := renderScript(&o, scriptInput{Name: jobName(&s), WorkDir: tc.dir, Spec: &s})
			if err != nil {
				t.Fatal(err)
			}
			// Compared with the golden file, and a valid bash script
			// whatever the values (bash -n; shellcheck in scriptstest).
			shellgolden.Check(t, *update, tc.golden, string(got))
		})
	}
}

// sbatchParse is sbatch's own reading of one #SBATCH argument (src/sbatch/
// opt.c, _get_argument): quotes group, backslash escapes everywhere, an
// unquoted # ends the line. The real parser is exercised by the rig test
// that submits nasty values; this copy lets the quoting be fuzzed.
func sbatchParse(s string) string {
	var b strings.Builder
	var q byte
	esc := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case c == '\\':
			esc = true
			continue
		case q != 0:
			if c == q {
				q = 0
				continue
			}
		case c == '"' || c == '\'':
			q = c
			continue
		case c == '#':
			return b.String()
		case c == ' ' || c == '\t':
			return b.String()
		}
		b.WriteByte(c)
	}
	return b.String()
}

func FuzzSbatchQuote(f *testing.F) {
	for _, s := range []string{"", "plain", "--comment=" + nasty, "a#b", `\`, `"`, "'", "--x=a b", "--=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := sbatchQuote(s)
		if strings.ContainsAny(s, "\n\r\x00") {
			if err == nil {
				t.Fatalf("line break accepted in %q", s)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := sbatchParse(q); got != s {
			t.Fatalf("%q quoted as %q reads back as %q", s, q, got)
		}
	})
}

func TestTimeLimits(t *testing.T) {
	for _, tc := range []struct {
		cluster string
		timeout time.Duration
		want    string
		lead    int
		bad     bool
	}{
		{"", 90 * time.Minute, "90", 120, false},
		{"", 61 * time.Second, "2", 10, false},
		{"", 0, "", 0, false},
		{"3:00:00", time.Minute, "3:00:00", 120, false},
		{"1-00", 0, "1-00", 120, false},
		{"10", 0, "10", 30, false},
		{"UNLIMITED", 0, "UNLIMITED", 120, false},
		{"three hours", 0, "", 0, true},
	} {
		got, err := timeLimit(tc.cluster, tc.timeout)
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("timeLimit(%q, %v) = %q, %v; want %q", tc.cluster, tc.timeout, got, err, tc.want)
			continue
		}
		if got != "" && signalLead(got) != tc.lead {
			t.Errorf("signalLead(%q) = %d, want %d", got, signalLead(got), tc.lead)
		}
	}
	for in, want := range map[string]float64{"90": 90, "1:30": 1.5, "2:00:00": 120, "1-2": 26 * 60, "1-2:30": 26*60 + 30, "0-0:0:30": 0.5} {
		if got, ok := limitMinutes(in); !ok || got != want {
			t.Errorf("limitMinutes(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
}

func TestImageNames(t *testing.T) {
	for _, tc := range []struct{ image, uri, sqsh string }{
		{"lmsysorg/sglang:v0.5.2-cu126", "docker://lmsysorg/sglang:v0.5.2-cu126", "lmsysorg+sglang+v0.5.2-cu126.sqsh"},
		{"nvcr.io/nvidia/tensorrt-llm/release:1.0.0", "docker://nvcr.io#nvidia/tensorrt-llm/release:1.0.0", "nvcr.io+nvidia+tensorrt-llm+release+1.0.0.sqsh"},
		{"localhost:5000/vllm:dev", "docker://localhost:5000#vllm:dev", "localhost+5000+vllm+dev.sqsh"},
		{"vllm/vllm-openai", "docker://vllm/vllm-openai", "vllm+vllm-openai.sqsh"},
		{"docker://nvcr.io#nvidia/pytorch:25.01", "docker://nvcr.io#nvidia/pytorch:25.01", "nvcr.io+nvidia+pytorch+25.01.sqsh"},
	} {
		if got := enrootURI(tc.image); got != tc.uri {
			t.Errorf("enrootURI(%q) = %q, want %q", tc.image, got, tc.uri)
		}
		if got := squashName(tc.image); got != tc.sqsh {
			t.Errorf("squashName(%q) = %q, want %q", tc.image, got, tc.sqsh)
		}
	}
}

func TestRenderRejectsWhatCannotBeCarried(t *testing.T) {
	spec := &target.Spec{RunID: "r", JobID: "j", Attempt: 1, Command: []string{"true"}, Env: map[string]string{"IMAGE": "img"}}
	for _, tc := range []struct {
		name string
		opts Options
		dir  string
	}{
		{"a line break in a directive", Options{Partition: "gpu\n#SBATCH --wrap=evil"}, "/w/r/j/1"},
		{"a comma in a container mount", Options{Container: ContainerPyxis, HFCache: "/a,b"}, "/w/r/j/1"},
		{"a relative work dir", Options{}, "w/r/j/1"},
		{"a backslash in the work dir", Options{}, `/w/a\b/j/1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := renderScript(&tc.opts, scriptInput{Name: "n", WorkDir: tc.dir, Spec: spec}); err == nil {
				t.Fatal("rendered")
			}
		})
	}
}

// The batch script's body runs here under bash as Slurm would run it on
// a compute node (no Slurm needed for what it does in the work
// directory): exit status recorded and returned, values arriving
// literally, secrets read and then removed, a stale result of a lost run
// removed before a requeued run starts.
func TestBatchScriptBodyRunsTheJob(t *testing.T) {
	base := t.TempDir()
	host := local.New("login")
	tg, err := New(host, Options{Name: "c", WorkDir: base})
	if err != nil {
		t.Fatal(err)
	}
	// The port reaches the job as the engine chose it: fleet job, on the
	// node, moves off it when it is taken.
	const port = "8123"
	for _, tc := range []struct {
		name string
		cmd  string
		code int
	}{
		{"success", `printf '%s' "$NASTY" > nasty.out; printf '%s' "$HF_TOKEN" > token.out; ls results > stale.out 2>&1; printf '%s' "$PORT" > port.out; ls .fleet > fleetdir.out; exit 0`, 0},
		{"failure code", "exit 3", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &target.Spec{RunID: "r", JobID: strings.ReplaceAll(tc.name, " ", "-"), Attempt: 1,
				Env:     map[string]string{"NASTY": nasty, "CUDA_VISIBLE_DEVICES": "5", "PORT": port},
				Secrets: map[string]string{"HF_TOKEN": "hf_secret_value"},
				Command: []string{"sh", "-c", tc.cmd}}
			ctx := context.Background()
			h, err := tg.Prepare(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if h.Target != "c" {
				t.Errorf("handle names target %q, want the cluster", h.Target)
			}
			env, _ := os.ReadFile(filepath.Join(h.WorkDir, ".fleet", "env.sh"))
			if strings.Contains(string(env), "CUDA_VISIBLE_DEVICES") {
				t.Errorf("the job environment overrides Slurm's GPU assignment:\n%s", env)
			}
			// A result left by a run that a node failure cut short.
			os.MkdirAll(filepath.Join(h.WorkDir, "results"), 0o755)
			os.WriteFile(filepath.Join(h.WorkDir, "results", "old.json"), []byte("{}"), 0o644)
			os.WriteFile(filepath.Join(h.WorkDir, ".fleet", "exit"), []byte("0\n"), 0o644)

			script, err := renderScript(&tg.opts, scriptInput{Name: "n", WorkDir: h.WorkDir, Spec: spec})
			if err != nil {
				t.Fatal(err)
			}
			run := exec.Command("bash", "-s")
			run.Stdin = bytes.NewReader(script)
			run.Dir = "/"
			out, err := run.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Fatalf("script exited %d, want %d: %s", code, tc.code, out)
			}
			rec, _ := os.ReadFile(filepath.Join(h.WorkDir, ".fleet", "exit"))
			if strings.TrimSpace(string(rec)) != strconv.Itoa(tc.code) {
				t.Errorf(".fleet/exit = %q, want %d", rec, tc.code)
			}
			if _, err := os.Stat(filepath.Join(h.WorkDir, ".fleet", "secrets.env")); !os.IsNotExist(err) {
				t.Errorf("secrets file left behind (err=%v)", err)
			}
			if tc.code != 0 {
				return
			}
			read := func(n string) string { b, _ := os.ReadFile(filepath.Join(h.WorkDir, n)); return string(b) }
			if got := read("nasty.out"); got != nasty {
				t.Errorf("value arrived as %q, want %q", got, nasty)
			}
			if got := read("token.out"); got != "hf_secret_value" {
				t.Errorf("secret arrived as %q", got)
			}
			// On the shared filesystem the secrets file lives no longer
			// than it takes the script to read it: the job never sees it.
			if got := read("fleetdir.out"); strings.Contains(got, "secrets") {
				t.Errorf("the secrets file was still there while the job ran: %q", got)
			}
			if got := read("stale.out"); !strings.Contains(got, "No such file") {
				t.Errorf("the lost run's results were still there: %q", got)
			}
			if _, err := os.Stat("/tmp/pwned"); err == nil {
				t.Error("a value was executed by a shell")
			}
			if got := read("port.out"); got != port {
				t.Errorf("PORT arrived as %q, want %s", got, port)
			}
		})
	}
}

func TestBatchScriptRefusesWorkspaceOutsideWorkDir(t *testing.T) {
	for _, ws := range []string{"../ix", "/ix", ".", "ix,1", "a:b"} {
		spec := &target.Spec{RunID: "r", JobID: "j", Command: []string{"bash", "scripts/job.sh"},
			Env: map[string]string{"IMAGE": "img:1", "FLEET_WORKSPACE": ws}}
		o := Options{Container: ContainerPyxis, SquashDir: "/sq", WorkDir: "/shared/fleet"}
		if _, err := renderScript(&o, scriptInput{Name: "n", WorkDir: "/shared/fleet/r/j/1", Spec: spec}); err == nil {
			t.Errorf("workspace %q accepted", ws)
		}
	}
}
