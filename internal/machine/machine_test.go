package machine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/slurm"
)

func TestCapacityIsOneRuleForNodesAndClusters(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Machine
		want int
	}{
		{"a node runs one job", Machine{GPUs: 8, Slots: 1}, 1},
		{"a node with no slots set still runs one", Machine{GPUs: 8}, 1},
		{"a packed node runs one job per GPU at most", Machine{GPUs: 8, Slots: 1, Packing: true}, 8},
		{"a cluster runs max_nodes jobs", Machine{GPUs: 8, Slots: 4}, 4},
	} {
		if got := tc.m.Capacity(); got != tc.want {
			t.Errorf("%s: capacity %d, want %d", tc.name, got, tc.want)
		}
	}
}

func inventory(t *testing.T, src string) *config.Inventory {
	t.Helper()
	p := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, diags := config.NewLoader(nil).Inventory(p, true)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return inv
}

func TestOpenBuildsMachinesFromTheInventory(t *testing.T) {
	inv := inventory(t, `
node "local" {
  gpu      = "h200"
  gpus     = 4
  packing  = true
  runtime  = "none"
  env      = { A = "1" }
  env_from = ["FLEET_TEST_TOKEN"]
}
cluster "hpc" {
  login         = "local"
  gpu           = "b200"
  gpus_per_node = 8
  max_nodes     = 3
}
`)
	env := map[string]string{"FLEET_TEST_TOKEN": "s3cret", "HOME": t.TempDir()}
	var slurmOpts slurm.Options
	o := Options{Getenv: func(k string) string { return env[k] }, SlurmOptions: func(so *slurm.Options) { slurmOpts = *so }}
	ms, err := OpenAll(context.Background(), inv, []string{"local", "hpc"}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll(ms)
	box, hpc := ms[0], ms[1]
	if box.Capacity() != 4 || box.Secrets["FLEET_TEST_TOKEN"] != "s3cret" || box.Env["A"] != "1" || box.Target.Name() != "local" {
		t.Errorf("box = %+v", box)
	}
	if hpc.Capacity() != 3 || hpc.GPU != "b200" || hpc.Target.Name() != "hpc" {
		t.Errorf("hpc = %+v", hpc)
	}
	// A cluster without workdir uses the login user's home.
	home, _ := os.UserHomeDir()
	if slurmOpts.WorkDir != filepath.Join(home, "fleet-work") {
		t.Errorf("cluster workdir %q, want %s/fleet-work", slurmOpts.WorkDir, home)
	}
}

func TestOpenSaysWhatIsMissing(t *testing.T) {
	inv := inventory(t, `
node "local" {
  gpu      = "h200"
  gpus     = 8
  env_from = ["FLEET_TEST_UNSET_TOKEN"]
}
`)
	o := Options{Getenv: func(string) string { return "" }}
	for _, tc := range []struct{ name, want string }{
		{"local", "FLEET_TEST_UNSET_TOKEN, not set in this environment: export it"},
		{"nope", `machine "nope" is not in the inventory`},
	} {
		_, err := Open(context.Background(), inv, tc.name, o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) = %v, want %q", tc.name, err, tc.want)
		}
	}
}
