// Package ssh reaches GPU nodes over SSH: one connection per node (through
// jump hosts when needed), checked against known_hosts, kept alive, shared
// by a capped number of sessions, re-established on demand after a drop;
// commands with streamed output, and atomic SFTP transfers.
//
// Errors caused by the connection (unreachable host, dropped link, sshd
// gone) are wrapped with target.Transient, like OpenSSH's exit 255: worth
// retrying. A remote command that fails is not an error at all: Exec
// returns its exit status.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/fleetbench/fleet/internal/target"
)

// ErrClosed is returned by a Client used after Close.
var ErrClosed = errors.New("ssh client closed")

// Client is one machine reached over SSH. It connects lazily, on the first
// use, and again after the connection dropped. Safe for concurrent use.
type Client struct {
	cfg Config // resolved
	// sem caps the sessions open at once on the connection (the SFTP
	// subsystem included), below sshd's MaxSessions.
	sem chan struct{}
	// dialing is a lock that a waiter can give up on (ctx); one dial at a
	// time, so 20 sessions starting together open one connection.
	dialing chan struct{}

	mu       sync.Mutex
	cur      *conn
	closed   bool
	dialSeq  uint64 // dials finished so far
	dialErr  error  // result of the last dial
	sessions int    // open now, for tests of the cap
	peak     int
	dials    int

	// verified remembers shared files found whole on the node (putmemo.go).
	verifiedMu sync.Mutex
	verified   map[string]verifiedPut
}

// New checks cfg and fills it from ~/.ssh/config and defaults. It does not
// connect.
func New(cfg Config) (*Client, error) {
	rc, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	return &Client{
		cfg:     rc,
		sem:     make(chan struct{}, rc.MaxSessions),
		dialing: make(chan struct{}, 1),
	}, nil
}

// Dial is New followed by a connection attempt, so errors show at once.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := c.connection(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Name is the inventory name of the machine (the host when unnamed).
func (c *Client) Name() string { return c.cfg.label() }

// Config returns the resolved configuration.
func (c *Client) Config() Config { return c.cfg }

// Close ends the connection; the Client cannot be used afterwards.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cur := c.cur
	c.cur = nil
	c.mu.Unlock()
	if cur != nil {
		cur.kill(ErrClosed)
	}
	return nil
}

// Ping makes sure the connection is up and measures one request round trip
// on it.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	cn, err := c.connection(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, _, err := cn.client.SendRequest("keepalive@openssh.com", true, nil)
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			return 0, cn.lost(err)
		}
		return time.Since(start), nil
	case <-cn.done:
		return 0, cn.lost(nil)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Stats are counters of a Client's life, for tests and debug logs.
type Stats struct {
	Dials       int // connections established (1 + reconnects)
	SessionPeak int // most sessions open at once (SFTP included)
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Dials: c.dials, SessionPeak: c.peak}
}

// Exec runs cmd with the remote user's login shell (OpenSSH semantics:
// `$SHELL -c cmd`), so cmd is a complete, properly quoted command line
// (values quoted with internal/shellquote). stdin, stdout and stderr may
// be nil. The exit status (128+N for a signal) comes back with a nil error; an error with code -1
// means the transport failed and the command's fate is unknown. When
// writing the output locally failed, the command still ran to its end (its
// output drained) and the error comes with its real exit status. Cancelling ctx closes
// the session; killing what the command started is the caller's job
// (process groups, see internal/target/shelltarget).
func (c *Client) Exec(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if err := c.acquire(ctx); err != nil {
		return -1, err
	}
	defer c.release()
	outW, errW := drainingWriters(stdout, stderr)
	var cn *conn
	var sess *gossh.Session
	for attempt := 0; ; attempt++ {
		var err error
		if cn, err = c.connection(ctx); err != nil {
			return -1, err
		}
		sess, err = cn.start(ctx, cmd, stdin, outW, errW)
		if err == nil {
			break
		}
		// A connection found dead at session open (sshd restarted, a
		// link that dropped while idle) is replaced once: nothing ran.
		if attempt > 0 || !errors.Is(err, errNotStarted) {
			return -1, err
		}
	}
	defer sess.Close()

	var err error
	waitc := make(chan error, 1)
	go func() { waitc <- sess.Wait() }()
	select {
	case err = <-waitc:
	case <-cn.done:
		// Wait returns soon after the connection ends, unless a slow
		// output writer holds it: then do not wait for that writer.
		select {
		case err = <-waitc:
		case <-time.After(2 * time.Second):
			return -1, cn.lost(nil)
		}
	case <-ctx.Done():
		// Best effort only: sshd refuses signals for root sessions (no
		// privilege separation there) and otherwise reaches the session's
		// process group, not one the command made with setsid. Killing
		// that is the caller's job.
		_ = sess.Signal(gossh.SIGTERM)
		sess.Close()
		return -1, fmt.Errorf("%s: command cancelled: %w", c.Name(), ctx.Err())
	}

	var exit *gossh.ExitError
	var missing *gossh.ExitMissingError
	code := -1
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &exit):
		code = exit.ExitStatus()
	}
	if code >= 0 {
		if werr := writeErr(outW, errW); werr != nil {
			return code, fmt.Errorf("%s: command output: %w", c.Name(), werr)
		}
		return code, nil
	}
	switch {
	case errors.As(err, &missing) || cn.dead():
		return -1, cn.lost(err)
	default:
		return -1, fmt.Errorf("%s: run command: %w", c.Name(), err)
	}
}

func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%s: wait for a free session: %w", c.Name(), ctx.Err())
	}
	c.mu.Lock()
	c.sessions++
	if c.sessions > c.peak {
		c.peak = c.sessions
	}
	c.mu.Unlock()
	return nil
}

func (c *Client) release() {
	c.mu.Lock()
	c.sessions--
	c.mu.Unlock()
	<-c.sem
}

// connection returns the live connection, dialling when there is none.
func (c *Client) connection(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", c.Name(), ErrClosed)
	}
	if c.cur != nil && !c.cur.dead() {
		cn := c.cur
		c.mu.Unlock()
		return cn, nil
	}
	seq := c.dialSeq
	c.mu.Unlock()

	select {
	case c.dialing <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: wait for connection: %w", c.Name(), ctx.Err())
	}
	defer func() { <-c.dialing }()

	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", c.Name(), ErrClosed)
	case c.cur != nil && !c.cur.dead():
		cn := c.cur
		c.mu.Unlock()
		return cn, nil
	case c.dialSeq != seq && target.IsTransient(c.dialErr):
		// Someone dialled while we waited and the host was unreachable:
		// share that answer rather than queueing one connect timeout per
		// caller. (A dial cut short by its caller's ctx is not shared.)
		err := c.dialErr
		c.mu.Unlock()
		return nil, err
	}
	c.mu.Unlock()

	cn, err := c.dial(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.dialSeq++
	c.dialErr = err
	if err != nil {
		return nil, err
	}
	if c.closed {
		cn.kill(ErrClosed)
		return nil, fmt.Errorf("%s: %w", c.Name(), ErrClosed)
	}
	c.cur = cn
	c.dials++
	return cn, nil
}

func (c *Client) dial(ctx context.Context) (*conn, error) {
	hops, err := dialJumps(ctx, &c.cfg)
	if err != nil {
		return nil, err
	}
	var via *gossh.Client
	if len(hops) > 0 {
		via = hops[len(hops)-1]
	}
	client, err := sshOver(ctx, via, &c.cfg)
	if err != nil {
		closeAll(hops)
		return nil, err
	}
	cn := &conn{
		name:    c.Name(),
		client:  client,
		hops:    hops,
		done:    make(chan struct{}),
		release: c.release,
		sftpMu:  make(chan struct{}, 1),
	}
	go func() {
		err := client.Wait()
		cn.kill(fmt.Errorf("connection closed: %w", err))
	}()
	go cn.keepalive(c.cfg.KeepaliveInterval, c.cfg.KeepaliveCountMax)
	return cn, nil
}

// dialJumps connects every jump hop, each through the previous one.
func dialJumps(ctx context.Context, c *Config) ([]*gossh.Client, error) {
	var hops []*gossh.Client
	var via *gossh.Client
	for i := range c.Jump {
		cl, err := sshOver(ctx, via, &c.Jump[i])
		if err != nil {
			closeAll(hops)
			return nil, fmt.Errorf("%s: via jump host %s: %w", c.label(), c.Jump[i].addr(), err)
		}
		hops = append(hops, cl)
		via = cl
	}
	return hops, nil
}

func closeAll(clients []*gossh.Client) {
	for i := len(clients) - 1; i >= 0; i-- {
		clients[i].Close()
	}
}

// dialHop opens the TCP stream to h: directly, or through via's
// direct-tcpip channel.
func dialHop(ctx context.Context, via *gossh.Client, h *Config) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, h.ConnectTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if via == nil {
		d := net.Dialer{Timeout: h.ConnectTimeout, KeepAlive: 15 * time.Second}
		conn, err = d.DialContext(dctx, "tcp", h.addr())
	} else {
		conn, err = via.DialContext(dctx, "tcp", h.addr())
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: connect to %s: %w", h.label(), h.addr(), ctx.Err())
		}
		if dctx.Err() != nil {
			err = fmt.Errorf("timed out after %s: %w", h.ConnectTimeout, err)
		}
		return nil, target.Transient(fmt.Errorf("%s: connect to %s: %w", h.label(), h.addr(), err))
	}
	return conn, nil
}

// sshOver connects to h and authenticates, through via when not nil.
func sshOver(ctx context.Context, via *gossh.Client, h *Config) (*gossh.Client, error) {
	hk, err := loadHostKeys(h)
	if err != nil {
		return nil, err
	}
	au, err := newAuth(h)
	if err != nil {
		return nil, err
	}
	defer au.close()
	conn, err := dialHop(ctx, via, h)
	if err != nil {
		return nil, err
	}
	var keyOK bool
	cc := &gossh.ClientConfig{
		User: h.User,
		Auth: au.methods(),
		HostKeyCallback: func(addr string, remote net.Addr, key gossh.PublicKey) error {
			err := hk.check(addr, remote, key)
			keyOK = err == nil
			return err
		},
		HostKeyAlgorithms: hk.algorithms(h.addr()),
		Timeout:           h.ConnectTimeout,
	}
	client, err := handshake(ctx, conn, h, cc)
	if err == nil {
		return client, nil
	}
	var unknown *UnknownHostError
	var changed *HostKeyChangedError
	var revoked *RevokedHostKeyError
	var nerr net.Error
	switch {
	case errors.As(err, &unknown), errors.As(err, &changed), errors.As(err, &revoked):
		return nil, err
	case ctx.Err() != nil, target.IsTransient(err):
		return nil, err
	case keyOK && !errors.Is(err, io.EOF) && !errors.As(err, &nerr):
		return nil, &AuthError{Name: h.label(), User: h.User, Offered: au.offered, Err: err}
	default:
		return nil, target.Transient(fmt.Errorf("%s: ssh handshake with %s: %w", h.label(), h.addr(), err))
	}
}

// handshake runs the SSH handshake on conn; ctx and the connect timeout
// close conn, which is the only way to interrupt it.
func handshake(ctx context.Context, conn net.Conn, h *Config, cc *gossh.ClientConfig) (*gossh.Client, error) {
	hctx, cancel := context.WithTimeout(ctx, h.ConnectTimeout)
	defer cancel()
	stop := context.AfterFunc(hctx, func() { conn.Close() })
	sc, chans, reqs, err := gossh.NewClientConn(conn, h.addr(), cc)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: ssh handshake with %s: %w", h.label(), h.addr(), ctx.Err())
		}
		return nil, target.Transient(fmt.Errorf("%s: ssh handshake with %s timed out after %s (sshd frozen or overloaded?)", h.label(), h.addr(), h.ConnectTimeout))
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return gossh.NewClient(sc, chans, reqs), nil
}

// drainingWriter keeps reading the remote output after the local writer
// failed: a copy that stopped would fill the channel window and block the
// remote command forever. The first error is reported when the command ends.
type drainingWriter struct {
	mu  *sync.Mutex // shared when stdout and stderr are one writer
	w   io.Writer
	err error
}

func (d *drainingWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		if _, err := d.w.Write(p); err != nil {
			d.err = err
		}
	}
	return len(p), nil
}

// drainingWriters wraps stdout and stderr (nil stays nil). One writer given
// for both gets one lock: the session copies the two streams concurrently.
func drainingWriters(stdout, stderr io.Writer) (io.Writer, io.Writer) {
	var out, errw *drainingWriter
	if stdout != nil {
		out = &drainingWriter{mu: new(sync.Mutex), w: stdout}
	}
	if stderr != nil {
		errw = &drainingWriter{mu: new(sync.Mutex), w: stderr}
		if out != nil && sameWriter(stdout, stderr) {
			errw.mu = out.mu
		}
	}
	// Typed nils would not read as nil to the session.
	var o, e io.Writer
	if out != nil {
		o = out
	}
	if errw != nil {
		e = errw
	}
	return o, e
}

func sameWriter(a, b io.Writer) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

func writeErr(ws ...io.Writer) error {
	for _, w := range ws {
		if d, ok := w.(*drainingWriter); ok {
			d.mu.Lock()
			err := d.err
			d.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// conn is one SSH connection and what hangs off it.
type conn struct {
	name   string
	client *gossh.Client
	hops   []*gossh.Client
	done   chan struct{} // closed when the connection is gone
	once   sync.Once
	// release gives back the session slot the SFTP client holds.
	release func()

	sftpMu chan struct{} // lock held while opening SFTP; ctx-aware

	mu       sync.Mutex
	reason   error
	sftp     *sftp.Client
	sftpSlot bool // sftp holds a slot of sem
}

func (cn *conn) dead() bool {
	select {
	case <-cn.done:
		return true
	default:
		return false
	}
}

// kill closes the connection once, remembering why.
func (cn *conn) kill(reason error) {
	cn.once.Do(func() {
		cn.mu.Lock()
		cn.reason = reason
		sc, slot := cn.sftp, cn.sftpSlot
		cn.sftp, cn.sftpSlot = nil, false
		cn.mu.Unlock()
		close(cn.done)
		cn.client.Close()
		closeAll(cn.hops)
		if sc != nil {
			sc.Close()
		}
		if slot {
			cn.release()
		}
	})
}

// lost is the transient error of an operation cut short by the
// connection's end.
func (cn *conn) lost(err error) error {
	cn.mu.Lock()
	reason := cn.reason
	cn.mu.Unlock()
	switch {
	case reason != nil && err != nil:
		err = fmt.Errorf("%w (%w)", reason, err)
	case reason != nil:
		err = reason
	case err == nil:
		err = errors.New("connection closed")
	}
	return target.Transient(fmt.Errorf("%s: connection lost, remote command's fate unknown: %w", cn.name, err))
}

// keepalive closes the connection when the server stops answering, so a
// pulled cable shows as an error in about KeepaliveCountMax intervals
// instead of a hang (TCP alone would wait for many minutes).
func (cn *conn) keepalive(interval time.Duration, countMax int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	limit := interval * time.Duration(countMax)
	last := time.Now()
	var inflight chan error
	for {
		select {
		case <-cn.done:
			return
		case err := <-inflight:
			inflight = nil
			if err != nil {
				cn.kill(fmt.Errorf("keepalive: %w", err))
				return
			}
			last = time.Now()
		case now := <-t.C:
			if silent := now.Sub(last); silent >= limit {
				cn.kill(fmt.Errorf("server not responding: no keepalive reply for %s", silent.Round(time.Second)))
				return
			}
			// One request at a time: a blocked request holds the
			// connection's request lock, a second would only queue.
			if inflight == nil {
				ch := make(chan error, 1)
				inflight = ch
				go func() {
					_, _, err := cn.client.SendRequest("keepalive@openssh.com", true, nil)
					ch <- err
				}()
			}
		}
	}
}

// errNotStarted marks a session that could not even be opened because the
// connection turned out to be dead: the command surely did not run, so
// Exec may reconnect and try once more.
var errNotStarted = errors.New("connection dead before the command started")

// start opens a session and starts cmd on it. Neither step takes a
// context, so they run aside and are abandoned (and cleaned up) when ctx
// ends first. A dying connection needs no watching here: closing it fails
// both steps, and their result says whether the command may have started.
func (cn *conn) start(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (*gossh.Session, error) {
	type result struct {
		sess   *gossh.Session
		opened bool // the session channel was open when err happened
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		sess, err := cn.client.NewSession()
		if err != nil {
			ch <- result{nil, false, err}
			return
		}
		sess.Stdout, sess.Stderr = stdout, stderr
		var pipe io.WriteCloser
		if stdin != nil {
			// Our own copy, not Session.Stdin: Wait would wait for a
			// reader that may never end (a terminal) after the command
			// exited.
			if pipe, err = sess.StdinPipe(); err != nil {
				sess.Close()
				ch <- result{nil, true, err}
				return
			}
		}
		if err := sess.Start(cmd); err != nil {
			sess.Close()
			ch <- result{nil, true, err}
			return
		}
		if pipe != nil {
			go func() {
				_, _ = io.Copy(pipe, stdin)
				pipe.Close()
			}()
		}
		ch <- result{sess, true, nil}
	}()
	abandon := func() {
		go func() {
			if r := <-ch; r.sess != nil {
				r.sess.Close()
			}
		}()
	}
	select {
	case r := <-ch:
		var oce *gossh.OpenChannelError
		switch {
		case r.err == nil:
			return r.sess, nil
		case !r.opened && errors.As(r.err, &oce):
			// sshd refusing a session (MaxSessions) passes.
			return nil, target.Transient(fmt.Errorf("%s: open session: %w", cn.name, r.err))
		case !r.opened:
			// The connection died under us (often before its watcher
			// noticed): nothing ran.
			cn.kill(fmt.Errorf("open session: %w", r.err))
			return nil, target.Transient(fmt.Errorf("%s: %w: %w", cn.name, errNotStarted, r.err))
		case cn.dead() || brokenConn(r.err):
			return nil, cn.lost(r.err)
		default:
			return nil, fmt.Errorf("%s: start command: %w", cn.name, r.err)
		}
	case <-ctx.Done():
		abandon()
		return nil, fmt.Errorf("%s: start command: %w", cn.name, ctx.Err())
	}
}

// brokenConn reports whether err says the transport itself failed.
func brokenConn(err error) bool {
	var nerr net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &nerr)
}
