package rendezvous

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
)

func serve(t *testing.T, nodes int) (*Server, string, string) {
	t.Helper()
	token, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(token, nodes)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = s.Serve(ctx, ln) }()
	return s, ln.Addr().String(), token
}

func TestRegisterAndState(t *testing.T) {
	s, addr, token := serve(t, 3)
	ctx := context.Background()
	c, err := Dial(ctx, []string{"127.0.0.1:1", addr}, token, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.LocalAddr() != "127.0.0.1" || c.HeadHost() != "127.0.0.1" {
		t.Errorf("LocalAddr %q, HeadHost %q: want 127.0.0.1 (the address the head is reached on)", c.LocalAddr(), c.HeadHost())
	}
	// A registration without a host takes the address it came from.
	if err := c.Register(ctx, []jobspec.Endpoint{{Role: "decode", Port: 8000, BootstrapPort: 8001}}); err != nil {
		t.Fatal(err)
	}
	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Endpoints) != 1 || st.Endpoints[0].Host != "127.0.0.1" || st.Endpoints[0].Node != 2 || st.Endpoints[0].Name() != "decode-0" {
		t.Errorf("state endpoints = %+v", st.Endpoints)
	}
	if st.Phase != PhaseStarting || len(st.Joined) != 1 || st.Joined[0] != 2 {
		t.Errorf("state = %+v", st)
	}
	if a, ok := s.HeadAddr(); !ok || a != "127.0.0.1" {
		t.Errorf("HeadAddr = %q, %v", a, ok)
	}
	if err := c.Fail(ctx, Failure{Process: "decode-0", Reason: "boom", Code: 13}); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-s.Failures():
		if f.Node != 2 || f.Code != 13 || f.Reason != "boom" {
			t.Errorf("failure = %+v", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no failure delivered")
	}
	s.SetPhase(PhaseFailed, "decode-0 died")
	s.SetPhase(PhaseDone, "") // a failed job stays failed
	if st, _ = s.State(); st.Phase != PhaseFailed || st.Reason != "decode-0 died" {
		t.Errorf("after failing: %+v", st)
	}
}

func TestRefused(t *testing.T) {
	_, addr, token := serve(t, 2)
	tests := []struct {
		name, path, auth, body string
		want                   int
	}{
		{"no token", "/v1/state?node=1", "", "", http.StatusUnauthorized},
		{"wrong token", "/v1/state?node=1", "Bearer " + strings.Repeat("0", len(token)), "", http.StatusUnauthorized},
		{"node out of range", "/v1/state?node=2", "Bearer " + token, "", http.StatusBadRequest},
		{"bad body", "/v1/register?node=1", "Bearer " + token, "{", http.StatusBadRequest},
		{"unknown path", "/v1/nope?node=1", "Bearer " + token, "", http.StatusNotFound},
		{"body past the bound", "/v1/register?node=1", "Bearer " + token, `{"endpoints":[` + strings.Repeat(`{"role":"decode"},`, 1<<16) + `{}]}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodGet
			if tt.body != "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, "http://"+addr+tt.path, strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestSilent(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewServer("t", 3)
	s.now = func() time.Time { return now }
	joinBy := now.Add(time.Minute)
	if err := s.Register(Registration{Node: 1}); err != nil {
		t.Fatal(err)
	}
	if got := s.Silent(15*time.Second, joinBy); len(got) != 0 {
		t.Errorf("at once: silent %v", got)
	}
	now = now.Add(20 * time.Second)
	if got := s.Silent(15*time.Second, joinBy); len(got) != 1 || got[0] != 1 {
		t.Errorf("node 1 silent for 20s: got %v, want [1]", got)
	}
	now = now.Add(time.Minute)
	if got := s.Silent(15*time.Second, joinBy); len(got) != 2 {
		t.Errorf("past the join deadline: got %v, want [1 2]", got)
	}
}
