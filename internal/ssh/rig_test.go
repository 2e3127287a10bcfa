package ssh_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/shellquote"
	"github.com/fleetbench/fleet/internal/ssh"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
	"github.com/fleetbench/fleet/internal/testrig"
)

// Integration tests against the project's test rig: real sshd per node in
// network namespaces (scripts/testrig/up.sh), real keys, known_hosts and
// faults. Nothing here mocks SSH.

func rigConfig(r *testrig.Rig, h testrig.Host) ssh.Config {
	c := ssh.Config{
		Name:          h.Name,
		Host:          h.Addr,
		Port:          h.Port,
		User:          r.User,
		IdentityFiles: []string{r.Keys.Private},
		KnownHosts:    []string{r.KnownHosts},
		SSHConfigPath: ssh.NoSSHConfig,
	}
	if h.ProxyJump != "" {
		for _, j := range r.Hosts {
			if j.Name == h.ProxyJump {
				c.Jump = append(c.Jump, rigConfig(r, j))
			}
		}
	}
	return c
}

func newClient(t *testing.T, cfg ssh.Config) *ssh.Client {
	t.Helper()
	c, err := ssh.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run executes cmd and returns its exit code and output, failing the test
// on a transport error.
func run(t *testing.T, c *ssh.Client, cmd string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code, err := c.Exec(t.Context(), cmd, nil, &stdout, &stderr)
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	return code, stdout.String(), stderr.String()
}

func TestRigExecReportsStatusAndOutput(t *testing.T) {
	r := testrig.Load(t)
	r.Share(t, "node1")
	c := newClient(t, rigConfig(r, r.Host(t, "node1")))
	tests := []struct {
		name, cmd      string
		code           int
		stdout, stderr string
	}{
		{"stdout and the node's environment", `echo "$FLEET_RIG_NODE $(id -un)"`, 0, "node1 root\n", ""},
		{"stderr apart from stdout", `echo out; echo err >&2`, 0, "out\n", "err\n"},
		{"a failing command is a status, not an error", `exit 7`, 7, "", ""},
		{"a command killed by a signal is 128+N", `kill -9 $$`, 137, "", ""},
		{"a pipeline runs in the remote shell", `printf 'b\na\n' | sort | tr '\n' ' '`, 0, "a b ", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, c, tc.cmd)
			if code != tc.code || out != tc.stdout || errOut != tc.stderr {
				t.Errorf("got code %d stdout %q stderr %q, want %d %q %q", code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
	if s := c.Stats(); s.Dials != 1 {
		t.Errorf("%d connections for %d commands, want 1 reused", s.Dials, len(tests))
	}
}

func TestRigOutputWriters(t *testing.T) {
	r := testrig.Load(t)
	r.Share(t, "node1")
	c := newClient(t, rigConfig(r, r.Host(t, "node1")))
	t.Run("one writer for both streams is safe", func(t *testing.T) {
		var both bytes.Buffer
		code, err := c.Exec(t.Context(), "for i in $(seq 500); do echo out; echo err >&2; done", nil, &both, &both)
		if err != nil || code != 0 {
			t.Fatalf("code %d err %v", code, err)
		}
		if got := strings.Count(both.String(), "out\n") + strings.Count(both.String(), "err\n"); got != 1000 {
			t.Errorf("%d lines, want 1000", got)
		}
	})
	t.Run("a failing writer neither hangs the command nor hides its status", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		code, err := c.Exec(ctx, "head -c 5000000 /dev/zero; exit 4", nil, &failingWriter{after: 1000}, nil)
		if code != 4 || err == nil || !strings.Contains(err.Error(), "disk full") || target.IsTransient(err) {
			t.Fatalf("code %d err %v, want 4 and the write error", code, err)
		}
	})
}

type failingWriter struct{ after, n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n += len(p); f.n > f.after {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestRigStdinReachesTheCommand(t *testing.T) {
	r := testrig.Load(t)
	r.Share(t, "node1")
	c := newClient(t, rigConfig(r, r.Host(t, "node1")))
	var out bytes.Buffer
	code, err := c.Exec(t.Context(), "wc -c", strings.NewReader(strings.Repeat("x", 100000)), &out, nil)
	if err != nil || code != 0 || strings.TrimSpace(out.String()) != "100000" {
		t.Fatalf("code %d err %v out %q", code, err, out.String())
	}
	// A command that ignores its stdin must not wait for a stdin that
	// never ends.
	pr, pw := io.Pipe()
	defer pw.Close()
	code, err = c.Exec(t.Context(), "true", pr, nil, nil)
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
}

// startAgent runs a real ssh-agent on a private socket and adds key to it,
// answering the passphrase prompt through SSH_ASKPASS.
func startAgent(t *testing.T, key, passphrase string) string {
	t.Helper()
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Skip("ssh-agent not installed")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		agent.Process.Signal(syscall.SIGTERM)
		agent.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ssh-agent did not create its socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	askpass := filepath.Join(dir, "askpass")
	// The passphrase comes from the environment, not the script's text.
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\nprintf '%s\\n' \"$RIG_PASSPHRASE\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force",
		"DISPLAY=:0", "RIG_PASSPHRASE="+passphrase)
	add.Stdin = nil
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	return sock
}

func TestRigAuthentication(t *testing.T) {
	r := testrig.Load(t)
	r.Share(t, "node2")
	h := r.Host(t, "node2")
	sock := startAgent(t, r.Keys.PassphrasePrivate, r.Keys.Passphrase)

	t.Run("an encrypted key signs through the agent", func(t *testing.T) {
		cfg := rigConfig(r, h)
		cfg.IdentityFiles = []string{r.Keys.PassphrasePrivate}
		cfg.AgentSocket = sock
		if code, out, _ := run(t, newClient(t, cfg), "echo ok"); code != 0 || out != "ok\n" {
			t.Fatalf("code %d out %q", code, out)
		}
	})
	t.Run("the agent alone is enough", func(t *testing.T) {
		cfg := rigConfig(r, h)
		cfg.IdentityFiles = nil
		cfg.AgentSocket = sock
		if code, out, _ := run(t, newClient(t, cfg), "echo ok"); code != 0 || out != "ok\n" {
			t.Fatalf("code %d out %q", code, out)
		}
	})
	t.Run("an encrypted key without an agent says to ssh-add it", func(t *testing.T) {
		cfg := rigConfig(r, h)
		cfg.IdentityFiles = []string{r.Keys.PassphrasePrivate}
		_, err := newClient(t, cfg).Exec(t.Context(), "true", nil, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "ssh-add "+r.Keys.PassphrasePrivate) {
			t.Fatalf("err = %v, want advice to ssh-add the key", err)
		}
		if target.IsTransient(err) {
			t.Error("a key problem must not be retried")
		}
	})
	t.Run("a key the server does not accept is a final auth error", func(t *testing.T) {
		cfg := rigConfig(r, h)
		cfg.IdentityFiles = []string{filepath.Join(filepath.Dir(r.Keys.Private), "wrong_host_key")}
		_, err := newClient(t, cfg).Exec(t.Context(), "true", nil, nil, nil)
		var ae *ssh.AuthError
		if !errors.As(err, &ae) || target.IsTransient(err) {
			t.Fatalf("err = %v, want a non-transient *ssh.AuthError", err)
		}
	})
}

func TestRigHostKeys(t *testing.T) {
	r := testrig.Load(t)
	bad := r.Host(t, r.BadKnownHostsHost)
	good := r.Host(t, "node1")
	r.Share(t, bad.Name, good.Name)

	t.Run("an unknown host is refused with its fingerprint and the trust command", func(t *testing.T) {
		cfg := rigConfig(r, good)
		cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "empty_known_hosts")}
		_, err := newClient(t, cfg).Exec(t.Context(), "true", nil, nil, nil)
		var unknown *ssh.UnknownHostError
		if !errors.As(err, &unknown) {
			t.Fatalf("err = %v, want *ssh.UnknownHostError", err)
		}
		if unknown.Fingerprint() != good.Fingerprint {
			t.Errorf("fingerprint %s, rig says %s", unknown.Fingerprint(), good.Fingerprint)
		}
		for _, want := range []string{good.Fingerprint, "fleet nodes trust node1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q lacks %q", err, want)
			}
		}
		if target.IsTransient(err) {
			t.Error("an unknown host must not be retried")
		}
	})
	t.Run("a changed key is refused loudly", func(t *testing.T) {
		cfg := rigConfig(r, bad)
		cfg.KnownHosts = []string{r.BadKnownHosts}
		_, err := newClient(t, cfg).Exec(t.Context(), "true", nil, nil, nil)
		var changed *ssh.HostKeyChangedError
		if !errors.As(err, &changed) {
			t.Fatalf("err = %v, want *ssh.HostKeyChangedError", err)
		}
		if changed.Fingerprint() != bad.Fingerprint || !strings.Contains(err.Error(), "CHANGED") {
			t.Errorf("err %v: want the offered fingerprint %s", err, bad.Fingerprint)
		}
		if target.IsTransient(err) {
			t.Error("a changed key must not be retried")
		}
	})
	t.Run("the bad file still vouches for the other hosts", func(t *testing.T) {
		cfg := rigConfig(r, good)
		cfg.KnownHosts = []string{r.BadKnownHosts}
		if code, _, _ := run(t, newClient(t, cfg), "true"); code != 0 {
			t.Fatal(code)
		}
	})
	t.Run("trust adds an unknown key once, then connections pass", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "ssh", "known_hosts")
		cfg := rigConfig(r, good)
		cfg.KnownHosts = []string{kh}
		res, err := ssh.Trust(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Added || res.Fingerprint != good.Fingerprint || res.File != kh {
			t.Fatalf("trust = %+v", res)
		}
		if code, _, _ := run(t, newClient(t, cfg), "true"); code != 0 {
			t.Fatal(code)
		}
		again, err := ssh.Trust(t.Context(), cfg)
		if err != nil || again.Added {
			t.Fatalf("second trust = %+v, %v: want already known", again, err)
		}
		b, _ := os.ReadFile(kh)
		if n := strings.Count(string(b), "\n"); n != 1 {
			t.Errorf("known_hosts has %d lines, want 1:\n%s", n, b)
		}
	})
	t.Run("trust refuses to replace a changed key", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		orig, err := os.ReadFile(r.BadKnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(kh, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := rigConfig(r, bad)
		cfg.KnownHosts = []string{kh}
		_, err = ssh.Trust(t.Context(), cfg)
		var changed *ssh.HostKeyChangedError
		if !errors.As(err, &changed) {
			t.Fatalf("err = %v, want *ssh.HostKeyChangedError", err)
		}
		if now, _ := os.ReadFile(kh); !bytes.Equal(now, orig) {
			t.Error("known_hosts was modified")
		}
	})
}

func TestRigJumpHost(t *testing.T) {
	r := testrig.Load(t)
	priv := r.Private(t)
	r.Share(t, priv.Name, r.Jump(t).Name)
	cfg := rigConfig(r, priv)
	if len(cfg.Jump) == 0 {
		t.Fatal("the rig's private host has no jump host")
	}
	t.Run("the private node answers through the jump host", func(t *testing.T) {
		code, out, _ := run(t, newClient(t, cfg), `echo "$FLEET_RIG_NODE"`)
		if code != 0 || out != priv.Name+"\n" {
			t.Fatalf("code %d out %q", code, out)
		}
	})
	t.Run("the private node is unreachable directly", func(t *testing.T) {
		direct := cfg
		direct.Jump = nil
		direct.ConnectTimeout = 2 * time.Second
		_, err := newClient(t, direct).Exec(t.Context(), "true", nil, nil, nil)
		if err == nil || !target.IsTransient(err) {
			t.Fatalf("err = %v, want a transient connect error", err)
		}
	})
	t.Run("trust works through the jump host", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		orig, _ := os.ReadFile(r.KnownHosts)
		var keep []string
		for _, l := range strings.Split(string(orig), "\n") {
			if l != "" && !strings.Contains(l, priv.Addr) {
				keep = append(keep, l)
			}
		}
		os.WriteFile(kh, []byte(strings.Join(keep, "\n")+"\n"), 0o600)
		c := rigConfig(r, priv)
		c.KnownHosts = []string{kh}
		for i := range c.Jump {
			c.Jump[i].KnownHosts = []string{kh}
		}
		res, err := ssh.Trust(t.Context(), c)
		if err != nil || !res.Added || res.Fingerprint != priv.Fingerprint {
			t.Fatalf("trust = %+v, %v", res, err)
		}
	})
}

// lineRecorder passes lines to a channel as they arrive.
type lineRecorder struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func (l *lineRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		// Never block the session's output copy: drop what no one reads.
		select {
		case l.lines <- string(l.buf[:i]):
		default:
		}
		l.buf = l.buf[i+1:]
	}
}

func TestRigOutputStreamsWhileTheCommandRuns(t *testing.T) {
	r := testrig.Load(t)
	h := r.Host(t, "node1")
	r.Share(t, h.Name)
	c := newClient(t, rigConfig(r, h))
	// The command waits for a file that the test creates only after it
	// has seen the first line: it can finish only if output streams.
	gate := filepath.Join(t.TempDir(), "gate")
	rec := &lineRecorder{lines: make(chan string, 100)}
	done := make(chan error, 1)
	go func() {
		cmd := fmt.Sprintf(`echo first; while [ ! -e %s ]; do sleep 0.05; done; for i in 1 2 3; do echo "after $i"; done`, shellquote.Quote(gate))
		code, err := c.Exec(t.Context(), cmd, nil, rec, nil)
		if err == nil && code != 0 {
			err = fmt.Errorf("exit %d", code)
		}
		done <- err
	}()
	select {
	case l := <-rec.lines:
		if l != "first" {
			t.Fatalf("first line %q", l)
		}
	case err := <-done:
		t.Fatalf("command ended before its first line arrived: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no line in 30 s")
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if l := <-rec.lines; l != fmt.Sprintf("after %d", i) {
			t.Errorf("line %q", l)
		}
	}
}

func TestRigCancelClosesTheSession(t *testing.T) {
	r := testrig.Load(t)
	h := r.Host(t, "node1")
	r.Share(t, h.Name)
	cfg := rigConfig(r, h)
	cfg.MaxSessions = 2
	c := newClient(t, cfg)
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		// A command that keeps writing: once the session is closed its
		// output pipe is gone and the write kills it (SIGPIPE). sshd
		// refuses "signal" requests for root sessions, so this is how the
		// remote side shows that the session ended.
		cmd := fmt.Sprintf("echo $$ > %s; while :; do echo tick; sleep 0.2; done", shellquote.Quote(pidFile))
		_, err := c.Exec(ctx, cmd, nil, io.Discard, nil)
		done <- err
	}()
	var pid int
	waitFor(t, 30*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || target.IsTransient(err) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exec did not return after cancel")
	}
	// The remote side sees the session end (the rig shares this
	// machine's process table).
	waitFor(t, 10*time.Second, func() bool { return syscall.Kill(pid, 0) != nil })
	// Both slots are free again: two sessions at once still work.
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			qctx, qcancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer qcancel()
			if code, err := c.Exec(qctx, "sleep 0.2", nil, nil, nil); err != nil || code != 0 {
				t.Errorf("after cancel: code %d err %v", code, err)
			}
		}()
	}
	wg.Wait()
}

func waitFor(t *testing.T, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met in %s", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fileSHA(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func randomFile(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		t.Fatal(err)
	}
}

func TestRigSFTP(t *testing.T) {
	r := testrig.Load(t)
	h := r.Host(t, "node3")
	r.Share(t, h.Name)
	c := newClient(t, rigConfig(r, h))
	local := t.TempDir()
	remote := filepath.Join(h.WorkDir, "sftp-test-"+strconv.Itoa(os.Getpid()))
	t.Cleanup(func() { os.RemoveAll(remote) })

	big := filepath.Join(local, "big.bin")
	randomFile(t, big, 100<<20)
	dst := remote + "/deep/dir/big.bin"

	t.Run("a 100 MB file goes and comes back intact", func(t *testing.T) {
		copied, err := c.PutFile(t.Context(), target.File{Source: big, Mode: 0o640}, dst)
		if err != nil || !copied {
			t.Fatalf("put: copied %v err %v", copied, err)
		}
		back := filepath.Join(local, "back", "big.bin")
		if err := c.Get(t.Context(), dst, back, shelltarget.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		if fileSHA(t, back) != fileSHA(t, big) {
			t.Fatal("sha256 differs after the round trip")
		}
		// The rig's node directories are this machine's: look directly.
		st, err := os.Stat(dst)
		if err != nil || st.Mode().Perm() != 0o640 {
			t.Fatalf("remote file: %v mode %v", err, st.Mode())
		}
		left, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".*tmp"))
		leftLocal, _ := filepath.Glob(filepath.Join(local, "back", ".*tmp"))
		if len(left)+len(leftLocal) > 0 {
			t.Errorf("temp files left: %v %v", left, leftLocal)
		}
	})
	t.Run("the same file is not sent again", func(t *testing.T) {
		before, _ := os.Stat(dst)
		copied, err := c.PutFile(t.Context(), target.File{Source: big, Mode: 0o755}, dst)
		if err != nil || copied {
			t.Fatalf("put: copied %v err %v, want skipped", copied, err)
		}
		after, _ := os.Stat(dst)
		if !os.SameFile(before, after) {
			t.Error("the remote file was replaced")
		}
		if after.Mode().Perm() != 0o755 {
			t.Errorf("mode %v: a skipped copy must still set the mode", after.Mode())
		}
	})
	t.Run("a changed file is sent again", func(t *testing.T) {
		f, _ := os.OpenFile(big, os.O_WRONLY, 0)
		f.WriteAt([]byte("changed"), 12345)
		f.Close()
		copied, err := c.PutFile(t.Context(), target.File{Source: big}, dst)
		if err != nil || !copied {
			t.Fatalf("put: copied %v err %v", copied, err)
		}
		if fileSHA(t, dst) != fileSHA(t, big) {
			t.Fatal("remote differs")
		}
	})
	t.Run("data files replace what is there atomically", func(t *testing.T) {
		p := remote + "/script.sh"
		for _, body := range []string{"#!/bin/sh\necho one\n", "#!/bin/sh\necho two\n"} {
			if err := c.Put(t.Context(), target.File{Data: []byte(body), Mode: 0o755}, p); err != nil {
				t.Fatal(err)
			}
			if code, out, _ := run(t, c, shellquote.Quote(p)); code != 0 || !strings.HasPrefix(body, "#!/bin/sh\necho "+strings.TrimSpace(out)) {
				t.Fatalf("code %d out %q", code, out)
			}
		}
	})
	t.Run("a missing remote file is fs.ErrNotExist", func(t *testing.T) {
		err := c.Get(t.Context(), remote+"/nope", filepath.Join(local, "nope"), shelltarget.GetOptions{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want fs.ErrNotExist", err)
		}
		if _, err := os.Stat(filepath.Join(local, "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Error("a local file appeared")
		}
	})
	t.Run("MkdirAll and relative destinations", func(t *testing.T) {
		if err := c.MkdirAll(t.Context(), remote+"/a/b/c"); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(remote + "/a/b/c"); err != nil || !st.IsDir() {
			t.Fatal(err)
		}
		if err := c.Put(t.Context(), target.File{Data: []byte("x")}, "relative/path"); err == nil {
			t.Fatal("a relative destination was accepted")
		}
	})
}

func TestRigQuotedValuesArriveLiterally(t *testing.T) {
	r := testrig.Load(t)
	h := r.Host(t, "node1")
	r.Share(t, h.Name)
	c := newClient(t, rigConfig(r, h))
	values := []string{
		"", "it's", `'\''`, `"double"`, "$(touch /tmp/fleet-pwned-$$)", "`touch /tmp/fleet-pwned`",
		"$HOME ${PATH} $$ $? $0", `back\slash\\`, "new\nline\n", "\n\n", "tab\tcr\r", "; exit 3 #",
		"a && b || c | d > /tmp/fleet-pwned < e & f", "*?[abc]{x,y}~", "-n", "日本語 🚀", "\x01\x7f\xff",
	}
	for _, v := range values {
		code, out, errOut := run(t, c, "printf %s "+shellquote.Quote(v))
		if code != 0 || out != v {
			t.Errorf("value %q arrived as %q (exit %d, stderr %q)", v, out, code, errOut)
		}
	}
	code, out, _ := run(t, c, `printf '%s\0' `+shellquote.Join(values...))
	got := strings.Split(out, "\x00")
	if code != 0 || len(got) != len(values)+1 {
		t.Fatalf("exit %d, %d words", code, len(got)-1)
	}
	for i, v := range values {
		if got[i] != v {
			t.Errorf("argument %d arrived as %q, want %q", i, got[i], v)
		}
	}
	if _, err := os.Stat("/tmp/fleet-pwned"); err == nil {
		t.Error("a value was executed")
	}

	t.Run("secrets travel on stdin, never in the command line", func(t *testing.T) {
		secret := "hf_" + strings.Repeat("s3cr3t", 4) + "'$(x)`y`\nz"
		cmd, stdin, err := ssh.EnvOnStdin(map[string]string{"HF_TOKEN": secret}, `printf %s "$HF_TOKEN"`, nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(cmd, "s3cr3t") {
			t.Fatalf("the secret is in the command line: %s", cmd)
		}
		var out bytes.Buffer
		if code, err := c.Exec(t.Context(), cmd, stdin, &out, nil); err != nil || code != 0 {
			t.Fatalf("code %d err %v", code, err)
		}
		if out.String() != secret {
			t.Errorf("secret arrived as %q", out.String())
		}
	})
}

func TestRigSessionCapOnOneConnection(t *testing.T) {
	r := testrig.Load(t)
	h := r.Host(t, "node2")
	r.Share(t, h.Name)
	c := newClient(t, rigConfig(r, h))
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			code, err := c.Exec(t.Context(), fmt.Sprintf("sleep 0.3; echo %d", i), nil, &out, nil)
			if err == nil && (code != 0 || out.String() != fmt.Sprintf("%d\n", i)) {
				err = fmt.Errorf("session %d: code %d out %q", i, code, out.String())
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	s := c.Stats()
	if s.Dials != 1 {
		t.Errorf("%d connections, want 1", s.Dials)
	}
	if s.SessionPeak != ssh.DefaultMaxSessions {
		t.Errorf("peak %d sessions at once, want the cap %d", s.SessionPeak, ssh.DefaultMaxSessions)
	}
}

func TestRigUnreachableHostIsTransient(t *testing.T) {
	r := testrig.Load(t)
	cfg := ssh.Config{
		Name: "ghost", Host: "198.18.0.250", Port: 22, User: "root",
		IdentityFiles: []string{r.Keys.Private}, KnownHosts: []string{r.KnownHosts},
		SSHConfigPath: ssh.NoSSHConfig, ConnectTimeout: 2 * time.Second,
	}
	start := time.Now()
	_, err := newClient(t, cfg).Exec(t.Context(), "true", nil, nil, nil)
	took := time.Since(start)
	if err == nil || !target.IsTransient(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	// Bounded by the connect timeout, not by TCP's minutes of retries.
	if took > 30*time.Second {
		t.Errorf("took %s with a 2 s connect timeout", took)
	}
	t.Logf("unreachable host reported after %s: %v", took.Round(time.Millisecond), err)
}

func TestRigFaults(t *testing.T) {
	r := testrig.Load(t)

	t.Run("a pulled cable mid-command is a transient error within seconds, then reconnects", func(t *testing.T) {
		h := r.Host(t, "node4")
		c := newClient(t, rigConfig(r, h))
		rec := &lineRecorder{lines: make(chan string, 10)}
		type result struct {
			code int
			err  error
			at   time.Time
		}
		done := make(chan result, 1)
		go func() {
			// Runs until its output pipe breaks: LinkDown below may wait
			// minutes for other tests' locks on the host.
			code, err := c.Exec(t.Context(), "echo started; while :; do echo tick; sleep 1; done", nil, rec, nil)
			done <- result{code, err, time.Now()}
		}()
		select {
		case <-rec.lines:
		case <-time.After(30 * time.Second):
			t.Fatal("command did not start")
		}
		r.LinkDown(t, h.Name)
		cut := time.Now()
		var res result
		select {
		case res = <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("Exec still hangs 60 s after the cable was pulled")
		}
		took := res.at.Sub(cut)
		t.Logf("dead link reported after %s: %v", took.Round(time.Millisecond), res.err)
		if res.err == nil || !target.IsTransient(res.err) || !strings.Contains(res.err.Error(), "fate unknown") {
			t.Fatalf("code %d err %v, want a transient 'fate unknown' error", res.code, res.err)
		}
		// Keepalive every 3 s, 3 misses: 9-12 s, with slack for a loaded machine.
		if took > 25*time.Second {
			t.Errorf("took %s to notice the dead link", took)
		}
		r.LinkUp(t, h.Name)
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		var out bytes.Buffer
		code, err := c.Exec(ctx, "echo back", nil, &out, nil)
		if err != nil || code != 0 || out.String() != "back\n" {
			t.Fatalf("after link up: code %d err %v out %q", code, err, out.String())
		}
		if s := c.Stats(); s.Dials != 2 {
			t.Errorf("%d dials, want 2 (one reconnect)", s.Dials)
		}
	})

	t.Run("sshd's listener killed: live sessions finish, new connections are refused at once", func(t *testing.T) {
		h := r.Host(t, "node3")
		c := newClient(t, rigConfig(r, h))
		rec := &lineRecorder{lines: make(chan string, 10)}
		gate := filepath.Join(t.TempDir(), "gate")
		done := make(chan error, 1)
		go func() {
			code, err := c.Exec(t.Context(), fmt.Sprintf("echo started; while [ ! -e %s ]; do sleep 0.05; done; echo finished", shellquote.Quote(gate)), nil, rec, nil)
			if err == nil && code != 0 {
				err = fmt.Errorf("exit %d", code)
			}
			done <- err
		}()
		<-rec.lines
		r.KillSSHD(t, h.Name)
		os.WriteFile(gate, nil, 0o644)
		if err := <-done; err != nil {
			t.Fatalf("the live session broke: %v", err)
		}
		if l := <-rec.lines; l != "finished" {
			t.Fatalf("line %q", l)
		}
		fresh := newClient(t, rigConfig(r, h))
		start := time.Now()
		_, err := fresh.Exec(t.Context(), "true", nil, nil, nil)
		if err == nil || !target.IsTransient(err) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("err = %v, want transient connection refused", err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("refusal took %s", took)
		}
	})

	t.Run("the session's sshd killed mid-command: transient, fate unknown", func(t *testing.T) {
		h := r.Host(t, "node3")
		r.Share(t, h.Name)
		c := newClient(t, rigConfig(r, h))
		// The shell's parent is the connection's sshd process.
		_, err := c.Exec(t.Context(), "echo started; kill -9 $PPID; sleep 30", nil, nil, nil)
		if err == nil || !target.IsTransient(err) || !strings.Contains(err.Error(), "fate unknown") {
			t.Fatalf("err = %v, want a transient 'fate unknown' error", err)
		}
		if code, _, _ := run(t, c, "true"); code != 0 {
			t.Fatalf("after reconnect: exit %d", code)
		}
	})

	t.Run("a connection killed while idle is replaced on the next command", func(t *testing.T) {
		h := r.Host(t, "node3")
		r.Share(t, h.Name)
		c := newClient(t, rigConfig(r, h))
		_, out, _ := run(t, c, "echo $PPID")
		ppid, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("ppid %q", out)
		}
		// The rig's sshd processes are in this machine's process table.
		if err := syscall.Kill(ppid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if code, out, _ := run(t, c, "echo again"); code != 0 || out != "again\n" {
			t.Fatalf("code %d out %q", code, out)
		}
		if s := c.Stats(); s.Dials != 2 {
			t.Errorf("%d dials, want 2", s.Dials)
		}
	})

	t.Run("a frozen sshd times out in the handshake, transient", func(t *testing.T) {
		h := r.Host(t, "node4")
		r.FreezeSSHD(t, h.Name)
		cfg := rigConfig(r, h)
		cfg.ConnectTimeout = 2 * time.Second
		start := time.Now()
		_, err := newClient(t, cfg).Exec(t.Context(), "true", nil, nil, nil)
		if err == nil || !target.IsTransient(err) {
			t.Fatalf("err = %v, want transient", err)
		}
		if took := time.Since(start); took > 15*time.Second {
			t.Errorf("took %s with a 2 s timeout", took)
		}
	})
}
