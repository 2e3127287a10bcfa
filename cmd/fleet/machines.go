package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/engine"
	"github.com/fleetbench/fleet/internal/nodes"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/local"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// buildMachines makes an engine machine, with its target, for every
// inventory machine named in names.
func (a *App) buildMachines(ctx context.Context, inv *config.Inventory, names []string) ([]*engine.Machine, error) {
	var out []*engine.Machine
	for _, name := range names {
		cm, ok := inv.Machine(name)
		if !ok {
			return nil, fmt.Errorf("machine %q is not in the inventory", name)
		}
		m := &engine.Machine{Name: cm.Name, GPU: cm.GPU, GPUs: cm.GPUs, Packing: cm.Packing}
		var envFrom []string
		switch {
		case cm.Node != nil:
			n := cm.Node
			m.Runtime, m.HFCache, m.Env, envFrom = n.Runtime, n.HFCache, n.Env, n.EnvFrom
			t, err := a.nodeTarget(ctx, inv, n)
			if err != nil {
				closeMachines(out)
				return nil, err
			}
			m.Target = t
		case cm.Cluster != nil:
			c := cm.Cluster
			m.Slots, m.HFCache, m.Env, envFrom = max(c.MaxNodes, 1), c.HFCache, c.Env, c.EnvFrom
			t, err := a.clusterTarget(ctx, inv, c)
			if err != nil {
				closeMachines(out)
				return nil, err
			}
			m.Target = t
		}
		secrets, err := a.secrets(name, envFrom)
		if err != nil {
			closeMachines(out)
			return nil, err
		}
		m.Secrets = secrets
		out = append(out, m)
	}
	return out, nil
}

func closeMachines(ms []*engine.Machine) {
	for _, m := range ms {
		m.Target.Close()
	}
}

// secrets reads env_from variables from the controller's environment.
func (a *App) secrets(machine string, names []string) (map[string]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	var missing []string
	for _, n := range names {
		v := a.Getenv(n)
		if v == "" {
			missing = append(missing, n)
			continue
		}
		out[n] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("machine %s: env_from names %s, not set in this environment: export it before running fleet", machine, strings.Join(missing, ", "))
	}
	return out, nil
}

// nodeTarget returns the target for a node: this machine for the local
// node, SSH for the others.
func (a *App) nodeTarget(ctx context.Context, inv *config.Inventory, n *config.Node) (target.Target, error) {
	if n.Host == "" {
		dir := n.WorkDir
		if dir == "" {
			dir = defaultLocalWorkDir(a.Getenv)
		}
		return shelltarget.New(local.New(n.Name), shelltarget.Options{WorkDir: dir}), nil
	}
	host, err := a.sshHost(ctx, inv, n)
	if err != nil {
		return nil, err
	}
	dir := n.WorkDir
	if dir == "" {
		dir = nodes.DefaultWorkDir
	}
	return shelltarget.New(host, shelltarget.Options{WorkDir: dir}), nil
}

// defaultLocalWorkDir is where jobs on this machine run when the inventory
// does not say.
func defaultLocalWorkDir(getenv func(string) string) string {
	if d := getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "fleet", "work")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "fleet", "work")
	}
	return filepath.Join(os.TempDir(), "fleet-work")
}
