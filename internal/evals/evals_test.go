package evals

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/sim"
)

func TestExtract(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"She has 3 apples and buys 4 more.\n#### 7", "7"},
		{"#### 1,234", "1234"},
		{"2 + 2 = 4 #### $18.00 dollars", "18"},
		{"first #### 3 then #### 5", "5"},
		{"#### no number here, but 12 before? no: after", "12"}, // falls back to the last number
		{"The answer is 42.", "42"},
		{"It costs -3.50", "-3.5"},
		{"answer 0.0", "0"},
		{"-0", "0"},
		{"007", "7"},
		{"no numbers", ""},
		{"", ""},
	} {
		if got := Extract(c.in); got != c.want {
			t.Errorf("Extract(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPrompt(t *testing.T) {
	got := Prompt([]Example{{"Q1?", "A1 #### 1"}, {" Q2? ", "A2 #### 2\n"}}, "Q3?")
	want := "Question: Q1?\nAnswer: A1 #### 1\n\nQuestion: Q2?\nAnswer: A2 #### 2\n\nQuestion: Q3?\nAnswer:"
	if got != want {
		t.Errorf("Prompt = %q, want %q", got, want)
	}
}

func TestParseDataset(t *testing.T) {
	for _, c := range []struct {
		name, in, err string
		n             int
	}{
		{"ok", `{"question":"a","answer":"#### 1"}` + "\n\n" + `{"question":"b","answer":"x 2"}`, "", 2},
		{"bad json", `{"question":`, "line 1", 0},
		{"no number", `{"question":"a","answer":"none"}`, "ends in a number", 0},
		{"no question", `{"answer":"#### 1"}`, "want a question", 0},
		{"empty", "\n\n", "no examples", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseDataset(strings.NewReader(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || len(got) != c.n {
				t.Fatalf("got %d examples, err %v; want %d", len(got), err, c.n)
			}
		})
	}
}

func TestThresholds(t *testing.T) {
	th, err := ParseThresholds([]byte("default: {gsm8k: 0.90, gpqa_diamond: 0.30}\nmodels:\n  dsr1: {gsm8k: 0.91}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prefix, task string
		want         float64
	}{{"dsr1", "gsm8k", 0.91}, {"llama", "gsm8k", 0.90}, {"dsr1", "gpqa_diamond", 0.30}, {"dsr1", "other", DefaultMinScore}} {
		if got := th.For(c.prefix, c.task); got != c.want {
			t.Errorf("For(%s, %s) = %v, want %v", c.prefix, c.task, got, c.want)
		}
	}
	if _, err := ParseThresholds([]byte(`{"default": {"gsm8k": 0.5}}`)); err != nil {
		t.Errorf("JSON thresholds: %v", err)
	}
	for _, bad := range []string{"default: {gsm8k: 1.5}", "defaults: {gsm8k: 0.5}", "models: {x: {t: -1}}", "default: [1]"} {
		if _, err := ParseThresholds([]byte(bad)); err == nil {
			t.Errorf("ParseThresholds(%q) accepted", bad)
		}
	}
}

func TestParseLMEval(t *testing.T) {
	raw := `{"results": {"gsm8k": {"alias": "gsm8k", "exact_match,strict-match": 0.92, "exact_match_stderr,strict-match": 0.01,
	"exact_match,flexible-extract": 0.89, "exact_match_stderr,flexible-extract": 0.02},
	"gpqa": {"exact_match,none": 0.4, "acc,none": 0.9}},
	"n-samples": {"gsm8k": {"original": 1319, "effective": 200}, "gpqa": {"original": 198, "effective": 198}}}`
	got, err := ParseLMEval([]byte(raw), 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Task != "gpqa" || got[1].Task != "gsm8k" {
		t.Fatalf("tasks: %+v", got)
	}
	g := got[1]
	if g.Score != 0.89 || g.Metric != "exact_match,flexible-extract" || g.N != 200 || g.Conc != 16 || g.Runner != "lm-eval" {
		t.Errorf("gsm8k = %+v, want the lowest exact_match (0.89, flexible-extract), n 200", g)
	}
	for _, bad := range []string{`{}`, `{"results": {"t": {"acc,none": 0.5}}}`, `{"results": {"t": {"exact_match,none": 7}}}`, `nope`} {
		if _, err := ParseLMEval([]byte(bad), 1); err == nil {
			t.Errorf("ParseLMEval(%s) accepted", bad)
		}
	}
}

// dataset is n questions "What is i plus i?" with answer 2i.
func dataset(n int) []Example {
	var ex []Example
	for i := 1; i <= n; i++ {
		ex = append(ex, Example{Question: fmt.Sprintf("What is %d plus %d?", i, i), Answer: fmt.Sprintf("%d + %d = %d\n#### %d", i, i, 2*i, 2*i)})
	}
	return ex
}

// simServer serves fleet's simulator with answers on a free port.
func simServer(t *testing.T, answers sim.Answers) string {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.Answers = answers
	cfg.TimeScale = 0.001
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + ln.Addr().String()
	for range 500 {
		if r, err := http.Get(url + "/health"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return url
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("simulator never became healthy")
	return ""
}

// TestRunAgainstSim: the simulator answers 7 of 10 scored questions
// right, 2 wrong and 1 not at all (generated text with no number), so
// the score is exactly 0.7.
func TestRunAgainstSim(t *testing.T) {
	ex := dataset(13) // 3 shots + 10 scored
	ans := sim.Answers{}
	for i, e := range ex[3:] {
		switch {
		case i < 7:
			ans[e.Question] = fmt.Sprintf("%s\n#### %s", "worked", Extract(e.Answer))
		case i < 9:
			ans[e.Question] = "The answer is 1000001."
		}
	}
	// The shots' questions are answered wrong: were the prompt matched on
	// its first question, every score would be wrong.
	for _, e := range ex[:3] {
		ans[e.Question] = "#### 999"
	}
	url := simServer(t, ans)
	for _, chat := range []bool{false, true} {
		var samples bytes.Buffer
		o, err := Run(context.Background(), Config{BaseURL: url, Model: "sim", Chat: chat, Task: "gsm8k",
			Examples: ex, Shots: 3, Concurrency: 4, MaxTokens: 64, Samples: &samples}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if o.N != 10 || o.Correct != 7 || o.Failed != 0 {
			t.Errorf("chat %v: outcome %+v, want 7 of 10", chat, o)
		}
		if s := o.Score("gsm8k", 4); s.Score != 0.7 || s.N != 10 || s.Metric != "exact_match" {
			t.Errorf("score %+v", s)
		}
		if n := strings.Count(samples.String(), "\n"); n != 10 {
			t.Errorf("%d sample lines, want 10", n)
		}
	}
	// Limit scores the first questions after the shots only.
	o, err := Run(context.Background(), Config{BaseURL: url, Model: "sim", Task: "gsm8k", Examples: ex, Shots: 3, Limit: 5, Concurrency: 2}, nil)
	if err != nil || o.N != 5 || o.Correct != 5 {
		t.Errorf("limit 5: %+v, %v; want 5 of 5", o, err)
	}
}

func TestRunBoundsAndFailures(t *testing.T) {
	ex := dataset(4)
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), MaxResponseBytes+10))
	}))
	defer big.Close()
	o, err := Run(context.Background(), Config{BaseURL: big.URL, Task: "t", Examples: ex, Shots: 1, Concurrency: 2}, nil)
	if err == nil || o.Failed != 3 || !strings.Contains(err.Error(), "over") {
		t.Errorf("endless replies: %+v, %v; want every request failed for its size", o, err)
	}
	half := 0
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		half++
		if half%2 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []map[string]any{{"text": "#### 4"}}})
	}))
	defer flaky.Close()
	o, err = Run(context.Background(), Config{BaseURL: flaky.URL, Task: "t", Examples: ex, Shots: 1, Concurrency: 1}, nil)
	if err != nil || o.N != 3 || o.Failed != 1 || o.Correct != 1 {
		t.Errorf("flaky: %+v, %v; want 3 asked, 1 failed, 1 right (only the first scored answer is 4)", o, err)
	}
	if _, err := Run(context.Background(), Config{BaseURL: flaky.URL, Task: "t", Examples: ex, Shots: 4}, nil); err == nil {
		t.Error("4 shots of 4 examples accepted")
	}
}

// TestSimAnswersFromTheDataset: one JSONL file is both the eval's dataset
// and the simulator's answers (sim_answer), as the sim sweep uses it.
func TestSimAnswersFromTheDataset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.jsonl")
	data := `{"question":"one?","answer":"#### 1"}
{"question":"two?","answer":"#### 2","sim_answer":"It is 2."}
{"question":"three?","answer":"#### 3","sim_answer":"#### 4"}
`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ex, err := ReadDataset(path)
	if err != nil || len(ex) != 3 {
		t.Fatalf("dataset: %d examples, %v", len(ex), err)
	}
	ans, err := sim.ReadAnswers(path)
	if err != nil || len(ans) != 2 {
		t.Fatalf("answers %v, %v; want the two with sim_answer", ans, err)
	}
	o, err := Run(context.Background(), Config{BaseURL: simServer(t, ans), Model: "sim", Task: "gsm8k", Examples: ex, Shots: 1, Concurrency: 2, MaxTokens: 16}, nil)
	if err != nil || o.N != 2 || o.Correct != 1 {
		t.Errorf("outcome %+v, %v; want 1 of 2", o, err)
	}
}
