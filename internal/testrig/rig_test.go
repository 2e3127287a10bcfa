package testrig_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/testrig"
)

// sshTimeout bounds one ssh call; connection attempts that are meant to
// fail use a 2 s ConnectTimeout so the fault tests stay short.
const sshTimeout = 60 * time.Second

var quickFail = []string{"-o", "ConnectTimeout=2", "-o", "ConnectionAttempts=1"}

// ssh runs remote on host through the rig's ssh_config and returns the
// combined output.
func ssh(t *testing.T, r *testrig.Rig, host string, opts []string, remote string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), sshTimeout)
	defer cancel()
	cmd := r.SSHCommand(ctx, host, opts, remote)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sshAddr runs remote on h with explicit client options and no config
// file: what a user's plain `ssh -i KEY root@ADDR` does with the rig's
// known_hosts and strict checking.
func sshAddr(t *testing.T, r *testrig.Rig, h testrig.Host, knownHosts, remote string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), sshTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-F", "/dev/null",
		"-i", r.Keys.Private, "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile="+knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
		"-p", strconv.Itoa(h.Port), r.User+"@"+h.Addr, remote)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestLoadSkipsOnlyInShortMode(t *testing.T) {
	if testing.Short() {
		t.Skip("documents the -short behaviour; runs in the full suite")
	}
	r := testrig.Load(t)
	if got := len(r.GPUNodes()); got != 4 {
		t.Fatalf("GPU nodes: got %d, want 4", got)
	}
}

func TestHostKeysMatchDescription(t *testing.T) {
	r := testrig.Load(t)
	for _, h := range r.Hosts {
		t.Run(h.Name+" fingerprint is its host key's", func(t *testing.T) {
			out, err := exec.CommandContext(t.Context(), "ssh-keygen", "-l", "-E", "sha256", "-f", h.HostKey).Output()
			if err != nil {
				t.Fatalf("ssh-keygen -l %s: %v", h.HostKey, err)
			}
			if f := strings.Fields(string(out)); len(f) < 2 || f[1] != h.Fingerprint {
				t.Fatalf("fingerprint: rig.json says %s, key file says %q", h.Fingerprint, out)
			}
		})
	}
}

func TestSSHReachesEveryHostWithStrictHostKeys(t *testing.T) {
	r := testrig.Load(t)
	for _, h := range r.Hosts {
		r.Share(t, h.Name)
	}
	for _, h := range r.Hosts {
		t.Run(h.Name+" answers as itself with its GPUs", func(t *testing.T) {
			remote := `hostname; echo "node=$FLEET_RIG_NODE work=$FLEET_RIG_WORK"; ` +
				`if command -v nvidia-smi >/dev/null; then nvidia-smi -L; fi; ` +
				`if command -v rocm-smi >/dev/null; then rocm-smi --showproductname; fi`
			var out string
			var err error
			if h.Role == testrig.RolePrivate {
				out, err = ssh(t, r, h.Name, nil, remote) // ProxyJump from ssh_config
			} else {
				out, err = sshAddr(t, r, h, r.KnownHosts, remote)
			}
			if err != nil {
				t.Fatalf("ssh %s: %v\n%s", h.Name, err, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if lines[0] != h.Name {
				t.Errorf("hostname: got %q, want %q", lines[0], h.Name)
			}
			if want := fmt.Sprintf("node=%s work=%s", h.Name, h.WorkDir); !strings.Contains(out, want) {
				t.Errorf("environment: want %q in\n%s", want, out)
			}
			var gpuLine *regexp.Regexp
			switch h.GPUPlatform {
			case "nvidia":
				gpuLine = regexp.MustCompile(`(?m)^GPU \d: NVIDIA ` + regexp.QuoteMeta(h.GPUType) + ` \(UUID: GPU-[0-9a-f-]{36}\)$`)
			case "amd":
				gpuLine = regexp.MustCompile(`(?m)^GPU\[\d\]\s+: Card Series: AMD Instinct ` + regexp.QuoteMeta(h.GPUType))
			default:
				if strings.Contains(out, "GPU") {
					t.Errorf("host without GPUs shows GPU tools:\n%s", out)
				}
				return
			}
			if got := len(gpuLine.FindAllString(out, -1)); got != h.GPUs {
				t.Errorf("GPUs listed: got %d, want %d, in\n%s", got, h.GPUs, out)
			}
		})
	}
}

func TestPrivateHostIsReachableOnlyThroughTheJumpHost(t *testing.T) {
	r := testrig.Load(t)
	p := r.Private(t)
	r.Share(t, p.Name, p.ProxyJump)
	out, err := ssh(t, r, p.Name, append([]string{"-o", "ProxyJump=none"}, quickFail...), "hostname")
	if err == nil {
		t.Fatalf("direct ssh to %s succeeded; the firewall should drop it:\n%s", p.Name, out)
	}
	if !strings.Contains(out, "timed out") {
		t.Errorf("direct ssh to %s: want a time-out, got: %s", p.Name, out)
	}
	out, err = ssh(t, r, p.Name, nil, "hostname")
	if err != nil || strings.TrimSpace(out) != p.Name {
		t.Fatalf("ssh through %s: %v: %q", p.ProxyJump, err, out)
	}
}

func TestKnownHostsFiles(t *testing.T) {
	r := testrig.Load(t)
	bad := r.Host(t, r.BadKnownHostsHost)
	good := r.GPUNodes()[0]
	if good.Name == bad.Name {
		good = r.GPUNodes()[1]
	}
	r.Share(t, bad.Name, good.Name)
	tests := []struct {
		name       string
		host       testrig.Host
		knownHosts string
		wantErr    string
	}{
		{"the good file accepts the host with the wrong key elsewhere", bad, r.KnownHosts, ""},
		{"the bad file refuses the host whose key changed", bad, r.BadKnownHosts, "REMOTE HOST IDENTIFICATION HAS CHANGED"},
		{"the bad file still accepts the other hosts", good, r.BadKnownHosts, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := sshAddr(t, r, tc.host, tc.knownHosts, "hostname")
			if tc.wantErr == "" {
				if err != nil || strings.TrimSpace(out) != tc.host.Name {
					t.Fatalf("ssh %s: %v: %q", tc.host.Name, err, out)
				}
				return
			}
			if err == nil || !strings.Contains(out, tc.wantErr) {
				t.Fatalf("ssh %s: want failure with %q, got err=%v:\n%s", tc.host.Name, tc.wantErr, err, out)
			}
		})
	}
}

func TestPassphraseKeyWorksThroughAnAgent(t *testing.T) {
	r := testrig.Load(t)
	pub, err := os.ReadFile(r.Keys.PassphrasePublic)
	if err != nil {
		t.Fatal(err)
	}
	derived, err := exec.CommandContext(t.Context(), "ssh-keygen", "-y", "-P", r.Keys.Passphrase, "-f", r.Keys.PassphrasePrivate).Output()
	if err != nil {
		t.Fatalf("the recorded passphrase does not open %s: %v", r.Keys.PassphrasePrivate, err)
	}
	if f1, f2 := strings.Fields(string(derived)), strings.Fields(string(pub)); f1[1] != f2[1] {
		t.Fatalf("private key %s does not match %s", r.Keys.PassphrasePrivate, r.Keys.PassphrasePublic)
	}
	if err := exec.CommandContext(t.Context(), "ssh-keygen", "-y", "-P", "wrong", "-f", r.Keys.PassphrasePrivate).Run(); err == nil {
		t.Fatalf("key %s opens with a wrong passphrase: it is not protected", r.Keys.PassphrasePrivate)
	}

	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.CommandContext(t.Context(), "ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatalf("start ssh-agent: %v", err)
	}
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	askpass := filepath.Join(dir, "askpass")
	// The passphrase reaches ssh-add through a file, never argv.
	if err := os.WriteFile(filepath.Join(dir, "pass"), []byte(r.Keys.Passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\ncat "+filepath.Join(dir, "pass")+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	add := exec.CommandContext(t.Context(), "ssh-add", r.Keys.PassphrasePrivate)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add %s: %v\n%s", r.Keys.PassphrasePrivate, err, out)
	}
	h := r.GPUNodes()[0]
	r.Share(t, h.Name)
	ctx, cancel := context.WithTimeout(t.Context(), sshTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh", "-F", "/dev/null", "-o", "IdentityAgent="+sock,
		"-o", "IdentityFile=/dev/null", "-o", "UserKnownHostsFile="+r.KnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", r.User+"@"+h.Addr, "hostname").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != h.Name {
		t.Fatalf("ssh %s with the agent's key: %v: %s", h.Name, err, out)
	}
}

var jobID = regexp.MustCompile(`^(\d+)(;\S+)?$`)

// submit runs sbatch on cluster from this machine and returns the job id.
func submit(t *testing.T, r *testrig.Rig, cluster string, args ...string) string {
	t.Helper()
	out, err := r.Slurm(t, cluster, append([]string{"sbatch", "--parsable"}, args...)...)
	if err != nil {
		t.Fatalf("sbatch on %s: %v", cluster, err)
	}
	m := jobID.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		t.Fatalf("sbatch on %s printed %q, want a job id", cluster, out)
	}
	return m[1]
}

// waitJob polls squeue until the job leaves the queue's live states and
// returns its final state.
func waitJob(t *testing.T, r *testrig.Rig, cluster, id string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := r.Slurm(t, cluster, "squeue", "-h", "-t", "all", "-j", id, "-o", "%T")
		if err != nil {
			t.Fatalf("squeue %s on %s: %v", id, cluster, err)
		}
		switch st := strings.TrimSpace(out); st {
		case "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "":
		default:
			return st
		}
		if time.Now().After(deadline) {
			info, _ := r.Slurm(t, cluster, "scontrol", "show", "job", id)
			t.Fatalf("job %s on %s did not finish in 90 s:\n%s", id, cluster, info)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestSlurmJobsRunWithGPUsOnBothClusters(t *testing.T) {
	r := testrig.Load(t)
	for _, c := range r.Clusters {
		// Another package's test may be failing a node on purpose.
		r.Share(t, c.Nodes...)
		t.Run(c.Name+" runs a job with 2 GPUs", func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "job.out")
			id := submit(t, r, c.Name, "--gres=gpu:2", "-o", out,
				"--wrap", `echo "CVD=$CUDA_VISIBLE_DEVICES NODE=$FLEET_RIG_NODE HOST=$(hostname)"; command -v nvidia-smi rocm-smi`)
			if st := waitJob(t, r, c.Name, id); st != "COMPLETED" {
				t.Fatalf("job %s ended %s, want COMPLETED", id, st)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("job output: %v", err)
			}
			m := regexp.MustCompile(`CVD=(\d+),(\d+) NODE=(node\d) HOST=(node\d)`).FindStringSubmatch(string(b))
			if m == nil {
				t.Fatalf("job output lacks two GPU indices and the node's name:\n%s", b)
			}
			if m[1] == m[2] || m[3] != m[4] {
				t.Errorf("job output: GPUs %s,%s (want distinct), node %s on host %s:\n%s", m[1], m[2], m[3], m[4], b)
			}
			if !strings.Contains(string(b), filepath.Join(r.StateDir, "nodes", m[3], "bin")) {
				t.Errorf("job's PATH lacks the node's fake GPU tools:\n%s", b)
			}
		})
		t.Run(c.Name+" answers sacct as its accounting says", func(t *testing.T) {
			id := submit(t, r, c.Name, "-o", "/dev/null", "--wrap", "exit 3")
			if st := waitJob(t, r, c.Name, id); st != "FAILED" {
				t.Fatalf("job %s ended %s, want FAILED", id, st)
			}
			if !c.Accounting {
				out, err := r.Slurm(t, c.Name, "sacct", "-j", id, "-P", "-n", "-o", "JobID,State,ExitCode")
				if err == nil || !strings.Contains(out, "accounting storage is disabled") {
					t.Fatalf("sacct on %s: want 'accounting storage is disabled', got err=%v: %s", c.Name, err, out)
				}
				return
			}
			// The controller hands the record to slurmdbd asynchronously.
			want := id + "|FAILED|3:0"
			deadline := time.Now().Add(60 * time.Second)
			for {
				out, err := r.Slurm(t, c.Name, "sacct", "-j", id, "-P", "-n", "-o", "JobID,State,ExitCode")
				if err == nil && strings.Contains(out, want) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("sacct on %s: want %q, got err=%v: %s", c.Name, want, err, out)
				}
				time.Sleep(300 * time.Millisecond)
			}
		})
	}
}

func TestLoginHostsSubmitOverSSH(t *testing.T) {
	r := testrig.Load(t)
	for _, c := range r.Clusters {
		t.Run(c.Name+" accepts sbatch on "+c.LoginHost, func(t *testing.T) {
			r.Share(t, append([]string{c.LoginHost}, c.Nodes...)...)
			dir := t.TempDir() // shared filesystem: the nodes write here too
			out, err := ssh(t, r, c.LoginHost, nil,
				"cd "+dir+" && echo \"$SLURM_CONF\" && sbatch --parsable -o "+dir+"/out --wrap hostname")
			if err != nil {
				t.Fatalf("sbatch on %s: %v\n%s", c.LoginHost, err, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 || lines[0] != c.SlurmConf {
				t.Fatalf("login host %s: want SLURM_CONF %s and a job id, got:\n%s", c.LoginHost, c.SlurmConf, out)
			}
			m := jobID.FindStringSubmatch(lines[1])
			if m == nil {
				t.Fatalf("sbatch printed %q", lines[1])
			}
			if st := waitJob(t, r, c.Name, m[1]); st != "COMPLETED" {
				t.Fatalf("job %s ended %s", m[1], st)
			}
		})
	}
}

// Pids above Linux's PID_MAX_LIMIT (4194304) can belong to no process, so a
// cleanup script under test that kills "GPU processes" cannot hit a real one.
const (
	fakePID1 = 4194401
	fakePID2 = 4194402
)

func TestFakeGPUTools(t *testing.T) {
	r := testrig.Load(t)
	// node3: the host the rig's own tests may disturb (see the README).
	nv := r.Host(t, "node3")
	r.SetGPUBusy(t, nv.Name, testrig.GPUProc{PID: fakePID1, MiB: 70000, GPU: 1}, testrig.GPUProc{PID: fakePID2, MiB: 1000, GPU: 1})
	var amd testrig.Host
	for _, h := range r.GPUNodes() {
		if h.GPUPlatform == "amd" {
			amd = h
		}
	}
	if amd.Name == "" {
		t.Fatal("test rig has no AMD node")
	}
	free := nv.GPUMemoryMiB - 71000
	tests := []struct {
		name, host, cmd, want string
	}{
		{"nvidia-smi lists busy pids", nv.Name,
			"nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader",
			fmt.Sprintf("%d, 70000 MiB\n%d, 1000 MiB\n", fakePID1, fakePID2)},
		{"nvidia-smi reports memory and use per GPU", nv.Name,
			"nvidia-smi --query-gpu=index,name,memory.total,memory.used,utilization.gpu --format=csv,noheader,nounits -i 0,1",
			fmt.Sprintf("0, NVIDIA %[1]s, %[2]d, 0, 0\n1, NVIDIA %[1]s, %[2]d, 71000, 100\n", nv.GPUType, nv.GPUMemoryMiB)},
		{"nvidia-smi prints a header unless told not to", nv.Name,
			"nvidia-smi --query-gpu=index,memory.free --format=csv -i 1",
			fmt.Sprintf("index, memory.free [MiB]\n1, %d MiB\n", free)},
		{"nvidia-smi rejects unknown fields", nv.Name,
			"nvidia-smi --query-gpu=bogus --format=csv; echo rc=$?",
			"Field \"bogus\" is not a valid field to query.\nrc=2\n"},
		{"rocm-smi names the product", amd.Name,
			"rocm-smi --showproductname -d 0 | grep 'Card Series'",
			"GPU[0]\t\t: Card Series: AMD Instinct " + amd.GPUType + " OAM\n"},
		{"rocm-smi reports use", amd.Name,
			"rocm-smi --showuse | grep -c 'GPU use (%): 0'",
			fmt.Sprintf("%d\n", amd.GPUs)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ssh(t, r, tc.host, nil, tc.cmd)
			if err != nil {
				t.Fatalf("ssh %s %q: %v\n%s", tc.host, tc.cmd, err, out)
			}
			if out != tc.want {
				t.Fatalf("%s: got\n%q\nwant\n%q", tc.cmd, out, tc.want)
			}
		})
	}
}

func TestFaultsBreakAndRestoreHosts(t *testing.T) {
	r := testrig.Load(t)
	const victim = "node3"
	h := r.Host(t, victim)
	reachable := func(t *testing.T) {
		t.Helper()
		out, err := ssh(t, r, victim, nil, "hostname")
		if err != nil || strings.TrimSpace(out) != victim {
			t.Fatalf("ssh %s after restore: %v: %q", victim, err, out)
		}
	}
	tests := []struct {
		name    string
		fault   func(t *testing.T)
		restore func(t *testing.T)
		wantErr string
	}{
		{"a pulled link times connections out", func(t *testing.T) { r.LinkDown(t, victim) },
			func(t *testing.T) { r.LinkUp(t, victim) }, "timed out"},
		{"a dead sshd refuses connections", func(t *testing.T) { r.KillSSHD(t, victim) },
			func(t *testing.T) { r.StartSSHD(t, victim) }, "Connection refused"},
		{"a dropping firewall times connections out", func(t *testing.T) { r.FirewallDrop(t, victim) },
			func(t *testing.T) { r.FirewallClear(t, victim) }, "timed out"},
		{"a resetting firewall refuses connections", func(t *testing.T) { r.FirewallReset(t, victim) },
			func(t *testing.T) { r.FirewallClear(t, victim) }, "Connection refused"},
		{"a frozen sshd times out the banner", func(t *testing.T) { r.FreezeSSHD(t, victim) },
			nil, "banner exchange"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("broken", func(t *testing.T) {
				tc.fault(t)
				out, err := ssh(t, r, victim, quickFail, "hostname")
				if err == nil || !strings.Contains(out, tc.wantErr) {
					t.Fatalf("ssh %s: want failure with %q, got err=%v: %s", victim, tc.wantErr, err, out)
				}
				if tc.restore != nil {
					tc.restore(t)
					reachable(t)
				}
			})
			// The fault's own cleanup must restore the host too.
			reachable(t)
		})
	}

	t.Run("Exec runs inside the host's namespace", func(t *testing.T) {
		out, err := r.Exec(t, victim, "ip -o -4 addr show dev eth0; ip route; ss -Hltn")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, " "+h.Addr+"/") || !strings.Contains(out, h.Address()) {
			t.Errorf("want the address %s and sshd listening on %s in:\n%s", h.Addr, h.Address(), out)
		}
		if strings.Contains(out, "default") {
			t.Errorf("the namespace must have no default route:\n%s", out)
		}
		if _, err := r.Exec(t, victim, "exit 7"); err == nil {
			t.Errorf("Exec of a failing command returned no error")
		}
	})
}

func TestSlurmdStopAndRestore(t *testing.T) {
	r := testrig.Load(t)
	c := r.NoAccountingCluster(t)
	const node = "node4"
	t.Run("stopped", func(t *testing.T) {
		r.StopSlurmd(t, c.Name, node)
		if _, err := r.Exec(t, node, fmt.Sprintf("ss -Hltn 'sport = :%d' | grep -q .", c.SlurmdPort)); err == nil {
			t.Fatalf("slurmd of %s still listens on %s after StopSlurmd", c.Name, node)
		}
	})
	// Cleanup restarted and resumed the node: it runs jobs again.
	if st := r.WaitNodeState(t, c.Name, node, 60*time.Second, "idle", "mixed"); st == "" {
		t.Fatal("no state")
	}
	id := submit(t, r, c.Name, "-w", node, "-o", "/dev/null", "--wrap", "true")
	if st := waitJob(t, r, c.Name, id); st != "COMPLETED" {
		t.Fatalf("job on restored %s ended %s", node, st)
	}
}
