package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Answers makes the simulator answer known questions with fixed text, so
// that an accuracy eval against it has a score known in advance (fleet
// sim --answers). The key is a question's text; a prompt is answered
// with the value of the key that occurs latest in it (a few-shot prompt
// holds its worked examples before the question asked). A prompt that
// holds no key is generated as usual. Only non-streaming requests are
// answered so; they are answered at once, outside the timing model.
type Answers map[string]string

// maxAnswersBytes bounds an answers file.
const maxAnswersBytes = 64 << 20

// ReadAnswers reads an answers file: a JSON object, question -> answer;
// or an eval dataset (JSONL), whose lines with a "sim_answer" beside
// their "question" are answered with it (fleet's eval runner ignores
// that field, so one file is both the eval's dataset and the
// simulator's answers).
func ReadAnswers(path string) (Answers, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("answers: %w", err)
	}
	if fi.Size() > maxAnswersBytes {
		return nil, fmt.Errorf("answers %s: over %d bytes", path, maxAnswersBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("answers: %w", err)
	}
	var a Answers
	if err := json.Unmarshal(b, &a); err != nil {
		if a, err = readDatasetAnswers(b); err != nil {
			return nil, fmt.Errorf("answers %s: want a JSON object of question -> answer, or JSONL lines with question and sim_answer: %w", path, err)
		}
	}
	for q := range a {
		if strings.TrimSpace(q) == "" {
			return nil, fmt.Errorf("answers %s: an empty question", path)
		}
	}
	return a, nil
}

// lookup is the answer to the prompt of a request body (its prompt, or
// the text of its messages), if it holds a known question.
func (a Answers) lookup(body []byte) (string, bool) {
	if len(a) == 0 {
		return "", false
	}
	var req struct {
		Prompt   json.RawMessage `json:"prompt"`
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Stream bool `json:"stream"`
	}
	if json.Unmarshal(body, &req) != nil || req.Stream {
		return "", false
	}
	var text strings.Builder
	var s string
	if json.Unmarshal(req.Prompt, &s) == nil {
		text.WriteString(s)
	}
	for _, m := range req.Messages {
		if json.Unmarshal(m.Content, &s) == nil {
			text.WriteString(s)
			text.WriteByte('\n')
		}
	}
	prompt := text.String()
	best, at := "", -1
	for q, ans := range a {
		if i := strings.LastIndex(prompt, q); i > at || (i == at && i >= 0 && len(q) > len(best)) {
			best, at = ans, i
		}
	}
	return best, at >= 0
}

// answer writes a known question's answer as a whole response.
func (s *Server) answer(w http.ResponseWriter, req *request, model, text string) {
	no := s.reqNo.Add(1)
	prompt := 0
	for _, p := range req.prompts {
		prompt += p
	}
	words := len(strings.Fields(text))
	body := responseBody(s.cfg.Format, req.chat, fmt.Sprintf("cmpl-answer-%d", no), s.cfg.Now().Unix(), model,
		[]choiceResult{{index: 0, text: text, finish: "stop", eos: true}}, usage{prompt: prompt, completion: words + 1}, nil)
	s.completed.Add(1)
	writeJSON(w, http.StatusOK, body)
}

// readDatasetAnswers reads the sim_answer of each JSONL line that has one.
func readDatasetAnswers(b []byte) (Answers, error) {
	a := Answers{}
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var l struct {
			Question  string  `json:"question"`
			SimAnswer *string `json:"sim_answer"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if l.SimAnswer != nil {
			a[l.Question] = *l.SimAnswer
		}
	}
	return a, nil
}
