package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWarmupsAreCopiesOfTheFirstPromptAndNotCounted(t *testing.T) {
	srv := newReplayServer(t, loadTranscript(t, "vllm-0.11-completions.sse"), nil)
	cfg := smallConfig(srv.URL, BackendVLLM)
	cfg.NumPrompts, cfg.NumWarmups, cfg.MaxConcurrency = 5, 4, 2
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	bodies := srv.requestBodies()
	if len(bodies) != 9 {
		t.Fatalf("%d requests, want 4 warmups + 5", len(bodies))
	}
	d, _ := NewRandomDataset(cfg.Random, cfg.NumPrompts, cfg.Seed, cfg.RequestRate, cfg.Burstiness)
	q := &requester{model: cfg.Model, backend: cfg.Backend}
	first := string(q.buildBody(nil, d.Request(0)))
	for i, b := range bodies[:4] {
		if string(b) != first {
			t.Errorf("warmup %d body %s, want the first prompt's %s", i, b, first)
		}
	}
	if res.Completed != 5 || len(res.Requests) != 5 || res.NumWarmups != 4 {
		t.Errorf("completed %d of %d requests, warmups %d", res.Completed, len(res.Requests), res.NumWarmups)
	}
}

func TestEveryWarmupFailingStopsTheRun(t *testing.T) {
	srv := newReplayServer(t, loadTranscript(t, "vllm-0.10.1-error-400.sse"), nil)
	cfg := smallConfig(srv.URL, BackendVLLM)
	cfg.NumWarmups = 2
	_, err := Run(context.Background(), cfg, nil)
	if !errors.Is(err, ErrWarmupFailed) || !strings.Contains(err.Error(), "maximum context length") {
		t.Fatalf("got %v, want ErrWarmupFailed with the server's reason", err)
	}
	if n := len(srv.requestBodies()); n != 2 {
		t.Errorf("%d requests sent, want only the 2 warmups", n)
	}
}

func TestProgressIsDrawnWhenAsked(t *testing.T) {
	srv := newReplayServer(t, loadTranscript(t, "vllm-0.11-completions.sse"), nil)
	var mu sync.Mutex
	var buf bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	})
	if _, err := Run(context.Background(), smallConfig(srv.URL, BackendVLLM), w); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if out := buf.String(); !strings.Contains(out, "\rbench: 3/3 requests") && !strings.Contains(out, "bench: 3/3 requests") {
		t.Errorf("progress %q lacks the final count", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestCancellingStopsInFlightRequests(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	cfg := smallConfig(srv.URL, BackendVLLM)
	cfg.MaxConcurrency = 0
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, cfg, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want the context's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestRequestTimeoutFailsTheRequestWithAReason(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets net/http notice the client leaving.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	cfg := smallConfig(srv.URL, BackendVLLM)
	cfg.NumPrompts = 2
	cfg.RequestTimeout = 100 * time.Millisecond
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 2 || !strings.Contains(res.FailedReasons[0].Example, "request timed out after 100ms") {
		t.Errorf("failed %d, reasons %+v", res.Failed, res.FailedReasons)
	}
}

func TestConfigErrorsAreReportedTogether(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Backend = "tgi"
	cfg.PercentileMetrics = []string{"ttlt"}
	cfg.Metadata = []KV{{"model_id", "x"}}
	_, err := Run(context.Background(), cfg, nil)
	for _, want := range []string{"no base URL", `backend "tgi"`, `percentile metric "ttlt"`, "no model", `metadata key "model_id"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
