package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Multi-node workers. A worker spread over N nodes (tensor parallelism
// across nodes) has one leader process, rank 0, that serves HTTP, and N-1
// followers that serve nothing but die with the group: when the link
// between them breaks (as an NCCL failure kills a real worker), both ends
// exit non-zero. The sim's "collective" is one TCP connection from each
// follower to the leader's --dist-init-addr.

const (
	distHello     = "fleet-sim-dist rank "
	distPing      = "ping\n"
	distPingEvery = time.Second
	// distDeadAfter is how long a follower waits without hearing from its
	// leader before it declares the group dead.
	distDeadAfter = 15 * time.Second
	// DefaultJoinTimeout is how long a follower keeps trying to reach its
	// leader when no timeout is given.
	DefaultJoinTimeout = 5 * time.Minute
)

// Leader is rank 0 of a multi-node worker: it accepts the followers'
// connections and watches them.
type Leader struct {
	ln     net.Listener
	nnodes int
	log    *slog.Logger
	joined chan struct{}
}

// ListenLeader listens on addr (host:port) for the followers of an
// nnodes-node worker.
func ListenLeader(addr string, nnodes int, log *slog.Logger) (*Leader, error) {
	if nnodes < 2 {
		return nil, fmt.Errorf("sim dist: a leader needs at least 2 nodes, got %d", nnodes)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim dist: listen on %s: %w", addr, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Leader{ln: ln, nnodes: nnodes, log: log, joined: make(chan struct{})}, nil
}

// Addr is where the leader listens.
func (l *Leader) Addr() net.Addr { return l.ln.Addr() }

// Joined is closed once every follower has joined; pass it as
// Config.Joined so /health answers 503 until then.
func (l *Leader) Joined() <-chan struct{} { return l.joined }

// Run accepts followers until ctx ends (then it returns nil) or until a
// follower that joined goes away (then it returns an error: the worker is
// broken). It closes the listener on return.
func (l *Leader) Run(ctx context.Context) error {
	defer l.ln.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		ranks  = map[int]net.Conn{}
		failed = make(chan error, l.nnodes)
		wg     sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		for _, c := range ranks {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	go func() {
		<-ctx.Done()
		_ = l.ln.Close()
	}()
	accepted := make(chan error, 1)
	go func() {
		for {
			c, err := l.ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			rank, err := readHello(c, l.nnodes)
			mu.Lock()
			if err == nil && ranks[rank] != nil {
				err = fmt.Errorf("rank %d joined twice", rank)
			}
			if err != nil {
				mu.Unlock()
				l.log.Warn("refused a dist-init connection", "from", c.RemoteAddr().String(), "err", err)
				_ = c.Close()
				continue
			}
			ranks[rank] = c
			n := len(ranks)
			mu.Unlock()
			l.log.Info("follower joined", "rank", rank, "from", c.RemoteAddr().String(), "joined", n, "of", l.nnodes-1)
			if n == l.nnodes-1 {
				close(l.joined)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				failed <- watchFollower(ctx, c, rank)
			}()
		}
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		if ctx.Err() != nil {
			return nil
		}
		return err
	case err := <-accepted:
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("sim dist: accepting followers: %w", err)
	}
}

func readHello(c net.Conn, nnodes int) (int, error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		return 0, err
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), strings.TrimSpace(distHello))
	rank, err := strconv.Atoi(strings.TrimSpace(rest))
	if !ok || err != nil || rank < 1 || rank >= nnodes {
		return 0, fmt.Errorf("bad hello %q (want a rank within 1..%d)", line, nnodes-1)
	}
	return rank, nil
}

// watchFollower pings a follower and returns when its connection breaks.
func watchFollower(ctx context.Context, c net.Conn, rank int) error {
	gone := make(chan error, 1)
	go func() {
		var b [64]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				gone <- err
				return
			}
		}
	}()
	t := time.NewTicker(distPingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-gone:
			return fmt.Errorf("sim dist: follower rank %d went away: %w", rank, err)
		case <-t.C:
			_ = c.SetWriteDeadline(time.Now().Add(distDeadAfter))
			if _, err := c.Write([]byte(distPing)); err != nil {
				return fmt.Errorf("sim dist: follower rank %d went away: %w", rank, err)
			}
		}
	}
}

// ErrLeaderGone is what RunFollower returns when the group breaks.
var ErrLeaderGone = errors.New("sim dist: the leader went away")

// RunFollower is rank > 0 of a multi-node worker: it connects to the
// leader at addr, retrying for up to timeout (0 means DefaultJoinTimeout),
// and stays until ctx ends (nil) or the connection breaks (an error
// wrapping ErrLeaderGone).
func RunFollower(ctx context.Context, addr string, rank int, timeout time.Duration, log *slog.Logger) error {
	if rank < 1 {
		return fmt.Errorf("sim dist: a follower's rank must be at least 1, got %d", rank)
	}
	if timeout <= 0 {
		timeout = DefaultJoinTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	deadline := time.Now().Add(timeout)
	var c net.Conn
	for {
		var err error
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err = d.DialContext(ctx, "tcp", addr)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sim dist: rank %d could not reach the leader at %s within %v: %w", rank, addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "%s%d\n", distHello, rank); err != nil {
		return fmt.Errorf("%w: saying hello to %s: %v", ErrLeaderGone, addr, err)
	}
	log.Info("joined the leader", "leader", addr, "rank", rank)
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	var b [64]byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(distDeadAfter))
		if _, err := c.Read(b[:]); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%w (%s): %v", ErrLeaderGone, addr, err)
		}
	}
}
