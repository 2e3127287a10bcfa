package testrig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Time limits of the helpers. They are upper bounds for a loaded 2-core
// machine, not expectations: the helpers poll and return as soon as the
// rig is in the wanted state.
const (
	commandTimeout = 60 * time.Second
	daemonStart    = 20 * time.Second
	stopGrace      = 5 * time.Second
	nodeReady      = 90 * time.Second
	lockWait       = 5 * time.Minute
	pollEvery      = 100 * time.Millisecond
	faultComment   = "fleet-rig-fault"
)

// cleanupContext is for t.Cleanup functions: the test's own context is
// already cancelled when they run.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*nodeReady)
}

// run runs argv with a bounded time and returns its combined output. The
// WaitDelay stops a daemon that keeps the output pipe open from hanging us.
func run(ctx context.Context, env []string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("run %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// startDaemon runs a daemon's start argv (the daemon forks away) and waits
// until its pid file names a live process.
func startDaemon(ctx context.Context, what string, d Daemon) error {
	if pidFileAlive(d.PidFile) {
		return nil
	}
	if len(d.Start) == 0 {
		return fmt.Errorf("%s: rig.json has no start command", what)
	}
	// The daemon must not inherit our output pipes: it would hold them open.
	cmd := exec.CommandContext(ctx, d.Start[0], d.Start[1:]...)
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("start %s: %w: %s%s", what, err, out, logTail(d.Log))
	}
	if err := poll(ctx, daemonStart, func() bool { return pidFileAlive(d.PidFile) }); err != nil {
		return fmt.Errorf("start %s: no live pid in %s: %w%s", what, d.PidFile, err, logTail(d.Log))
	}
	return nil
}

// stopDaemon sends SIGTERM to the pid in pidFile, waits, then SIGKILLs.
func stopDaemon(ctx context.Context, what, pidFile string) error {
	pid, err := readPidFile(pidFile)
	if err != nil || !pidAlive(pid) {
		return nil
	}
	if err := signalPid(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s: %w", what, err)
	}
	if poll(ctx, stopGrace, func() bool { return !pidAlive(pid) }) == nil {
		return nil
	}
	if err := signalPid(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("stop %s: %w", what, err)
	}
	if err := poll(ctx, stopGrace, func() bool { return !pidAlive(pid) }); err != nil {
		return fmt.Errorf("stop %s: pid %d survived SIGKILL: %w", what, pid, err)
	}
	return nil
}

// poll calls ok until it returns true, ctx ends or limit passes.
func poll(ctx context.Context, limit time.Duration, ok func() bool) error {
	deadline := time.Now().Add(limit)
	for {
		if ok() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %v", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\n--- last lines of " + path + " ---\n" + strings.Join(lines, "\n")
}

// lock takes the cross-process lock of one host, shared or exclusive, held
// until the end of t. Locks are flock(2) on files in the state dir, so they
// also exclude the test binaries of other packages and vanish with a
// crashed process.
func (r *Rig) lock(t testing.TB, host string, exclusive bool) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.locks == nil {
		r.locks = map[string]*heldLock{}
	}
	if l, ok := r.locks[host]; ok {
		if l.exclusive || !exclusive {
			return
		}
		// Upgrade our shared lock: flock converts it on the same file.
		if err := flockWait(t.Context(), l.f, syscall.LOCK_EX); err != nil {
			t.Fatalf("test rig: lock host %s exclusively: %v", host, err)
		}
		l.exclusive = true
		return
	}
	dir := filepath.Join(r.StateDir, "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("test rig: lock host %s: %v", host, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, host+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("test rig: lock host %s: %v", host, err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := flockWait(t.Context(), f, how); err != nil {
		f.Close()
		t.Fatalf("test rig: lock host %s (another test breaks or uses it): %v", host, err)
	}
	r.locks[host] = &heldLock{f: f, exclusive: exclusive}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.locks, host)
		f.Close() // closing the last descriptor drops the flock
	})
}

type heldLock struct {
	f         *os.File
	exclusive bool
}

func flockWait(ctx context.Context, f *os.File, how int) error {
	var last error
	err := poll(ctx, lockWait, func() bool {
		last = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		return last == nil
	})
	if err != nil {
		return fmt.Errorf("flock %s: %w (last: %v)", f.Name(), err, last)
	}
	return nil
}

// Share takes a shared lock on hosts until the end of t, so that no fault
// helper (in this or another package's tests) breaks them meanwhile.
func (r *Rig) Share(t testing.TB, hosts ...string) {
	t.Helper()
	for _, h := range hosts {
		r.lock(t, h, false)
	}
}

// Exec runs cmd with /bin/sh -c inside host's network namespace (for
// example `ss -ltnp` to look for leftover servers) and returns the combined
// output; err is non-nil when the command fails.
func (r *Rig) Exec(t testing.TB, host, cmd string) (string, error) {
	t.Helper()
	h := r.Host(t, host)
	return run(t.Context(), nil, "nsenter", "--net="+h.NetnsPath, "/bin/sh", "-c", cmd)
}

// SSHCommand is the OpenSSH client running remote on host with the rig's
// client config (its key, known_hosts, StrictHostKeyChecking=yes, BatchMode,
// ProxyJump for the private host). Extra client options go in opts (e.g.
// "-o", "ConnectTimeout=2"), placed before the host.
func (r *Rig) SSHCommand(ctx context.Context, host string, opts []string, remote ...string) *exec.Cmd {
	args := append([]string{"-F", r.SSHConfig}, opts...)
	args = append(args, host)
	args = append(args, remote...)
	return exec.CommandContext(ctx, "ssh", args...)
}

// LinkDown pulls host's cable: the host-side veth goes down, so packets to
// and from the host vanish (connections time out, live sessions hang). The
// link comes back at the end of t.
func (r *Rig) LinkDown(t testing.TB, host string) {
	t.Helper()
	h := r.Host(t, host)
	r.lock(t, host, true)
	if _, err := run(t.Context(), nil, "ip", "link", "set", h.Veth, "down"); err != nil {
		t.Fatalf("test rig: link down %s: %v", host, err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		if err := linkUp(ctx, h); err != nil {
			t.Errorf("test rig: restore link of %s: %v", host, err)
		}
	})
}

// LinkUp plugs host's cable back in.
func (r *Rig) LinkUp(t testing.TB, host string) {
	t.Helper()
	if err := linkUp(t.Context(), r.Host(t, host)); err != nil {
		t.Fatalf("test rig: %v", err)
	}
}

func linkUp(ctx context.Context, h Host) error {
	if _, err := run(ctx, nil, "ip", "link", "set", h.Veth, "up"); err != nil {
		return fmt.Errorf("link up %s: %w", h.Name, err)
	}
	state := filepath.Join("/sys/class/net", h.Veth, "operstate")
	err := poll(ctx, daemonStart, func() bool {
		b, err := os.ReadFile(state)
		return err == nil && strings.TrimSpace(string(b)) == "up"
	})
	if err != nil {
		return fmt.Errorf("link up %s: %s never said up: %w", h.Name, state, err)
	}
	return nil
}

// KillSSHD stops host's sshd listener (new connections are refused; live
// sessions keep their own processes). It is restarted at the end of t.
func (r *Rig) KillSSHD(t testing.TB, host string) {
	t.Helper()
	h := r.Host(t, host)
	r.lock(t, host, true)
	if err := stopDaemon(t.Context(), "sshd on "+host, h.SSHD.PidFile); err != nil {
		t.Fatalf("test rig: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		if err := r.startSSHD(ctx, h); err != nil {
			t.Errorf("test rig: restore sshd on %s: %v", host, err)
		}
	})
}

// StartSSHD starts host's sshd (as up.sh does) if it is not running and
// waits until it listens.
func (r *Rig) StartSSHD(t testing.TB, host string) {
	t.Helper()
	if err := r.startSSHD(t.Context(), r.Host(t, host)); err != nil {
		t.Fatalf("test rig: %v", err)
	}
}

func (r *Rig) startSSHD(ctx context.Context, h Host) error {
	if err := startDaemon(ctx, "sshd on "+h.Name, h.SSHD.Daemon); err != nil {
		return err
	}
	// Ask the namespace itself: the private host drops probes from here.
	listen := fmt.Sprintf("ss -Hltn 'sport = :%d' | grep -q .", h.Port)
	err := poll(ctx, daemonStart, func() bool {
		_, err := run(ctx, nil, "nsenter", "--net="+h.NetnsPath, "/bin/sh", "-c", listen)
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("sshd on %s does not listen: %w%s", h.Name, err, logTail(h.SSHD.Log))
	}
	return nil
}

// FreezeSSHD stops host's sshd listener with SIGSTOP: connections are
// accepted by the kernel but time out during the banner exchange. It is
// thawed at the end of t.
func (r *Rig) FreezeSSHD(t testing.TB, host string) {
	t.Helper()
	h := r.Host(t, host)
	r.lock(t, host, true)
	pid, err := readPidFile(h.SSHD.PidFile)
	if err != nil {
		t.Fatalf("test rig: freeze sshd on %s: %v", host, err)
	}
	if err := signalPid(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("test rig: freeze sshd on %s: %v", host, err)
	}
	t.Cleanup(func() {
		if err := signalPid(pid, syscall.SIGCONT); err != nil {
			t.Errorf("test rig: thaw sshd on %s: %v", host, err)
		}
	})
}

// FirewallDrop makes host silently drop every packet that reaches it from
// outside (its loopback still works): new connections time out. Removed at
// the end of t.
func (r *Rig) FirewallDrop(t testing.TB, host string) {
	t.Helper()
	r.firewall(t, host, []string{"!", "-i", "lo", "-j", "DROP"})
}

// FirewallReset makes host answer every TCP packet from outside with a
// reset: connections are refused, established ones break. Removed at the
// end of t.
func (r *Rig) FirewallReset(t testing.TB, host string) {
	t.Helper()
	r.firewall(t, host, []string{"!", "-i", "lo", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"})
}

func (r *Rig) firewall(t testing.TB, host string, rule []string) {
	t.Helper()
	h := r.Host(t, host)
	r.lock(t, host, true)
	argv := append([]string{"nsenter", "--net=" + h.NetnsPath, "iptables", "-I", "INPUT", "1"}, rule...)
	argv = append(argv, "-m", "comment", "--comment", faultComment)
	if _, err := run(t.Context(), nil, argv...); err != nil {
		t.Fatalf("test rig: firewall %s: %v", host, err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		if err := firewallClear(ctx, h); err != nil {
			t.Errorf("test rig: %v", err)
		}
	})
}

// FirewallClear removes the rules FirewallDrop and FirewallReset added to
// host (the private host's own jump-only rule stays).
func (r *Rig) FirewallClear(t testing.TB, host string) {
	t.Helper()
	if err := firewallClear(t.Context(), r.Host(t, host)); err != nil {
		t.Fatalf("test rig: %v", err)
	}
}

func firewallClear(ctx context.Context, h Host) error {
	ns := "--net=" + h.NetnsPath
	out, err := run(ctx, nil, "nsenter", ns, "iptables", "-S", "INPUT")
	if err != nil {
		return fmt.Errorf("clear firewall of %s: %w", h.Name, err)
	}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "-A INPUT ") || !strings.Contains(line, faultComment) {
			continue
		}
		// The rules hold no quoted words, so splitting on spaces gives
		// iptables its own arguments back.
		spec := strings.Fields(strings.TrimPrefix(line, "-A INPUT "))
		argv := append([]string{"nsenter", ns, "iptables", "-D", "INPUT"}, spec...)
		if _, err := run(ctx, nil, argv...); err != nil {
			return fmt.Errorf("clear firewall of %s: %w", h.Name, err)
		}
	}
	return nil
}

// StopSlurmd stops node's slurmd in cluster (the node stops responding;
// its jobs end NODE_FAIL, or are requeued where the cluster requeues). At
// the end of t the slurmd is restarted and the node resumed and waited for.
func (r *Rig) StopSlurmd(t testing.TB, cluster, node string) {
	t.Helper()
	c := r.Cluster(t, cluster)
	d, ok := c.Slurmd[node]
	if !ok {
		t.Fatalf("test rig: cluster %s has no node %s", cluster, node)
	}
	r.lock(t, node, true)
	if err := stopDaemon(t.Context(), "slurmd "+node+" of "+cluster, d.PidFile); err != nil {
		t.Fatalf("test rig: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		if err := restoreNode(ctx, c, node); err != nil {
			t.Errorf("test rig: restore %s of %s: %v", node, cluster, err)
		}
	})
}

// StartSlurmd starts node's slurmd in cluster (as up.sh does) if it is not
// running.
func (r *Rig) StartSlurmd(t testing.TB, cluster, node string) {
	t.Helper()
	c := r.Cluster(t, cluster)
	d, ok := c.Slurmd[node]
	if !ok {
		t.Fatalf("test rig: cluster %s has no node %s", cluster, node)
	}
	if err := startDaemon(t.Context(), "slurmd "+node+" of "+cluster, d); err != nil {
		t.Fatalf("test rig: %v", err)
	}
}

// usableStates are the node states in which a node takes jobs.
var usableStates = []string{"idle", "mixed", "allocated", "completing"}

func restoreNode(ctx context.Context, c Cluster, node string) error {
	if err := startDaemon(ctx, "slurmd "+node+" of "+c.Name, c.Slurmd[node]); err != nil {
		return err
	}
	if err := resumeNode(ctx, c, node); err != nil {
		return err
	}
	_, err := waitNodeState(ctx, c, node, nodeReady, usableStates...)
	return err
}

// ResumeNode sets node of cluster back to service (scontrol update
// state=resume). A node that is already in service is left as it is.
func (r *Rig) ResumeNode(t testing.TB, cluster, node string) {
	t.Helper()
	if err := resumeNode(t.Context(), r.Cluster(t, cluster), node); err != nil {
		t.Fatalf("test rig: %v", err)
	}
}

func resumeNode(ctx context.Context, c Cluster, node string) error {
	out, err := run(ctx, c.Env(), "scontrol", "update", "nodename="+node, "state=resume")
	// scontrol refuses to resume a node that is not down or drained.
	if err != nil && !strings.Contains(out, "Invalid node state") {
		return fmt.Errorf("resume %s of %s: %w", node, c.Name, err)
	}
	return nil
}

// NodeState is node's state in cluster as sinfo's %T prints it ("idle",
// "down*", "drained", ...; a trailing * means not responding).
func (r *Rig) NodeState(t testing.TB, cluster, node string) string {
	t.Helper()
	s, err := nodeState(t.Context(), r.Cluster(t, cluster), node)
	if err != nil {
		t.Fatalf("test rig: %v", err)
	}
	return s
}

func nodeState(ctx context.Context, c Cluster, node string) (string, error) {
	out, err := run(ctx, c.Env(), "sinfo", "-h", "-N", "-n", node, "-o", "%T")
	if err != nil {
		return "", fmt.Errorf("state of %s in %s: %w", node, c.Name, err)
	}
	lines := strings.Fields(out)
	if len(lines) == 0 {
		return "", fmt.Errorf("state of %s in %s: sinfo printed nothing", node, c.Name)
	}
	return lines[0], nil
}

// WaitNodeState waits up to limit until node of cluster is in one of
// states (as NodeState prints them) and returns the state it saw.
func (r *Rig) WaitNodeState(t testing.TB, cluster, node string, limit time.Duration, states ...string) string {
	t.Helper()
	s, err := waitNodeState(t.Context(), r.Cluster(t, cluster), node, limit, states...)
	if err != nil {
		t.Fatalf("test rig: %v", err)
	}
	return s
}

func waitNodeState(ctx context.Context, c Cluster, node string, limit time.Duration, states ...string) (string, error) {
	var last string
	var lastErr error
	err := poll(ctx, limit, func() bool {
		last, lastErr = nodeState(ctx, c, node)
		return lastErr == nil && slices.Contains(states, last)
	})
	if err != nil {
		return last, fmt.Errorf("node %s of %s: want state %v, last %q (%v): %w%s",
			node, c.Name, states, last, lastErr, err, logTail(c.Slurmctld.Log))
	}
	return last, nil
}

// Slurm runs a Slurm client command (sbatch, squeue, sacct, scontrol, ...)
// against cluster from this machine and returns its combined output.
func (r *Rig) Slurm(t testing.TB, cluster string, argv ...string) (string, error) {
	t.Helper()
	if len(argv) == 0 {
		t.Fatalf("test rig: Slurm needs a command")
	}
	return run(t.Context(), r.Cluster(t, cluster).Env(), argv...)
}

// GPUProc is one line of a host's gpu-busy file: a process the fake
// nvidia-smi/rocm-smi report as using MiB of memory on GPU. Use the pid of
// a process the test started, or one above 4194304 (Linux's PID_MAX_LIMIT)
// that no process can have: code under test may kill what it finds.
type GPUProc struct {
	PID int
	MiB int
	GPU int
}

// SetGPUBusy makes host's fake GPU tools report procs as running compute
// processes, until the end of t.
func (r *Rig) SetGPUBusy(t testing.TB, host string, procs ...GPUProc) {
	t.Helper()
	h := r.Host(t, host)
	r.lock(t, host, true)
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "%d %d %d\n", p.PID, p.MiB, p.GPU)
	}
	tmp := h.GPUBusyFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatalf("test rig: gpu-busy of %s: %v", host, err)
	}
	if err := os.Rename(tmp, h.GPUBusyFile); err != nil {
		t.Fatalf("test rig: gpu-busy of %s: %v", host, err)
	}
	t.Cleanup(func() {
		if err := os.Remove(h.GPUBusyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("test rig: clear gpu-busy of %s: %v", host, err)
		}
	})
}
