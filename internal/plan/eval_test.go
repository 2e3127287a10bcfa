package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/config"
)

// evalPlan expands a sweep of one config with two tp bands (six distinct
// concurrencies in all: an even count tells the median's index apart), an
// agentic block, and the eval block body.
func evalPlan(t *testing.T, body string) []*Job {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"d.jsonl":   "{\"question\":\"a\",\"answer\":\"#### 1\"}\n{\"question\":\"b\",\"answer\":\"#### 2\"}\n",
		"th.yaml":   "default: {gsm8k: 0.9, gpqa: 0.3}\nmodels: {llama: {gsm8k: 0.8}}\n",
		"t.jsonl":   "{}\n",
		"sweep.hcl": fmt.Sprintf(evalSweepHCL, body),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sw, diags := config.NewLoader(nil).Sweep(filepath.Join(dir, "sweep.hcl"), nil)
	if diags.HasErrors() {
		for _, d := range diags {
			t.Log(d)
		}
		t.FailNow()
	}
	return Expand(sw)
}

const evalSweepHCL = `
config "c" {
  model        = "m"
  model_prefix = "llama"
  precision    = "fp8"
  framework    = "sim"
  runner       = "h200"
  scenario "1k1k" {
    isl = 16
    osl = 16
    search {
      tp   = 1
      conc = [1, 2, 64]
    }
    search {
      tp   = 2
      conc = [4, 32, 128]
    }
  }
  scenario "8k1k" {
    isl = 64
    osl = 16
    search {
      tp   = 1
      conc = [8]
    }
  }
  agentic "cc" {
    trace    = "t.jsonl"
    duration = "120s"
    search {
      tp   = 1
      conc = [64]
    }
  }
  eval {
%s
  }
}
`

// evalIDs lists the jobs that eval, as "seq/tp/conc".
func evalIDs(jobs []*Job) []string {
	var out []string
	for _, j := range jobs {
		if j.Eval != nil {
			out = append(out, fmt.Sprintf("%s/tp%d/c%d", j.Seq, j.TP, j.Conc))
		}
	}
	return out
}

func TestMarkEvals(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		want       []string
		jobs       int // in the plan
	}{
		{"highest by default, per scenario, agentic jobs never", `dataset = "d.jsonl"
    shots = 1`, []string{"1k1k/tp2/c128", "8k1k/tp1/c8"}, 8},
		{"median: index n/2 of the distinct concurrencies of all bands", `dataset = "d.jsonl"
    shots = 1
    conc = "median"`, []string{"1k1k/tp2/c32", "8k1k/tp1/c8"}, 8},
		{"a named concurrency, in the bands that run it", `dataset = "d.jsonl"
    shots = 1
    conc = 32`, []string{"1k1k/tp2/c32"}, 8},
		{"eval only drops the jobs that do not eval", `dataset = "d.jsonl"
    shots = 1
    only = true`, []string{"1k1k/tp2/c128", "8k1k/tp1/c8"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			jobs := evalPlan(t, tt.body)
			if got := evalIDs(jobs); !slices.Equal(got, tt.want) {
				t.Errorf("evals at %v, want %v", got, tt.want)
			}
			if len(jobs) != tt.jobs {
				t.Errorf("%d jobs, want %d", len(jobs), tt.jobs)
			}
		})
	}
}

func TestEvalSpec(t *testing.T) {
	jobs := evalPlan(t, `runner = "lm-eval"
    tasks = ["gsm8k", "gpqa", "mmlu"]
    thresholds = "th.yaml"
    limit = 50
    only = true`)
	e := jobs[0].Eval
	want := map[string]float64{"gsm8k": 0.8, "gpqa": 0.3, "mmlu": 0.85}
	if e == nil || len(e.Thresholds) != 3 || e.Thresholds["gsm8k"] != want["gsm8k"] || e.Thresholds["gpqa"] != want["gpqa"] || e.Thresholds["mmlu"] != want["mmlu"] {
		t.Fatalf("eval %+v, want thresholds %v (the model's, the default's, the fallback)", e, want)
	}
	d := e.Describe()
	for _, w := range []string{"eval gsm8k,gpqa,mmlu (lm-eval, 5 shots, 50 questions)", "gsm8k >= 0.8", "eval only"} {
		if !strings.Contains(d, w) {
			t.Errorf("Describe() = %q, lacks %q", d, w)
		}
	}
	// The built-in runner's dataset resolves against the sweep file.
	jobs = evalPlan(t, `dataset = "d.jsonl"
    shots = 1`)
	for _, j := range jobs {
		if j.Eval != nil && (!filepath.IsAbs(j.Eval.Dataset) || filepath.Base(j.Eval.Dataset) != "d.jsonl" || j.Eval.Thresholds != nil) {
			t.Errorf("eval %+v: want the dataset's absolute path and no thresholds", j.Eval)
		}
	}
}

// A job that evals is another recipe than the same job without: a stored
// row without scores must not stand in for it. Jobs that do not eval keep
// their fingerprints.
func TestEvalEntersTheFingerprint(t *testing.T) {
	jobs := evalPlan(t, `dataset = "d.jsonl"
    shots = 1`)
	var with, without *Job
	for _, j := range jobs {
		if j.Eval != nil && with == nil {
			with = j
		} else if j.Eval == nil && j.Agentic == nil && without == nil {
			without = j
		}
	}
	fp := func(j *Job) string {
		s, err := Fingerprint(j)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before, plain := fp(with), fp(without)
	c := *with
	c.Eval = nil
	if fp(&c) == before {
		t.Error("dropping the eval left the fingerprint as it was")
	}
	d := *with
	e := *with.Eval
	e.Dataset = "/elsewhere/d.jsonl"
	d.Eval = &e
	if fp(&d) != before {
		t.Error("moving the dataset changed the fingerprint")
	}
	// That jobs without an eval keep their fingerprints is
	// fingerprint_test.go's golden value.
	if plain == before {
		t.Error("a job that evals has the fingerprint of one that does not")
	}
}
