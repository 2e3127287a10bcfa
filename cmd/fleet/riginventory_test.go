package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/testrig"
)

// rigNodeOpts says how rigNodeBlock writes a rig host's node block
// beyond what every rig node has.
type rigNodeOpts struct {
	// labels are a GPU host's labels; nil: "rig" (what the rig sweeps'
	// runner "rig" selects) and the host's GPU platform.
	labels []string
	// lines are more attribute lines for every block, written as given
	// after the runtime, such as `env_from = ["HF_TOKEN"]`.
	lines []string
}

// rigNodeBlock is rig host h as an inventory node: reached over SSH with
// the rig's user and key (through its jump host if it has one), running
// jobs without a container runtime in its own work directory, which is
// its HF cache too; a GPU host with its GPU type, count and labels.
func rigNodeBlock(r *testrig.Rig, h testrig.Host, o rigNodeOpts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "node %q {\n  host = %q\n  port = %d\n  user = %q\n  identity_file = %q\n  runtime = \"none\"\n",
		h.Name, h.Addr, h.Port, r.User, r.Keys.Private)
	for _, l := range o.lines {
		b.WriteString("  " + l + "\n")
	}
	fmt.Fprintf(&b, "  workdir = %q\n  hf_cache = %q\n", h.WorkDir, h.WorkDir)
	if h.GPUs > 0 {
		labels := o.labels
		if labels == nil {
			labels = []string{"rig", h.GPUPlatform}
		}
		quoted := make([]string, len(labels))
		for i, l := range labels {
			quoted[i] = fmt.Sprintf("%q", l)
		}
		fmt.Fprintf(&b, "  gpu = %q\n  gpus = %d\n  labels = [%s]\n", strings.ToLower(h.GPUType), h.GPUs, strings.Join(quoted, ", "))
	}
	if h.ProxyJump != "" {
		fmt.Fprintf(&b, "  jump = %q\n", h.ProxyJump)
	}
	b.WriteString("}\n")
	return b.String()
}

// writeInventory writes blocks, one after the other, as an inventory file
// in a temporary directory of t and returns its path.
func writeInventory(t testing.TB, blocks ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := os.WriteFile(p, []byte(strings.Join(blocks, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rigInventory writes an inventory of the rig's SSH hosts: node1..node4
// labelled "rig", the jump host (no GPUs) and the private host behind it.
// extra is appended verbatim (more node blocks).
func rigInventory(t testing.TB, r *testrig.Rig, extra string) string {
	t.Helper()
	return rigInventoryWith(t, r, rigNodeOpts{}, extra)
}

// rigInventoryWith is rigInventory with every host's block written as o
// says.
func rigInventoryWith(t testing.TB, r *testrig.Rig, o rigNodeOpts, extra string) string {
	t.Helper()
	var blocks []string
	for _, h := range r.Hosts {
		blocks = append(blocks, rigNodeBlock(r, h, o))
	}
	return writeInventory(t, append(blocks, extra)...)
}
