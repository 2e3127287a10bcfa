package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/nodes"
	"github.com/fleetbench/fleet/internal/testrig"
)

// rigEnv is a hermetic environment: an empty home (no ~/.ssh) and no agent.
func rigEnv(t testing.TB) map[string]string {
	return map[string]string{"HOME": t.TempDir(), "SSH_AUTH_SOCK": ""}
}

func TestNodesCheckOnTheRig(t *testing.T) {
	r := testrig.Load(t)
	var names []string
	for _, h := range r.Hosts {
		names = append(names, h.Name)
	}
	busy := r.GPUNodes()[1].Name
	// Exclusive on the busy node (its fake GPU state changes), shared on
	// the rest.
	r.SetGPUBusy(t, busy, testrig.GPUProc{PID: 4242, MiB: 30000, GPU: 3})
	r.Share(t, names...)
	inv := rigInventory(t, r, "")

	t.Run("every node passes and the table says what each has", func(t *testing.T) {
		code, out, errOut := runFleet(t, rigEnv(t), "nodes", "check", "--inventory", inv, "--known-hosts", r.KnownHosts, "label:rig", "jump", "private1")
		if code != ExitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		for _, h := range r.Hosts {
			row := regexp.MustCompile(`(?m)^` + h.Name + `\s+ok\s+[0-9.]+ms\s+ok\s.*$`).FindString(out)
			if row == "" {
				t.Errorf("no passing row for %s in\n%s", h.Name, out)
				continue
			}
			if h.GPUs > 0 && !strings.Contains(row, fmt.Sprintf("%d x ", h.GPUs)) {
				t.Errorf("row %q lacks the GPU count %d", row, h.GPUs)
			}
			if h.GPUs > 0 && !strings.Contains(strings.ToLower(row), strings.ToLower(h.GPUType)) {
				t.Errorf("row %q lacks the GPU type %s", row, h.GPUType)
			}
		}
		if !strings.Contains(out, busy+": warning: GPUs in use: 3 (pids 4242)") {
			t.Errorf("no busy warning for %s in\n%s", busy, out)
		}
	})
	t.Run("JSON carries the same facts", func(t *testing.T) {
		code, out, errOut := runFleet(t, rigEnv(t), "nodes", "check", "--inventory", inv, "--known-hosts", r.KnownHosts, "--json", "label:rig")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var res []nodes.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		withGPUs := 0
		for _, h := range r.Hosts {
			if h.GPUs > 0 {
				withGPUs++
			}
		}
		if len(res) != withGPUs {
			t.Fatalf("%d results, want %d", len(res), withGPUs)
		}
		for _, x := range res {
			h := r.Host(t, x.Node)
			if !x.OK() || x.HostKey != nodes.HostKeyOK || x.GPUs != h.GPUs || !x.HFCacheOK || x.DiskFreeGiB <= 0 {
				t.Errorf("%s: %+v", x.Node, x)
			}
			wantBusy := 0
			if x.Node == busy {
				wantBusy = 1
			}
			if x.GPUsBusy != wantBusy {
				t.Errorf("%s: %d GPUs busy, want %d", x.Node, x.GPUsBusy, wantBusy)
			}
		}
	})
	t.Run("an unknown host key fails the check with exit 3", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "known_hosts")
		code, out, _ := runFleet(t, rigEnv(t), "nodes", "check", "--inventory", inv, "--known-hosts", empty, "node1")
		if code != ExitFailed {
			t.Fatalf("exit %d, want %d\n%s", code, ExitFailed, out)
		}
		if !regexp.MustCompile(`(?m)^node1\s+FAIL\s+-\s+unknown`).MatchString(out) || !strings.Contains(out, r.Host(t, "node1").Fingerprint) {
			t.Errorf("output lacks the unknown key and its fingerprint:\n%s", out)
		}
	})
	t.Run("a changed host key shows as CHANGED", func(t *testing.T) {
		code, out, _ := runFleet(t, rigEnv(t), "nodes", "check", "--inventory", inv, "--known-hosts", r.BadKnownHosts, r.BadKnownHostsHost)
		if code != ExitFailed || !regexp.MustCompile(`(?m)^`+r.BadKnownHostsHost+`\s+FAIL\s+-\s+CHANGED`).MatchString(out) {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("a missing runtime and a wrong GPU type fail the node", func(t *testing.T) {
		h := r.Host(t, "node1")
		extra := fmt.Sprintf("node \"wrong\" {\n  host = %q\n  user = %q\n  identity_file = %q\n  runtime = \"enroot\"\n  gpu = \"b200\"\n}\n", h.Addr, r.User, r.Keys.Private)
		code, out, _ := runFleet(t, rigEnv(t), "nodes", "check", "--inventory", rigInventory(t, r, extra), "--known-hosts", r.KnownHosts, "wrong", "node1")
		if code != ExitFailed {
			t.Fatalf("exit %d\n%s", code, out)
		}
		for _, want := range []string{"wrong: FAIL: runtime enroot not usable", `wrong: FAIL: GPU is "NVIDIA H200", the inventory says b200`} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if !regexp.MustCompile(`(?m)^node1\s+ok`).MatchString(out) {
			t.Errorf("node1 should still pass:\n%s", out)
		}
	})
	t.Run("an unreachable node fails fast, the others are still checked", func(t *testing.T) {
		extra := fmt.Sprintf("node \"ghost\" {\n  host = \"198.18.0.250\"\n  user = %q\n  identity_file = %q\n  runtime = \"none\"\n}\n", r.User, r.Keys.Private)
		code, out, _ := runFleet(t, rigEnv(t), "nodes", "check", "--inventory", rigInventory(t, r, extra), "--known-hosts", r.KnownHosts, "--connect-timeout", "2s", "ghost", "node1")
		if code != ExitFailed || !regexp.MustCompile(`(?m)^ghost\s+FAIL\s+unreachable`).MatchString(out) || !regexp.MustCompile(`(?m)^node1\s+ok`).MatchString(out) {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
}

func TestNodesListAndTrust(t *testing.T) {
	r := testrig.Load(t)
	r.Share(t, "node1", "jump", "private1")
	inv := rigInventory(t, r, "")

	code, out, errOut := runFleet(t, rigEnv(t), "nodes", "list", "--inventory", inv)
	if code != ExitOK {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	if !regexp.MustCompile(`(?m)^private1\s+198\.18\.0\.\d+\s+` + regexp.QuoteMeta(r.User) + `\s+jump\s+h200\s+8\s+rig,nvidia\s+none\s`).MatchString(out) {
		t.Errorf("list:\n%s", out)
	}

	env := rigEnv(t)
	kh := filepath.Join(env["HOME"], ".ssh", "known_hosts")
	// Trusting the private node needs the jump host trusted first.
	code, _, errOut = runFleet(t, env, "nodes", "trust", "--inventory", inv, "private1")
	if code != ExitError || !strings.Contains(errOut, "fleet nodes trust jump") {
		t.Fatalf("trust private1 before jump: exit %d: %s", code, errOut)
	}
	// Without a terminal nothing is added unless the key is pinned.
	code, _, errOut = runFleet(t, env, "nodes", "trust", "--inventory", inv, "node1")
	if code != ExitError || !strings.Contains(errOut, "--fingerprint "+r.Host(t, "node1").Fingerprint) {
		t.Fatalf("trust node1 without a fingerprint: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(kh); !os.IsNotExist(err) {
		t.Fatalf("known_hosts written by a refused trust (%v)", err)
	}
	code, _, errOut = runFleet(t, env, "nodes", "trust", "--inventory", inv, "node1", "--fingerprint", r.Host(t, "node2").Fingerprint)
	if code != ExitError || !strings.Contains(errOut, "not the expected") {
		t.Fatalf("trust node1 with node2's fingerprint: exit %d: %s", code, errOut)
	}
	args := []string{"nodes", "trust", "--inventory", inv, "jump", "private1", "node1"}
	for _, name := range []string{"jump", "private1", "node1"} {
		args = append(args, "--fingerprint", r.Host(t, name).Fingerprint)
	}
	code, out, errOut = runFleet(t, env, args...)
	if code != ExitOK {
		t.Fatalf("trust: exit %d: %s", code, errOut)
	}
	for _, name := range []string{"jump", "private1", "node1"} {
		want := fmt.Sprintf("%s: added ssh-ed25519 %s", name, r.Host(t, name).Fingerprint)
		if !strings.Contains(out, want) || !strings.Contains(out, kh) {
			t.Errorf("trust output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runFleet(t, env, "nodes", "trust", "--inventory", inv, "node1")
	if code != ExitOK || !strings.Contains(out, "node1: already trusted") {
		t.Errorf("second trust: exit %d\n%s", code, out)
	}
	// With the keys in ~/.ssh/known_hosts, check needs no flag.
	code, out, errOut = runFleet(t, env, "nodes", "check", "--inventory", inv, "private1")
	if code != ExitOK {
		t.Errorf("check after trust: exit %d\n%s%s", code, out, errOut)
	}
}

func TestExecOnTheRig(t *testing.T) {
	r := testrig.Load(t)
	var names []string
	for _, h := range r.GPUNodes() {
		names = append(names, h.Name)
	}
	r.Share(t, append(names, "jump", "private1")...)
	inv := rigInventory(t, r, "")

	t.Run("output is prefixed per node and every exit is 0", func(t *testing.T) {
		code, out, errOut := runFleet(t, rigEnv(t), "exec", "--inventory", inv, "--known-hosts", r.KnownHosts, "label:rig", "private1", "--", `echo "hello from $FLEET_RIG_NODE"; echo oops >&2`)
		if code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		for _, n := range append(names, "private1") {
			if !regexp.MustCompile(`(?m)^` + n + `\s*\| hello from ` + n + `$`).MatchString(out) {
				t.Errorf("no output line of %s:\n%s", n, out)
			}
			if !regexp.MustCompile(`(?m)^` + n + `\s*\| oops$`).MatchString(errOut) {
				t.Errorf("no stderr line of %s:\n%s", n, errOut)
			}
			if !regexp.MustCompile(`(?m)^` + n + `\s+0\s`).MatchString(out) {
				t.Errorf("no exit row of %s:\n%s", n, out)
			}
		}
	})
	t.Run("a command failing on one node makes exit 3 and shows its status", func(t *testing.T) {
		code, out, _ := runFleet(t, rigEnv(t), "exec", "--inventory", inv, "--known-hosts", r.KnownHosts, "node1", "node2", "--",
			`[ "$FLEET_RIG_NODE" = node2 ] && exit 5; true`)
		if code != ExitFailed {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if !regexp.MustCompile(`(?m)^node2\s+5\s`).MatchString(out) || !regexp.MustCompile(`(?m)^node1\s+0\s`).MatchString(out) {
			t.Errorf("table:\n%s", out)
		}
	})
	t.Run("words after -- are joined and run by the remote shell, like ssh", func(t *testing.T) {
		code, out, _ := runFleet(t, rigEnv(t), "exec", "--inventory", inv, "--known-hosts", r.KnownHosts, "node3", "--", "echo", "$FLEET_RIG_NODE", "says", "hi")
		if code != ExitOK || !regexp.MustCompile(`(?m)^node3 \| node3 says hi$`).MatchString(out) {
			t.Errorf("exit %d\n%s", code, out)
		}
	})
	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"exec", "--inventory", inv, "node1"},
			{"exec", "--inventory", inv, "--", "true"},
			{"exec", "--inventory", inv, "nosuchnode", "--", "true"},
		} {
			if code, _, errOut := runFleet(t, rigEnv(t), args...); code != ExitUsage {
				t.Errorf("%v: exit %d, want %d: %s", args, code, ExitUsage, errOut)
			}
		}
	})
}
