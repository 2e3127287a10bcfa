package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// evalSweep is a sweep with a top-level block top and one sim config
// whose body ends with inner, in a directory holding data.jsonl (3
// examples) and th.yaml.
func evalSweep(t *testing.T, top, inner string) string {
	t.Helper()
	dir := t.TempDir()
	data := `{"question":"a","answer":"#### 1"}
{"question":"b","answer":"#### 2"}
{"question":"c","answer":"#### 3"}
`
	for name, body := range map[string]string{"data.jsonl": data, "th.yaml": "default: {gsm8k: 0.9}\nmodels:\n  llama: {gsm8k: 0.5}\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := top + `
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
      conc = [1, 4, 16]
    }
  }
` + inner + `
}
`
	path := filepath.Join(dir, "s.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvalBlock(t *testing.T) {
	path := evalSweep(t, `
eval {
  dataset    = "data.jsonl"
  thresholds = "th.yaml"
  shots      = 2
  conc       = "median"
  limit      = 1
  max_tokens = 64
}`, "")
	sw := mustSweep(t, NewLoader(nil), path, nil)
	e := sw.Configs[0].Eval
	if e == nil || e != sw.Eval {
		t.Fatal("the config did not take the sweep's eval block")
	}
	if e.Runner != "builtin" || len(e.Tasks) != 1 || e.Tasks[0] != "gsm8k" || e.Shots != 2 || e.Conc != "median" || e.Limit != 1 || e.MaxTokens != 64 || e.Only {
		t.Errorf("eval %+v", e)
	}
	if got := e.DatasetPath(path); got != filepath.Join(filepath.Dir(path), "data.jsonl") {
		t.Errorf("DatasetPath = %s", got)
	}
	if th, ok := e.Threshold("llama", "gsm8k"); !ok || th != 0.5 {
		t.Errorf("threshold for llama = %v, %v; want the model's 0.5", th, ok)
	}
	if th, _ := e.Threshold("other", "gsm8k"); th != 0.9 {
		t.Errorf("threshold for another model = %v, want the default 0.9", th)
	}

	// A config's own block replaces the sweep's.
	path = evalSweep(t, `eval {
  dataset = "data.jsonl"
}`, `  eval {
    runner = "lm-eval"
    tasks  = ["gsm8k", "gpqa_diamond"]
    conc   = 4
    only   = true
    chat   = true
  }`)
	sw = mustSweep(t, NewLoader(nil), path, nil)
	e = sw.Configs[0].Eval
	if e == sw.Eval || e.Runner != "lm-eval" || len(e.Tasks) != 2 || e.ConcN != 4 || !e.Only || !e.Chat || e.ThresholdTable != nil {
		t.Errorf("config eval %+v", e)
	}
	if _, ok := e.Threshold("llama", "gsm8k"); ok {
		t.Error("a block without a thresholds file gives thresholds")
	}
}

func TestEvalBlockRefusals(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		line       int // of the diagnostic, in the top-level block (which starts on line 2)
		want       string
	}{
		{"unknown runner", `runner = "lmeval"
  dataset = "data.jsonl"`, 3, `Did you mean "lm-eval"`},
		{"builtin without a dataset", `tasks = ["gsm8k"]`, 2, "needs dataset"},
		{"builtin with two tasks", `tasks = ["a", "b"]
  dataset = "data.jsonl"`, 2, "scores one task"},
		{"lm-eval with a dataset", `runner = "lm-eval"
  dataset = "data.jsonl"`, 4, "dataset is for the built-in runner"},
		{"missing dataset file", `dataset = "nope.jsonl"`, 3, "no such file"},
		{"dataset too small for its shots", `dataset = "data.jsonl"
  shots = 3`, 3, "leaves none to score"},
		{"bad thresholds", `dataset = "data.jsonl"
  thresholds = "data.jsonl"`, 4, "Invalid thresholds file"},
		{"missing thresholds file", `dataset = "data.jsonl"
  thresholds = "none.yaml"`, 4, "no such file"},
		{"conc no job runs", `dataset = "data.jsonl"
  conc = 8`, 4, "no single-node job at concurrency 8"},
		{"conc word", `dataset = "data.jsonl"
  conc = "highest"`, 4, `valid values: max, median`},
		{"conc zero", `dataset = "data.jsonl"
  conc = 0`, 4, "at least 1"},
		{"bad task name", `runner = "lm-eval"
  tasks = ["gsm 8k"]`, 4, "letters, digits"},
		{"negative limit", `dataset = "data.jsonl"
  limit = -1`, 4, "0 (every question) or more"},
		{"unknown key", `dataset = "data.jsonl"
  shot = 3`, 4, "Unsupported argument"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := evalSweep(t, "\neval {\n  "+tt.body+"\n}", "")
			_, diags := NewLoader(nil).Sweep(path, nil)
			text := diagLines(diags)
			if !diags.HasErrors() || !strings.Contains(text, tt.want) {
				t.Fatalf("want an error with %q, got:\n%s", tt.want, text)
			}
			found := false
			for _, d := range diags {
				if d.Subject != nil && d.Subject.Start.Line == tt.line && strings.Contains(d.Summary+": "+d.Detail, tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no diagnostic at line %d with %q:\n%s", tt.line, tt.want, text)
			}
		})
	}
}

func TestEvalBlockTwice(t *testing.T) {
	path := evalSweep(t, "eval {\n  dataset = \"data.jsonl\"\n}\neval {\n  dataset = \"data.jsonl\"\n}", "")
	if _, diags := NewLoader(nil).Sweep(path, nil); !strings.Contains(diagLines(diags), "Duplicate") {
		t.Errorf("two eval blocks: %s", diagLines(diags))
	}
}
