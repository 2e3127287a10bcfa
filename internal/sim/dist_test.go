package sim

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func healthStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type follower struct {
	cancel context.CancelFunc
	done   chan error
}

func startFollower(addr string, rank int, timeout time.Duration) follower {
	ctx, cancel := context.WithCancel(context.Background())
	f := follower{cancel, make(chan error, 1)}
	go func() { f.done <- RunFollower(ctx, addr, rank, timeout, nil) }()
	return f
}

func TestLeaderIsUnhealthyUntilEveryFollowerJoined(t *testing.T) {
	leader, err := ListenLeader("127.0.0.1:0", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- leader.Run(ctx) }()
	cfg := fixedConfig()
	cfg.Joined = leader.Joined()
	_, url := startServer(t, cfg)
	if got := healthStatus(t, url); got != 503 {
		t.Fatalf("health with no follower: %d, want 503", got)
	}
	addr := leader.Addr().String()
	f1 := startFollower(addr, 1, time.Minute)
	defer f1.cancel()
	status, _ := postJSON(t, url+"/v1/completions", `{"prompt":[1],"max_tokens":1}`)
	if status != 503 {
		t.Errorf("a request before the group joined: %d, want 503", status)
	}
	f2 := startFollower(addr, 2, time.Minute)
	defer f2.cancel()
	<-leader.Joined()
	if got := healthStatus(t, url); got != 200 {
		t.Fatalf("health with every follower joined: %d, want 200", got)
	}

	// A follower that goes away breaks the worker: the leader's Run fails.
	f1.cancel()
	if err := <-f1.done; err != nil {
		t.Errorf("a follower told to stop: %v, want nil", err)
	}
	if err := <-runDone; err == nil {
		t.Error("the leader's Run returned nil after a follower went away")
	}
	// And the leader gone makes the remaining follower fail.
	cancel()
	if err := <-f2.done; !errors.Is(err, ErrLeaderGone) {
		t.Errorf("follower after the leader went: %v, want ErrLeaderGone", err)
	}
}

func TestFollowerExitsWhenTheLeaderGoes(t *testing.T) {
	leader, err := ListenLeader("127.0.0.1:0", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := leader.Addr().String()
	// The follower starts first and retries until the leader serves.
	f := startFollower(addr, 1, time.Minute)
	defer f.cancel()
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- leader.Run(ctx) }()
	<-leader.Joined()
	cancel()
	if err := <-runDone; err != nil {
		t.Errorf("leader told to stop: %v", err)
	}
	if err := <-f.done; !errors.Is(err, ErrLeaderGone) {
		t.Errorf("follower: %v, want ErrLeaderGone", err)
	}
}

func TestFollowerGivesUpOnAnAbsentLeader(t *testing.T) {
	f := startFollower(deadURL(t)[len("http://"):], 1, 100*time.Millisecond)
	defer f.cancel()
	if err := <-f.done; err == nil || errors.Is(err, ErrLeaderGone) {
		t.Errorf("follower with no leader: %v, want a could-not-reach error", err)
	}
}

func TestLeaderRefusesBadRanks(t *testing.T) {
	leader, err := ListenLeader("127.0.0.1:0", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = leader.Run(ctx) }()
	bad := startFollower(leader.Addr().String(), 5, time.Minute) // beyond --nnodes
	defer bad.cancel()
	if err := <-bad.done; !errors.Is(err, ErrLeaderGone) {
		t.Errorf("rank 5 of 2: %v, want the leader to hang up", err)
	}
	select {
	case <-leader.Joined():
		t.Error("the group counts a bad rank as joined")
	default:
	}
}
