// Package evals scores a model's accuracy through its running server, as
// InferenceX's eval step does with lm-eval: a GSM8K-style task whose
// answer is a number, asked few-shot over the OpenAI completions or chat
// API and scored by exact match (Run); lm-eval's own results files read
// back into the same scores (ParseLMEval); and the thresholds file that
// says which score fails a job (Thresholds).
package evals

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Example is one dataset item: a question and its reference answer, whose
// final number (after "####" in GSM8K) is what a reply must match.
type Example struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

// Bounds on what a dataset file may hold.
const (
	MaxDatasetBytes = 64 << 20
	maxLineBytes    = 1 << 20
)

// ReadDataset reads a JSONL file of {"question": ..., "answer": ...}
// objects (GSM8K's own format), one per line; blank lines are skipped.
func ReadDataset(path string) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval dataset: %w", err)
	}
	defer f.Close()
	ex, err := ParseDataset(io.LimitReader(f, MaxDatasetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("eval dataset %s: %w", path, err)
	}
	return ex, nil
}

// ParseDataset reads a dataset's JSONL from r.
func ParseDataset(r io.Reader) ([]Example, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	var out []Example
	total := 0
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		total += len(sc.Bytes()) + 1
		if total > MaxDatasetBytes {
			return nil, fmt.Errorf("over %d bytes", MaxDatasetBytes)
		}
		if len(b) == 0 {
			continue
		}
		var e Example
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if strings.TrimSpace(e.Question) == "" || Extract(e.Answer) == "" {
			return nil, fmt.Errorf("line %d: want a question and an answer that ends in a number (\"... #### 42\")", line)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("a line is over %d bytes", maxLineBytes)
		}
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no examples")
	}
	return out, nil
}

var number = regexp.MustCompile(`-?[$]?[0-9][0-9,]*(?:\.[0-9]+)?`)

// Extract is the answer a text gives, by the rule fleet documents: the
// first number after the last "####" when the text has one (GSM8K's
// reference answers and models that follow the few-shot format), else
// the last number in the text; "" when there is none. The number is
// normalized (Normalize).
func Extract(text string) string {
	if i := strings.LastIndex(text, "####"); i >= 0 {
		if m := number.FindString(text[i+4:]); m != "" {
			return Normalize(m)
		}
	}
	all := number.FindAllString(text, -1)
	if len(all) == 0 {
		return ""
	}
	return Normalize(all[len(all)-1])
}

// Normalize writes a number one way: no "$", no thousands separators,
// no trailing zeros after a decimal point (nor the point itself), and
// "-0" as "0". "1,234.50" and "$1234.5" are both "1234.5".
func Normalize(s string) string {
	s = strings.NewReplacer("$", "", ",", "").Replace(strings.TrimSpace(s))
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(strings.TrimPrefix(s, "-"), "0")
	if s == "" || strings.HasPrefix(s, ".") {
		s = "0" + s
	}
	if neg && s != "0" {
		s = "-" + s
	}
	return s
}

// Prompt is the few-shot prompt for question q: each shot as
// "Question: ...\nAnswer: ...\n\n", then "Question: q\nAnswer:".
func Prompt(shots []Example, q string) string {
	var b strings.Builder
	for _, s := range shots {
		fmt.Fprintf(&b, "Question: %s\nAnswer: %s\n\n", strings.TrimSpace(s.Question), strings.TrimSpace(s.Answer))
	}
	fmt.Fprintf(&b, "Question: %s\nAnswer:", strings.TrimSpace(q))
	return b.String()
}
