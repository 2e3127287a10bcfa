package sim

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startPrefill runs a prefill role with its bootstrap endpoint on
// loopback; it returns the server, its URL and its bootstrap host:port.
func startPrefill(t testing.TB, cfg Config) (*Server, string, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Role, cfg.BootstrapAddr = RolePrefill, ln.Addr().String()
	s, url := startServer(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.ServeBootstrap(ctx, ln)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s, url, ln.Addr().String()
}

func startDecode(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Role = RoleDecode
	return startServer(t, cfg)
}

func startRouter(t testing.TB, rc RouterConfig) string {
	t.Helper()
	rt, err := NewRouter(rc)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	hs := httptest.NewServer(rt.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	return hs.URL
}

// postJSON posts body to url and returns the status and the whole answer.
func postJSON(t testing.TB, url, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// eventually polls cond until it holds, failing after a generous while: it
// waits for a state, it does not time anything.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ids is a token-id prompt of n tokens, as JSON.
func ids(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('1')
	}
	b.WriteByte(']')
	return b.String()
}

// pdCosts is a small, jitter-free engine for wire tests.
func pdCosts() Config {
	return Config{
		Timing: TimingEngine, StepBase: 200 * time.Microsecond, PrefillPerToken: time.Microsecond,
		Seed: 3, KVBytesPerToken: 1000, LinkBandwidth: 1e9,
	}
}
