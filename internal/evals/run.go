package evals

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/fleetbench/fleet/internal/results"
)

// Config is one built-in eval run: a task asked of the server at BaseURL.
type Config struct {
	BaseURL string // http://127.0.0.1:8000
	Model   string
	APIKey  string
	// Chat asks /v1/chat/completions (the prompt as one user message)
	// rather than /v1/completions.
	Chat bool
	Task string // the name the score goes by, e.g. gsm8k
	// Examples are the dataset: the first Shots are the prompt's worked
	// examples, the rest (Limit of them when Limit > 0) are scored.
	Examples    []Example
	Shots       int
	Limit       int
	Concurrency int // requests in flight (at least 1)
	MaxTokens   int // per reply (default 512)
	// Samples, when set, receives one JSON line per scored question.
	Samples io.Writer
}

// MaxResponseBytes bounds one reply's body: a server that streams without
// end must not exhaust the client.
const MaxResponseBytes = 1 << 20

// Sample is one scored question, as written to Config.Samples.
type Sample struct {
	Index    int    `json:"index"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
	Correct  bool   `json:"correct"`
	Reply    string `json:"reply,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Outcome is a run's tally: N questions, Correct of them right, Failed of
// them without a reply (scored wrong).
type Outcome struct {
	N, Correct, Failed int
}

// Score is the outcome as a row's eval score (exact_match, not yet judged).
func (o Outcome) Score(task string, conc int) results.EvalScore {
	s := 0.0
	if o.N > 0 {
		s = float64(o.Correct) / float64(o.N)
	}
	return results.EvalScore{Task: task, Metric: "exact_match", Score: s, N: o.N, Runner: "builtin", Conc: conc}
}

// ErrNoReplies is Run's error when not one question got a reply.
var ErrNoReplies = errors.New("no question got a reply")

// Run asks every scored question, at most Concurrency at a time, and
// tallies exact matches of the extracted answers. A request that fails
// scores as wrong; Run fails only when ctx ends or every request failed.
func Run(ctx context.Context, cfg Config, client *http.Client) (Outcome, error) {
	if cfg.Shots < 0 || cfg.Shots >= len(cfg.Examples) {
		return Outcome{}, fmt.Errorf("eval %s: %d shots leave none of the dataset's %d examples to score", cfg.Task, cfg.Shots, len(cfg.Examples))
	}
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: nil}}
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 512
	}
	shots, items := cfg.Examples[:cfg.Shots], cfg.Examples[cfg.Shots:]
	if cfg.Limit > 0 && cfg.Limit < len(items) {
		items = items[:cfg.Limit]
	}
	samples := make([]Sample, len(items))
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(cfg.Concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				it := items[i]
				s := Sample{Index: cfg.Shots + i, Expected: Extract(it.Answer)}
				reply, err := ask(ctx, client, cfg, Prompt(shots, it.Question))
				if err != nil {
					s.Error = err.Error()
				} else {
					s.Reply, s.Got = reply, Extract(reply)
					s.Correct = s.Got != "" && s.Got == s.Expected
				}
				samples[i] = s
			}
		}()
	}
feed:
	for i := range items {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}
	o := Outcome{N: len(items)}
	var enc *json.Encoder
	if cfg.Samples != nil {
		enc = json.NewEncoder(cfg.Samples)
	}
	var firstErr string
	for _, s := range samples {
		switch {
		case s.Error != "":
			o.Failed++
			if firstErr == "" {
				firstErr = s.Error
			}
		case s.Correct:
			o.Correct++
		}
		if enc != nil {
			_ = enc.Encode(s)
		}
	}
	if o.Failed == o.N {
		return o, fmt.Errorf("eval %s: %w (first error: %s)", cfg.Task, ErrNoReplies, firstErr)
	}
	return o, nil
}

// ask sends one prompt and returns the reply's text.
func ask(ctx context.Context, client *http.Client, cfg Config, prompt string) (string, error) {
	body := map[string]any{"model": cfg.Model, "max_tokens": cfg.MaxTokens, "temperature": 0, "stream": false}
	path := "/v1/completions"
	if cfg.Chat {
		path = "/v1/chat/completions"
		body["messages"] = []map[string]string{{"role": "user", "content": prompt}}
	} else {
		body["prompt"] = prompt
		// The few-shot format: the model's next "Question:" is no answer.
		body["stop"] = []string{"Question:", "\n\n"}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(cfg.BaseURL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return "", err
	}
	if len(raw) > MaxResponseBytes {
		return "", fmt.Errorf("reply over %d bytes", MaxResponseBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(raw[:min(len(raw), 200)])))
	}
	var out struct {
		Choices []struct {
			Text    string `json:"text"`
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("decode reply: %w", err)
	}
	if len(out.Choices) == 0 {
		return "", errors.New("reply without choices")
	}
	if cfg.Chat {
		return out.Choices[0].Message.Content, nil
	}
	return out.Choices[0].Text, nil
}
