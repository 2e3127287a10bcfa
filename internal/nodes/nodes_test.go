package nodes

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/target/local"
)

func testInventory() *config.Inventory {
	return &config.Inventory{Nodes: []*config.Node{
		config.DefaultLocal(),
		{Name: "bastion", Host: "bastion.example.net", Port: 22, User: "ops", IdentityFile: "/keys/ops"},
		{Name: "inner", Host: "10.0.0.5", Port: 2200, User: "gate", Jump: []string{"bastion"}},
		{Name: "h200-1", Host: "10.0.1.21", Port: 22, User: "bench", GPU: "h200", GPUs: 8, Labels: []string{"nvidia", "hopper"}, Jump: []string{"inner"}},
		{Name: "h200-2", Host: "10.0.1.22", Port: 22, GPU: "h200", GPUs: 8, Labels: []string{"nvidia"}, Jump: []string{"root@gw.example.net:2222"}},
		{Name: "mi300x-1", Host: "10.0.2.1", Port: 22, GPU: "mi300x", GPUs: 8, Labels: []string{"amd"}},
	}}
}

func names(ns []*config.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}

func TestSelect(t *testing.T) {
	inv := testInventory()
	tests := []struct {
		specs   []string
		want    []string
		wantErr string
	}{
		{specs: []string{"h200-2", "bastion"}, want: []string{"bastion", "h200-2"}},
		{specs: []string{"all"}, want: []string{"local", "bastion", "inner", "h200-1", "h200-2", "mi300x-1"}},
		{specs: []string{"label:nvidia"}, want: []string{"h200-1", "h200-2"}},
		{specs: []string{"label:hopper", "label:amd"}, want: []string{"h200-1", "mi300x-1"}},
		{specs: []string{"label:H200"}, want: []string{"h200-1", "h200-2"}},
		{specs: []string{"h200-1", "label:nvidia"}, want: []string{"h200-1", "h200-2"}},
		{specs: []string{"h200-3"}, wantErr: "no node matches h200-3"},
		{specs: []string{"label:b200", "bastion"}, wantErr: "no node matches label:b200"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.specs, " "), func(t *testing.T) {
			got, err := Select(inv, tc.specs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names(got), tc.want) {
				t.Errorf("got %v, want %v", names(got), tc.want)
			}
		})
	}
}

func TestSSHConfigMapsNodesAndJumps(t *testing.T) {
	inv := testInventory()
	o := Options{KnownHosts: []string{"/kh"}, AgentSocket: "/agent", SSHConfigPath: "none"}

	t.Run("jump nodes chain, outermost first, with their own settings", func(t *testing.T) {
		c, err := SSHConfig(inv, inv.Node("h200-1"), o)
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != "h200-1" || c.Host != "10.0.1.21" || c.User != "bench" || c.Port != 22 {
			t.Errorf("target %+v", c)
		}
		var hops []string
		for _, j := range c.Jump {
			hops = append(hops, j.Name+"="+j.User+"@"+j.Host)
			if len(j.Jump) != 0 {
				t.Errorf("hop %s keeps nested jumps %v: the chain must be flat", j.Name, j.Jump)
			}
			if !reflect.DeepEqual(j.KnownHosts, []string{"/kh"}) || j.AgentSocket != "/agent" {
				t.Errorf("hop %s lacks the controller's options: %+v", j.Name, j)
			}
		}
		want := []string{"bastion=ops@bastion.example.net", "inner=gate@10.0.0.5"}
		if !reflect.DeepEqual(hops, want) {
			t.Errorf("hops %v, want %v", hops, want)
		}
		if !reflect.DeepEqual(c.Jump[0].IdentityFiles, []string{"/keys/ops"}) {
			t.Errorf("bastion identity %v", c.Jump[0].IdentityFiles)
		}
	})
	t.Run("an address jump is parsed", func(t *testing.T) {
		c, err := SSHConfig(inv, inv.Node("h200-2"), o)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Jump) != 1 || c.Jump[0].User != "root" || c.Jump[0].Host != "gw.example.net" || c.Jump[0].Port != 2222 {
			t.Errorf("jump %+v", c.Jump)
		}
	})
	t.Run("the local node has no SSH config", func(t *testing.T) {
		if _, err := SSHConfig(inv, inv.Node("local"), o); err == nil {
			t.Fatal("want an error")
		}
	})
	t.Run("a jump loop is an error", func(t *testing.T) {
		loop := &config.Inventory{Nodes: []*config.Node{
			{Name: "a", Host: "a", Jump: []string{"b"}},
			{Name: "b", Host: "b", Jump: []string{"a"}},
		}}
		if _, err := SSHConfig(loop, loop.Nodes[0], o); err == nil || !strings.Contains(err.Error(), "lead back") {
			t.Fatalf("err = %v", err)
		}
	})
}

// Outputs of the rig's fake nvidia-smi and rocm-smi (same formats as the
// real tools) with the probe's section headers.
const (
	nvidiaBusy = `@@uname
Linux x86_64
@@nvidia
0, NVIDIA H200, GPU-aaa
1, NVIDIA H200, GPU-bbb
2, NVIDIA H200, GPU-ccc
3, NVIDIA H200, GPU-ddd
@@nvidia.rc
0
@@nvidia-apps
4242, GPU-ddd
4243, GPU-ddd
777, GPU-bbb
@@runtime
24.0.7
@@runtime.rc
0
@@df
/data/fleet
Filesystem 1024-blocks Used Available Capacity Mounted on
/dev/nvme0n1 1000000000 200000000 800000000 20% /data
@@hf
/data/hf
yes
`
	rocmIdle = `@@uname
Linux x86_64
@@rocm
{"card0": {"Card Series": "AMD Instinct MI300X OAM", "GPU use (%)": "0"}, "card1": {"Card Series": "AMD Instinct MI300X OAM", "GPU use (%)": "100"}}

@@rocm-pids
{"card0": {}, "card1": {}, "system": {"PID99": "python3, 1, 1073741824, 0, 0"}}

@@runtime
enroot: command not found
@@runtime.rc
127
@@df
/tmp
/dev/vda 1000 900 100 90% /
@@hf
/root/.cache/huggingface
no
`
)

func TestInterpretProbeOutput(t *testing.T) {
	tests := []struct {
		name     string
		node     *config.Node
		out      string
		check    func(t *testing.T, r *Result)
		problems []string
		warnings []string
	}{
		{
			name: "nvidia node with busy GPUs passes with a warning",
			node: &config.Node{Name: "n", GPU: "h200", GPUs: 4, Runtime: "docker", WorkDir: "/data/fleet"},
			out:  nvidiaBusy,
			check: func(t *testing.T, r *Result) {
				if r.GPUs != 4 || r.GPUType != "NVIDIA H200" || r.GPUsBusy != 2 || !reflect.DeepEqual(r.BusyPIDs, []int{4242, 4243, 777}) {
					t.Errorf("gpus %d %q busy %d pids %v", r.GPUs, r.GPUType, r.GPUsBusy, r.BusyPIDs)
				}
				if !r.RuntimeOK || !r.HFCacheOK || int(r.DiskFreeGiB) != 762 {
					t.Errorf("runtime %v hf %v disk %.1f", r.RuntimeOK, r.HFCacheOK, r.DiskFreeGiB)
				}
			},
			warnings: []string{"GPUs in use: 1,3 (pids 4242,4243,777)"},
		},
		{
			name:     "fewer GPUs than the inventory says fails",
			node:     &config.Node{Name: "n", GPU: "h200", GPUs: 8, Runtime: "docker", WorkDir: "/data/fleet"},
			out:      nvidiaBusy,
			problems: []string{"found 4 GPUs, the inventory says 8"},
			warnings: []string{"GPUs in use: 1,3 (pids 4242,4243,777)"},
		},
		{
			name:     "amd node without its runtime fails",
			node:     &config.Node{Name: "m", GPU: "mi300x", GPUs: 2, Runtime: "enroot", WorkDir: "/tmp/fleet"},
			out:      rocmIdle,
			problems: []string{"runtime enroot not usable: enroot: command not found"},
			warnings: []string{
				"GPUs in use: 1 (pids 99)",
				"work dir /tmp/fleet does not exist yet (free space is that of /tmp)",
				"only 0.0 GiB free in /tmp/fleet",
				"no Hugging Face cache at /root/.cache/huggingface: models download on first use",
			},
			check: func(t *testing.T, r *Result) {
				if r.GPUs != 2 || r.GPUType != "AMD Instinct MI300X OAM" || r.GPUsBusy != 1 {
					t.Errorf("gpus %d %q busy %d", r.GPUs, r.GPUType, r.GPUsBusy)
				}
			},
		},
		{
			name:     "the wrong GPU type fails",
			node:     &config.Node{Name: "n", GPU: "b200", GPUs: 4, Runtime: "docker", WorkDir: "/data/fleet"},
			out:      nvidiaBusy,
			problems: []string{`GPU is "NVIDIA H200", the inventory says b200`},
			warnings: []string{"GPUs in use: 1,3 (pids 4242,4243,777)"},
		},
		{
			name:     "no GPU tool on a GPU node fails",
			node:     &config.Node{Name: "n", GPU: "h100", GPUs: 8, Runtime: "none", WorkDir: "/data/fleet"},
			out:      "@@runtime\n@@runtime.rc\n0\n@@df\n/data/fleet\nfs 1 1 104857600 1% /\n@@hf\n/h\nyes\n",
			problems: []string{"no GPUs found (neither nvidia-smi nor rocm-smi answered)"},
		},
		{
			name: "a work dir another user owns, or others may write, fails",
			node: &config.Node{Name: "bastion", Runtime: "none", WorkDir: "/w"},
			out:  "@@runtime\n@@runtime.rc\n0\n@@df\n/w\nfs 1 1 104857600 1% /\n@@hf\n/h\nyes\n@@workdir\n1000\n1001 1777 mallory\n",
			problems: []string{
				"work dir /w is owned by mallory (uid 1001), not by the connecting user (uid 1000): fleet will refuse it; remove it or set workdir to a directory only you can write",
				"work dir /w is writable by its group or others (mode 1777): fleet will refuse it; chmod go-w it if you trust what it holds, or remove it",
			},
		},
		{
			name: "a private work dir of the connecting user passes",
			node: &config.Node{Name: "bastion", Runtime: "none", WorkDir: "/w"},
			out:  "@@runtime\n@@runtime.rc\n0\n@@df\n/w\nfs 1 1 104857600 1% /\n@@hf\n/h\nyes\n@@workdir\n1000\n1000 700 bench\n",
		},
		{
			name: "a relay node needs no GPUs",
			node: &config.Node{Name: "bastion", Runtime: "none", WorkDir: "/w"},
			out:  "@@runtime\n@@runtime.rc\n0\n@@df\n/w\nfs 1 1 104857600 1% /\n@@hf\n/h\nyes\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Result{Node: tc.node.Name, WorkDir: tc.node.WorkDir}
			r.interpret(tc.node, parseSections(tc.out))
			if !reflect.DeepEqual(r.Problems, tc.problems) {
				t.Errorf("problems %q, want %q", r.Problems, tc.problems)
			}
			if !reflect.DeepEqual(r.Warnings, tc.warnings) {
				t.Errorf("warnings %q, want %q", r.Warnings, tc.warnings)
			}
			if tc.check != nil {
				tc.check(t, &r)
			}
		})
	}
}

// The probe script itself, run by this machine's shell: it must be valid
// sh and produce the sections the parser reads.
func TestProbeScriptRunsOnThisMachine(t *testing.T) {
	n := &config.Node{Name: "local", GPU: config.LocalGPU, GPUs: 8, Runtime: "none", WorkDir: t.TempDir(), HFCache: t.TempDir() + "/missing dir"}
	r := Check(context.Background(), local.New("local"), n)
	if !r.OK() || !r.Reachable || !r.RuntimeOK || r.DiskFreeGiB <= 0 || r.HFCacheOK {
		t.Fatalf("%+v", r)
	}
	if r.HFCache != n.HFCache {
		t.Errorf("hf cache %q, want %q", r.HFCache, n.HFCache)
	}
	os.Chmod(n.WorkDir, 0o777)
	if r := Check(context.Background(), local.New("local"), n); r.OK() || !strings.Contains(strings.Join(r.Problems, "\n"), "writable by its group or others (mode 777)") {
		t.Errorf("a world-writable work dir passed: %q", r.Problems)
	}
}
