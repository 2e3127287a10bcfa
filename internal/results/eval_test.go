package results

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRowEvalsRoundTrip(t *testing.T) {
	e := EvalScore{Task: "gsm8k", Metric: "exact_match", Score: 0.75, N: 4, Runner: "builtin", Conc: 2}
	e.Judge(0.8)
	if !e.Failed() {
		t.Fatal("0.75 against 0.8 did not fail")
	}
	r := EvalOnlyRow(Meta{HW: "h200", TP: 8, Conc: 2, Model: "m", JobID: "j"}, []EvalScore{e})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"evals":[{"eval_task":"gsm8k","eval_metric":"exact_match","eval_score":0.75,"eval_threshold":0.8,"eval_passed":false,"eval_n":4`) {
		t.Errorf("row JSON lacks its evals: %s", b)
	}
	back, err := ParseRow(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Evals, r.Evals) || len(back.Metrics) != 0 || back.Extra != nil {
		t.Errorf("back: evals %+v metrics %v extra %v", back.Evals, back.Metrics, back.Extra)
	}
	// A row without evals writes no key.
	b, _ = json.Marshal(&Row{HW: "h200"})
	if strings.Contains(string(b), "evals") {
		t.Errorf("a row without evals writes %s", b)
	}
}

func TestEvalScoreChecks(t *testing.T) {
	for _, bad := range []string{
		`[{"eval_task":"t","eval_score":1.5,"eval_n":1}]`,
		`[{"eval_task":"","eval_score":0.5,"eval_n":1}]`,
		`[{"eval_task":"t","eval_score":0.5,"eval_threshold":-1,"eval_n":1}]`,
		`[{"eval_task":"t","eval_score":0.5,"eval_n":-1}]`,
		`{"eval_task":"t"}`,
	} {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "results"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, EvalFile), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadEvalFile(dir); err == nil {
			t.Errorf("ReadEvalFile accepted %s", bad)
		}
	}
	if s, err := ReadEvalFile(t.TempDir()); s != nil || err != nil {
		t.Errorf("no eval file: %v, %v; want none and no error", s, err)
	}
	if _, err := ParseRow([]byte(`{"hw":"h","evals":[{"eval_task":"t","eval_score":2,"eval_n":1}]}`)); err == nil {
		t.Error("a row with a score of 2 passed its check")
	}
}

func TestCSVEvalColumns(t *testing.T) {
	e := EvalScore{Task: "gsm8k", Score: 0.8, N: 10}
	e.Judge(0.9)
	rows := []*Row{
		{HW: "h200", JobID: "a", Metrics: map[string]float64{}, Evals: []EvalScore{e, {Task: "gpqa", Score: 0.4, N: 1}}},
		{HW: "h200", JobID: "b", Metrics: map[string]float64{}},
	}
	var b strings.Builder
	if err := WriteCSV(&b, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if !strings.HasSuffix(lines[0], ",failed,eval_gpqa,eval_gpqa_passed,eval_gsm8k,eval_gsm8k_passed") {
		t.Errorf("header %s", lines[0])
	}
	if !strings.HasSuffix(lines[1], ",0.4,,0.8,false") || !strings.HasSuffix(lines[2], ",,,,") {
		t.Errorf("rows:\n%s", b.String())
	}
	// Without evals, the columns stay as they were.
	b.Reset()
	if err := WriteCSV(&b, rows[1:]); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "eval_") {
		t.Errorf("eval columns without evals: %s", b.String())
	}
}
