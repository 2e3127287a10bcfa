// Package testrig gives integration tests the project's test rig: real sshd
// hosts in network namespaces and two real Slurm clusters, brought up by
// scripts/testrig/up.sh and described by its rig.json.
//
// Load fails the test when the rig is not running, so a forgotten rig shows
// as a failure and never as a silent skip. The one exception is -short: `go
// test -short ./...` is the fast unit-test loop and skips rig tests.
//
// Fault helpers (LinkDown, KillSSHD, FirewallDrop, StopSlurmd, ...) take the
// test first, undo themselves in t.Cleanup, and hold an exclusive lock on the
// host they break for as long as the fault lasts, because the test binaries
// of several packages run at the same time against the one rig. A test that
// must not see another package's faults takes Share on its hosts.
package testrig

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// DefaultPath is where up.sh writes rig.json when FLEET_RIG_DIR is unset.
const DefaultPath = "/tmp/fleet-rig/rig.json"

// UpHint is what to do when the rig is missing or broken.
const UpHint = "run scripts/testrig/up.sh (the README's test command does)"

// Rig is rig.json: everything a test needs to reach the rig's hosts and
// clusters and to break and restore them.
type Rig struct {
	Version  int    `json:"version"`
	StateDir string `json:"state_dir"`
	// User is the login user on every host (root).
	User   string `json:"user"`
	Bridge Bridge `json:"bridge"`
	Keys   Keys   `json:"keys"`
	// KnownHosts lists every host's key; BadKnownHosts is the same file
	// with a wrong key for BadKnownHostsHost (the changed-key case).
	KnownHosts        string `json:"known_hosts"`
	BadKnownHosts     string `json:"bad_known_hosts"`
	BadKnownHostsHost string `json:"bad_known_hosts_host"`
	// SSHConfig is an OpenSSH client config with a Host entry per host
	// (key, known_hosts, strict checking, ProxyJump for the private one).
	SSHConfig string `json:"ssh_config"`
	// OtherUser is an unprivileged user of every host that never logs
	// in: tests plant files as it where fleet looks.
	OtherUser OtherUser `json:"other_user"`
	Hosts     []Host    `json:"hosts"`
	Munge     Munge     `json:"munge"`
	MariaDB   MariaDB   `json:"mariadb"`
	Slurmdbd  Slurmdbd  `json:"slurmdbd"`
	Clusters  []Cluster `json:"clusters"`

	mu    sync.Mutex // guards locks
	locks map[string]*heldLock
}

// Bridge is the root-namespace bridge all hosts hang off.
type Bridge struct {
	Name   string `json:"name"`
	Addr   string `json:"addr"`
	Prefix int    `json:"prefix"`
}

// Keys are the client key pairs that every host's authorized_keys accepts.
type Keys struct {
	Private string `json:"private"`
	Public  string `json:"public"`
	// PassphrasePrivate is encrypted with Passphrase (for agent tests).
	PassphrasePrivate string `json:"passphrase_private"`
	PassphrasePublic  string `json:"passphrase_public"`
	Passphrase        string `json:"passphrase"`
	AuthorizedKeys    string `json:"authorized_keys"`
}

// Daemon is how the rig runs one daemon: its pid file, its log and the argv
// that starts it exactly as up.sh does.
type Daemon struct {
	PidFile string   `json:"pid_file"`
	Log     string   `json:"log"`
	Start   []string `json:"start"`
}

// SSHD is one host's sshd.
type SSHD struct {
	Config string `json:"config"`
	Daemon
}

// Host roles.
const (
	RoleGPU     = "gpu"
	RoleJump    = "jump"
	RolePrivate = "private"
)

// Host is one machine of the rig: a network namespace with its own sshd.
// All hosts share this machine's filesystem.
type Host struct {
	Name string `json:"name"`
	// Role is RoleGPU, RoleJump or RolePrivate (reachable only through
	// ProxyJump, see ProxyJump).
	Role      string `json:"role"`
	Addr      string `json:"addr"`
	Port      int    `json:"port"`
	Netns     string `json:"netns"`
	NetnsPath string `json:"netns_path"`
	// Veth is the host-side (root namespace) end of the host's link.
	Veth string `json:"veth"`
	// HostKey is the public host key file; Fingerprint its SHA256 form.
	HostKey     string `json:"host_key"`
	Fingerprint string `json:"fingerprint"`
	NodeDir     string `json:"node_dir"`
	// WorkDir is this host's own work dir base (all hosts share one
	// filesystem, so each gets its own).
	WorkDir string `json:"work_dir"`
	// BinDir holds the fake GPU tools; it comes first on the ssh PATH.
	BinDir string `json:"bin_dir"`
	// GPUBusyFile, when present, lists "PID [MiB [GPU]]" lines that the
	// fake nvidia-smi/rocm-smi report as running compute processes.
	GPUBusyFile string `json:"gpu_busy_file"`
	GPUType     string `json:"gpu_type"`
	// GPUPlatform is "nvidia", "amd" or "" (no GPUs).
	GPUPlatform  string `json:"gpu_platform"`
	GPUs         int    `json:"gpus"`
	GPUMemoryMiB int    `json:"gpu_memory_mib"`
	// ProxyJump names the host to jump through, for the private host.
	ProxyJump string `json:"proxy_jump"`
	// SlurmConf is set on a cluster's login host: its sshd exports
	// SLURM_CONF so sbatch works there as on a real login node.
	SlurmConf string `json:"slurm_conf"`
	SSHD      SSHD   `json:"sshd"`
}

// Address is host:port for dialing.
func (h Host) Address() string { return net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)) }

// Munge is the rig's munged.
type Munge struct {
	Socket  string `json:"socket"`
	Key     string `json:"key"`
	PidFile string `json:"pid_file"`
	Log     string `json:"log"`
}

// MariaDB is the private database behind slurmdbd.
type MariaDB struct {
	Socket  string `json:"socket"`
	Port    int    `json:"port"`
	PidFile string `json:"pid_file"`
	Log     string `json:"log"`
}

// Slurmdbd is the accounting daemon of the "rig" cluster.
type Slurmdbd struct {
	Config  string `json:"config"`
	Port    int    `json:"port"`
	PidFile string `json:"pid_file"`
	Log     string `json:"log"`
}

// Partition is one Slurm partition.
type Partition struct {
	Name    string   `json:"name"`
	Nodes   []string `json:"nodes"`
	Default bool     `json:"default"`
}

// Cluster is one Slurm cluster of the rig. Slurm commands reach it with
// SLURM_CONF=SlurmConf (see Env), from this machine or from LoginHost over
// SSH.
type Cluster struct {
	Name      string `json:"name"`
	SlurmConf string `json:"slurm_conf"`
	// Accounting says whether slurmdbd backs the cluster: sacct works
	// only then ("Slurm accounting storage is disabled" otherwise).
	Accounting bool `json:"accounting"`
	// JobRequeue is the cluster's JobRequeue: jobs on a failed node come
	// back PENDING when true, end NODE_FAIL when false.
	JobRequeue       bool        `json:"job_requeue"`
	LoginHost        string      `json:"login_host"`
	CtldPort         int         `json:"ctld_port"`
	SlurmdPort       int         `json:"slurmd_port"`
	DefaultPartition string      `json:"default_partition"`
	Nodes            []string    `json:"nodes"`
	Partitions       []Partition `json:"partitions"`
	Slurmctld        Daemon      `json:"slurmctld"`
	// Slurmd maps node name to that node's slurmd for this cluster.
	Slurmd map[string]Daemon `json:"slurmd"`
}

// Env is os.Environ with SLURM_CONF pointing at the cluster.
func (c Cluster) Env() []string {
	return append(os.Environ(), "SLURM_CONF="+c.SlurmConf)
}

// Path is where rig.json is: $FLEET_RIG, else $FLEET_RIG_DIR/rig.json, else
// DefaultPath.
func Path() string {
	if p := os.Getenv("FLEET_RIG"); p != "" {
		return p
	}
	if d := os.Getenv("FLEET_RIG_DIR"); d != "" {
		return filepath.Join(d, "rig.json")
	}
	return DefaultPath
}

// Open reads rig.json at path and checks that the rig's daemons and
// namespaces are alive.
func Open(path string) (*Rig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rig description: %w", err)
	}
	var r Rig
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse rig description %s: %w", path, err)
	}
	if r.Version != 1 {
		return nil, fmt.Errorf("rig description %s: version %d, want 1", path, r.Version)
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Check reports the first part of the rig that is not running: a missing
// namespace or a dead sshd, slurmctld or slurmd. A daemon of a host that a
// fault helper holds (another test is breaking it on purpose, maybe in
// another package's test binary) does not count: its cleanup restores it.
func (r *Rig) Check() error {
	for _, h := range r.Hosts {
		if _, err := os.Stat(h.NetnsPath); err != nil {
			return fmt.Errorf("host %s: network namespace: %w", h.Name, err)
		}
		if !pidFileAlive(h.SSHD.PidFile) && !r.faultInProgress(h.Name) {
			return fmt.Errorf("host %s: sshd is not running (pid file %s)", h.Name, h.SSHD.PidFile)
		}
	}
	if !pidFileAlive(r.Munge.PidFile) {
		return fmt.Errorf("munged is not running (pid file %s)", r.Munge.PidFile)
	}
	for _, c := range r.Clusters {
		if !pidFileAlive(c.Slurmctld.PidFile) {
			return fmt.Errorf("cluster %s: slurmctld is not running (pid file %s)", c.Name, c.Slurmctld.PidFile)
		}
		for _, n := range c.Nodes {
			if !pidFileAlive(c.Slurmd[n].PidFile) && !r.faultInProgress(n) {
				return fmt.Errorf("cluster %s: slurmd on %s is not running (pid file %s)", c.Name, n, c.Slurmd[n].PidFile)
			}
		}
	}
	return nil
}

// Load returns the running rig or fails the test saying how to start it. In
// -short mode (the fast unit-test loop) it skips the test instead.
func Load(t testing.TB) *Rig {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the test rig; skipped in -short mode (the fast unit-test loop)")
	}
	if os.Geteuid() != 0 {
		t.Fatalf("test rig tests run as root (namespaces, daemons); %s as root", UpHint)
	}
	r, err := Open(Path())
	if err != nil {
		t.Fatalf("test rig not running: %s: %v", UpHint, err)
	}
	return r
}

// Host returns the named host or fails the test.
func (r *Rig) Host(t testing.TB, name string) Host {
	t.Helper()
	for _, h := range r.Hosts {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("test rig has no host %q", name)
	return Host{}
}

// HostsWithRole returns the hosts of one role, in rig.json order.
func (r *Rig) HostsWithRole(role string) []Host {
	var hs []Host
	for _, h := range r.Hosts {
		if h.Role == role {
			hs = append(hs, h)
		}
	}
	return hs
}

// GPUNodes are the hosts that are also the Slurm nodes (node1..node4).
func (r *Rig) GPUNodes() []Host { return r.HostsWithRole(RoleGPU) }

// Jump is the jump host (the private host's bastion, and the "rig" cluster's
// login host).
func (r *Rig) Jump(t testing.TB) Host {
	t.Helper()
	return r.onlyRole(t, RoleJump)
}

// Private is the host reachable only through the jump host.
func (r *Rig) Private(t testing.TB) Host {
	t.Helper()
	return r.onlyRole(t, RolePrivate)
}

func (r *Rig) onlyRole(t testing.TB, role string) Host {
	t.Helper()
	hs := r.HostsWithRole(role)
	if len(hs) != 1 {
		t.Fatalf("test rig has %d hosts with role %s, want 1", len(hs), role)
	}
	return hs[0]
}

// Cluster returns the named cluster or fails the test.
func (r *Rig) Cluster(t testing.TB, name string) Cluster {
	t.Helper()
	for _, c := range r.Clusters {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("test rig has no cluster %q", name)
	return Cluster{}
}

// AccountingCluster is the cluster with slurmdbd (sacct works).
func (r *Rig) AccountingCluster(t testing.TB) Cluster {
	t.Helper()
	return r.clusterWithAccounting(t, true)
}

// NoAccountingCluster is the cluster without accounting storage.
func (r *Rig) NoAccountingCluster(t testing.TB) Cluster {
	t.Helper()
	return r.clusterWithAccounting(t, false)
}

func (r *Rig) clusterWithAccounting(t testing.TB, acct bool) Cluster {
	t.Helper()
	for _, c := range r.Clusters {
		if c.Accounting == acct {
			return c
		}
	}
	t.Fatalf("test rig has no cluster with accounting=%v", acct)
	return Cluster{}
}

// faultInProgress says whether some test holds host's lock exclusively, as
// the fault helpers do while a fault lasts.
func (r *Rig) faultInProgress(host string) bool {
	f, err := os.Open(filepath.Join(r.StateDir, "locks", host+".lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	return errors.Is(err, syscall.EWOULDBLOCK)
}

// pidFileAlive says whether a pid file names a live process; a zombie
// counts as dead (its parent has yet to reap it).
func pidFileAlive(path string) bool {
	pid, err := readPidFile(path)
	if err != nil {
		return false
	}
	return pidAlive(pid)
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: bad pid %q", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

func pidAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself
	// hold spaces or parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	st := s[i+2]
	return st != 'Z' && st != 'X'
}

func signalPid(pid int, sig syscall.Signal) error {
	err := syscall.Kill(pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("send %v to pid %d: %w", sig, pid, err)
	}
	return nil
}

// OtherUser is the rig's unprivileged second user (fleetmallory).
type OtherUser struct {
	Name string `json:"name"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
}

// Other returns the rig's second user, failing the test when rig.json has
// none (a rig brought up before it existed: rerun up.sh).
func (r *Rig) Other(t testing.TB) OtherUser {
	t.Helper()
	if r.OtherUser.Name == "" || r.OtherUser.UID == 0 {
		t.Fatalf("rig.json names no unprivileged second user: %s", UpHint)
	}
	return r.OtherUser
}

// Plant makes path, owned by the rig's second user, as that user would:
// a file with data and mode, a directory (data nil, mode with
// fs.ModeDir), or a symbolic link to link (when link is set).
func (r *Rig) Plant(t testing.TB, path string, data []byte, mode os.FileMode, link string) {
	t.Helper()
	u := r.Other(t)
	var err error
	switch {
	case link != "":
		err = os.Symlink(link, path)
	case mode.IsDir():
		if err = os.Mkdir(path, mode.Perm()); err == nil {
			err = os.Chmod(path, mode.Perm())
		}
	default:
		if err = os.WriteFile(path, data, mode.Perm()); err == nil {
			err = os.Chmod(path, mode.Perm())
		}
	}
	if err == nil {
		err = os.Lchown(path, u.UID, u.GID)
	}
	if err != nil {
		t.Fatalf("plant %s as %s: %v", path, u.Name, err)
	}
}
