package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A misbehaving server: these tests reproduce what a hostile or broken
// server did to the client (a 4-token request received 39.7M chunks and
// grew the client to 1.6 GB; no headers ever; a 64 MiB line) and check
// that each now fails its request with a reason and lets go of the
// connection.

const tokenChunk = `data: {"id":"c","object":"text_completion","choices":[{"index":0,"text":"x","finish_reason":null}]}` + "\n\n"

// streamServer answers every request with headers and then what send
// writes; ended gets whether send ran to its end (false: a write failed
// because the client closed the connection).
func streamServer(t *testing.T, send func(w io.Writer, f http.Flusher) bool) (srv *httptest.Server, ended <-chan bool) {
	t.Helper()
	ch := make(chan bool, 16)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		f := w.(http.Flusher)
		f.Flush()
		ch <- send(w, f)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

// writeForever writes block until a write fails; it never ends by itself.
func writeForever(block []byte) func(io.Writer, http.Flusher) bool {
	return func(w io.Writer, f http.Flusher) bool {
		for {
			if _, err := w.Write(block); err != nil {
				return false
			}
			f.Flush()
		}
	}
}

// runOne runs one request (no warmup) of outputLen tokens against url,
// bounded by a generous deadline so that a broken limit fails the test
// rather than hanging it.
func runOne(t *testing.T, cfg Config) RequestResult {
	t.Helper()
	cfg.NumPrompts, cfg.NumWarmups, cfg.MaxConcurrency = 1, 0, 1
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res.Requests[0]
}

// waitEnded waits for the handler to report how it ended.
func waitEnded(t *testing.T, ended <-chan bool) bool {
	t.Helper()
	select {
	case v := <-ended:
		return v
	case <-time.After(60 * time.Second):
		t.Fatal("the server is still sending: the client did not close the connection")
		return false
	}
}

func TestAServerThatFloodsChunksIsCutOff(t *testing.T) {
	block := []byte(strings.Repeat(tokenChunk, 256))
	srv, ended := streamServer(t, writeForever(block))
	cfg := smallConfig(srv.URL, BackendVLLM)
	cfg.Random.OutputLen = 4
	r := runOne(t, cfg)
	limit := ChunkLimit(4)
	want := "the server sent over " + strconv.Itoa(limit) + " chunks for max_tokens 4"
	if r.OK || !strings.Contains(r.Err, want) {
		t.Fatalf("ok=%v err=%q, want a failure saying %q", r.OK, r.Err, want)
	}
	if len(r.ChunkAt) > limit {
		t.Errorf("%d chunks kept, want at most %d", len(r.ChunkAt), limit)
	}
	if waitEnded(t, ended) {
		t.Error("the server's flood ended by itself")
	}
}

func TestAFloodOfCommentsIsCutOff(t *testing.T) {
	srv, ended := streamServer(t, writeForever([]byte(strings.Repeat(": keep-alive\n", 1024))))
	cfg := smallConfig(srv.URL, BackendVLLM)
	cfg.Random.OutputLen = 4
	r := runOne(t, cfg)
	if want := "lines for max_tokens 4"; r.OK || !strings.Contains(r.Err, want) {
		t.Fatalf("ok=%v err=%q, want a failure saying %q", r.OK, r.Err, want)
	}
	waitEnded(t, ended)
}

func TestAnEndlessLineIsCutOff(t *testing.T) {
	const size = 64 << 20
	srv, ended := streamServer(t, func(w io.Writer, f http.Flusher) bool {
		if _, err := io.WriteString(w, "data: "); err != nil {
			return false
		}
		block := bytes.Repeat([]byte("a"), 1<<20)
		for range size / len(block) {
			if _, err := w.Write(block); err != nil {
				return false
			}
			f.Flush()
		}
		_, err := io.WriteString(w, "\n\n")
		return err == nil
	})
	cfg := smallConfig(srv.URL, BackendVLLM)
	r := runOne(t, cfg)
	if want := "a line over 1048576 bytes"; r.OK || !strings.Contains(r.Err, want) {
		t.Fatalf("ok=%v err=%q, want a failure saying %q", r.OK, r.Err, want)
	}
	if waitEnded(t, ended) {
		t.Error("the server wrote its whole 64 MiB line: the client read it all")
	}
}

func TestAServerThatSendsNoHeadersTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	cfg := smallConfig(srv.URL, BackendVLLM)
	cfg.RequestTimeout = 0
	cfg.ResponseHeaderTimeout = 100 * time.Millisecond
	r := runOne(t, cfg)
	if want := "no response headers after 100ms (--response-header-timeout)"; r.OK || !strings.Contains(r.Err, want) {
		t.Fatalf("ok=%v err=%q, want a failure saying %q", r.OK, r.Err, want)
	}
}

func TestTheHeaderTimeoutEndsWithTheHeaders(t *testing.T) {
	// Headers come at once, the tokens slowly: a stream that outlasts the
	// header timeout is not cut by it.
	srv, _ := streamServer(t, func(w io.Writer, f http.Flusher) bool {
		for range 4 {
			time.Sleep(100 * time.Millisecond)
			if _, err := io.WriteString(w, tokenChunk); err != nil {
				return false
			}
			f.Flush()
		}
		_, err := io.WriteString(w, "data: [DONE]\n\n")
		return err == nil
	})
	cfg := smallConfig(srv.URL, BackendVLLM)
	cfg.ResponseHeaderTimeout = 50 * time.Millisecond
	if r := runOne(t, cfg); !r.OK {
		t.Fatalf("err %q: the header timeout cut a stream whose headers had come", r.Err)
	}
}

func TestChunkLimitFollowsMaxTokens(t *testing.T) {
	// The server sends n chunks and [DONE]: at the limit the request
	// passes, one chunk over it fails.
	chunks := func(n int) func(io.Writer, http.Flusher) bool {
		return func(w io.Writer, f http.Flusher) bool {
			_, err := io.WriteString(w, strings.Repeat(tokenChunk, n)+"data: [DONE]\n\n")
			return err == nil
		}
	}
	tests := []struct {
		name      string
		outputLen int
		extra     string
		chunks    int
		ok        bool
	}{
		{"a short request gets the floor", 4, "", ChunkLimit(4), true},
		{"one chunk over the floor fails", 4, "", ChunkLimit(4) + 1, false},
		{"a long request gets four chunks per token", 1000, "", ChunkLimit(1000), true},
		{"one chunk over four per token fails", 1000, "", ChunkLimit(1000) + 1, false},
		{"max_tokens in the extra body raises the limit", 4, `{"max_tokens":1000}`, ChunkLimit(1000), true},
		{"n completions per request multiply it", 4, `{"n":2}`, 2 * ChunkLimit(4), true},
		{"max_tokens null allows a long context", 4, `{"max_tokens":null}`, ChunkLimit(4) + 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := streamServer(t, chunks(tc.chunks))
			cfg := smallConfig(srv.URL, BackendVLLM)
			cfg.Random.OutputLen = tc.outputLen
			cfg.SaveDetailed = false
			if tc.extra != "" {
				cfg.ExtraBody = json.RawMessage(tc.extra)
			}
			r := runOne(t, cfg)
			if r.OK != tc.ok {
				t.Fatalf("ok=%v err=%q after %d chunks, want ok=%v", r.OK, r.Err, tc.chunks, tc.ok)
			}
			if !tc.ok && !strings.Contains(r.Err, "chunks for max_tokens") {
				t.Errorf("reason %q does not say why", r.Err)
			}
		})
	}
}

func TestChunkLimitArithmetic(t *testing.T) {
	tests := []struct {
		maxTokens, want int
	}{
		{0, 1024 + 64},
		{-5, 1024 + 64},
		{256, 1024 + 64},
		{257, 4*257 + 64},
		{1 << 40, 4<<24 + 64},
	}
	for _, tc := range tests {
		if got := ChunkLimit(tc.maxTokens); got != tc.want {
			t.Errorf("ChunkLimit(%d) = %d, want %d", tc.maxTokens, got, tc.want)
		}
	}
}
