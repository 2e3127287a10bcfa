package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fleetbench/fleet/internal/bench"
)

// streamingServer answers completions with a 3-token vLLM-format stream,
// except every failEvery-th request, which gets a 400. It records the
// Authorization headers it saw.
func streamingServer(t *testing.T, failEvery int64) (*httptest.Server, func() []string) {
	var n atomic.Int64
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		if failEvery > 0 && n.Add(1)%failEvery == 0 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"message":"This model's maximum context length is 64 tokens.","type":"BadRequestError","param":null,"code":400}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, tok := range []string{" a", " b", " c"} {
			fmt.Fprintf(w, "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":%q}],\"usage\":null}\n\n", tok)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: {\"id\":\"cmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":3,\"total_tokens\":11}}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), auth...)
	}
}

func TestBenchCommand(t *testing.T) {
	base := []string{"bench", "--model", "org/Model-7B", "--random-input-len", "8", "--random-output-len", "3", "--num-prompts", "20", "--max-concurrency", "4"}
	tests := []struct {
		name      string
		failEvery int64
		args      []string
		code      int
		stdoutHas string
		stderrHas string
		file      string // result file expected in the result dir
		failed    int
	}{
		{name: "a clean run prints the summary and saves the result",
			args: []string{"--save-result", "--result-filename", "out.json", "--metadata", "tp=8", "conc=4", "--goodput", "ttft:10000", "tpot:1000"},
			code: ExitOK, stdoutHas: "============ Serving Benchmark Result ============", file: "out.json"},
		{name: "failures over the ratio exit 3 after writing the result",
			failEvery: 4, args: []string{"--save-result", "--result-filename", "out.json"},
			code: ExitFailed, stderrHas: "5 of 20 requests failed (25.0%, over the 5.0% allowed): HTTP 400: This model's maximum context length is 64 tokens.", file: "out.json", failed: 5},
		{name: "failures within a raised ratio pass",
			failEvery: 4, args: []string{"--max-failure-ratio", "0.3", "--save-detailed"},
			code: ExitOK, file: "*.json", failed: 5},
		{name: "a bad request rate is a usage error", args: []string{"--request-rate", "fast"}, code: ExitUsage, stderrHas: "--request-rate"},
		{name: "a bad goodput objective is a usage error", args: []string{"--goodput", "ttfb:100"}, code: ExitUsage, stderrHas: "--goodput"},
		{name: "a stray argument is a usage error", args: []string{"oops"}, code: ExitUsage},
		{name: "an unknown backend is an input error", args: []string{"--backend", "tgi"}, code: ExitError, stderrHas: `backend "tgi"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := streamingServer(t, tt.failEvery)
			dir := t.TempDir()
			args := append(append([]string{}, base...), "--base-url", srv.URL, "--result-dir", dir)
			args = append(args, tt.args...)
			code, stdout, stderr := runFleet(t, nil, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.stdoutHas) || !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stdout %q\nstderr %q\nwant %q / %q", stdout, stderr, tt.stdoutHas, tt.stderrHas)
			}
			if tt.file == "" {
				return
			}
			matches, _ := filepath.Glob(filepath.Join(dir, tt.file))
			if len(matches) != 1 {
				t.Fatalf("result files %v, want one %s", matches, tt.file)
			}
			res, err := bench.ReadResult(matches[0])
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed != tt.failed || res.Completed != 20-tt.failed || res.MaxConcurrency != 4 || res.ModelID != "org/Model-7B" {
				t.Errorf("result: failed %d completed %d conc %d model %q", res.Failed, res.Completed, res.MaxConcurrency, res.ModelID)
			}
			if tt.failed > 0 && (len(res.FailedReasons) != 1 || res.FailedReasons[0].Count != tt.failed) {
				t.Errorf("failed reasons %+v", res.FailedReasons)
			}
			if tt.file == "*.json" {
				if !strings.HasPrefix(filepath.Base(matches[0]), "vllm-infqps-concurrency4-Model-7B-") {
					t.Errorf("default file name %s", filepath.Base(matches[0]))
				}
				if res.Detail == nil || len(res.Detail.Errors) != 20 {
					t.Errorf("--save-detailed wrote no per-request arrays")
				}
			}
			if strings.Contains(strings.Join(tt.args, " "), "--metadata") {
				if len(res.Metadata) != 2 || res.Metadata[1] != (bench.KV{Key: "conc", Value: "4"}) || res.RequestGoodput == nil {
					t.Errorf("metadata %v goodput %v", res.Metadata, res.RequestGoodput)
				}
			}
		})
	}
}

func TestBenchSendsTheAPIKeyButNeverPrintsIt(t *testing.T) {
	srv, auth := streamingServer(t, 0)
	dir := t.TempDir()
	const key = "sk-very-secret-123"
	code, stdout, stderr := runFleet(t, map[string]string{"OPENAI_API_KEY": key},
		"bench", "--model", "m", "--base-url", srv.URL, "--num-prompts", "2", "--random-input-len", "4", "--random-output-len", "3",
		"--save-detailed", "--result-dir", dir, "--log-level", "debug")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, a := range auth() {
		if a != "Bearer "+key {
			t.Errorf("Authorization %q", a)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), key) {
			t.Error("the API key is in the result file")
		}
	}
	if strings.Contains(stdout+stderr, key) {
		t.Error("the API key was printed")
	}
}

func TestBenchAgenticReplayChecksItsDataset(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dataset-name", "cc-traces", "--max-concurrency", "2"}, "--dataset-path"},
		{[]string{"--dataset-name", "cc-traces", "--dataset-path", filepath.Join(t.TempDir(), "none.jsonl")}, "--max-concurrency"},
		{[]string{"--dataset-name", "mooncake-trace", "--dataset-path", filepath.Join(t.TempDir(), "none.jsonl"), "--max-concurrency", "2"}, "load mooncake-trace"},
	} {
		code, _, stderr := runFleet(t, nil, append([]string{"bench", "--model", "m"}, tc.args...)...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q: want a usage error about %s", tc.args, code, stderr, tc.want)
		}
	}
}
