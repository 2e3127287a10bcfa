package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// simProc is one `fleet sim` running in-process until stopped.
type simProc struct {
	cancel context.CancelFunc
	done   chan int
}

func startSimProc(t *testing.T, args ...string) *simProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &simProc{cancel: cancel, done: make(chan int, 1)}
	go func() {
		code, _, _ := runFleetContext(ctx, nil, append([]string{"sim"}, args...)...)
		p.done <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Error("fleet sim did not stop")
		}
	})
	return p
}

// exitCodeOf waits for the process to end by itself.
func (p *simProc) exitCodeOf(t *testing.T) int {
	t.Helper()
	select {
	case code := <-p.done:
		p.done <- code // for the cleanup
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("fleet sim did not exit")
		return -1
	}
}

func waitHealth(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/health never answered %d (last: %v %v)", url, want, resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSimRolesFromTheCommandLine(t *testing.T) {
	pp, pb, dp, rp := freePort(t), freePort(t), freePort(t), freePort(t)
	cost := []string{"--step-base", "1ms", "--prefill-per-token", "1us", "--jitter", "0", "--kv-bytes-per-token", "1000"}
	startSimProc(t, append([]string{"--role", "prefill", "--host", "127.0.0.1", "--port", fmt.Sprint(pp), "--bootstrap-port", fmt.Sprint(pb)}, cost...)...)
	startSimProc(t, append([]string{"--role", "decode", "--host", "127.0.0.1", "--port", fmt.Sprint(dp), "--link-bandwidth", "1", "--link-latency", "1ms"}, cost...)...)
	startSimProc(t, "--role", "router", "--host", "127.0.0.1", "--port", fmt.Sprint(rp),
		"--prefill", fmt.Sprintf("127.0.0.1:%s", pp), "--decode", fmt.Sprintf("http://127.0.0.1:%s", dp), "--policy", "session")
	router := fmt.Sprintf("http://127.0.0.1:%s", rp)
	waitHealth(t, router, 200)

	resp, err := http.Post(router+"/v1/completions", "application/json",
		strings.NewReader(`{"prompt":[1,2,3,4],"max_tokens":5,"ignore_eos":true,"stream":true,"stream_options":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"completion_tokens":5`) || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Fatalf("through the router: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%s/metrics", dp))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `fleet_sim_kv_transfer_bytes_total{model_name="sim",role="decode"} 4000`) {
		t.Errorf("decode metrics do not count the 4000 KV bytes moved:\n%s", metrics)
	}
}

func TestSimMultiNodeRanks(t *testing.T) {
	t.Run("a follower leaving fails the leader", func(t *testing.T) {
		port, dist := freePort(t), freePort(t)
		ranks := []string{"--nnodes", "2", "--dist-init-addr", fmt.Sprintf("127.0.0.1:%s", dist)}
		leader := startSimProc(t, append([]string{"--host", "127.0.0.1", "--port", fmt.Sprint(port), "--node-rank", "0", "--timing", "fixed"}, ranks...)...)
		url := fmt.Sprintf("http://127.0.0.1:%s", port)
		waitHealth(t, url, 503)
		follower := startSimProc(t, append([]string{"--node-rank", "1"}, ranks...)...)
		waitHealth(t, url, 200)
		follower.cancel()
		if code := leader.exitCodeOf(t); code != ExitError {
			t.Errorf("leader exit code %d after its follower left, want %d", code, ExitError)
		}
	})
	t.Run("the leader leaving fails the follower", func(t *testing.T) {
		port, dist := freePort(t), freePort(t)
		ranks := []string{"--nnodes", "2", "--dist-init-addr", fmt.Sprintf("127.0.0.1:%s", dist)}
		follower := startSimProc(t, append([]string{"--node-rank", "1"}, ranks...)...)
		leader := startSimProc(t, append([]string{"--host", "127.0.0.1", "--port", fmt.Sprint(port), "--node-rank", "0", "--timing", "fixed"}, ranks...)...)
		waitHealth(t, fmt.Sprintf("http://127.0.0.1:%s", port), 200)
		leader.cancel()
		if code := follower.exitCodeOf(t); code != ExitError {
			t.Errorf("follower exit code %d after its leader left, want %d", code, ExitError)
		}
	})
}

func TestSimRoleFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{
		{"--role", "mixer"},
		{"--role", "prefill"},
		{"--nnodes", "2"},
		{"--nnodes", "2", "--node-rank", "2", "--dist-init-addr", "127.0.0.1:1"},
		{"--role", "router"},
		{"--role", "router", "--prefill", "127.0.0.1:1"},
		{"--role", "router", "--agg", "127.0.0.1:1", "--policy", "fastest"},
	} {
		code, _, stderr := runFleet(t, nil, append([]string{"sim", "--port", "0"}, args...)...)
		if code != ExitUsage {
			t.Errorf("fleet sim %v: exit %d, want %d (%s)", args, code, ExitUsage, stderr)
		}
	}
}

func TestWorkerURLs(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{"http://a:1"}, []string{"http://a:1"}},
		{[]string{"a:1 b:2", "c:3,https://d:4"}, []string{"http://a:1", "http://b:2", "http://c:3", "https://d:4"}},
		{[]string{"  "}, nil},
	}
	for _, tt := range tests {
		if got := workerURLs(tt.in); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("workerURLs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
