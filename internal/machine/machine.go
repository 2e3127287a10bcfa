// Package machine is fleet's one machine factory: it turns an inventory
// entry (a node or a Slurm cluster) into a Machine that jobs run on, with
// its target, its environment and its secrets. Sweeps, ad-hoc runs and the
// rig tests all build machines here, so one capacity rule and one set of
// defaults hold everywhere.
package machine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/nodes"
	"github.com/fleetbench/fleet/internal/slurm"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/local"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// Machine is one node or cluster that jobs can run on.
type Machine struct {
	Name    string
	GPU     string
	GPUs    int // GPUs one job may use: a node's, a cluster's per node
	Runtime string
	HFCache string
	// Packing lets several jobs share a node on disjoint GPUs.
	Packing bool
	// Slots is how many jobs a cluster runs at once (max_nodes); a node
	// has one slot, or one per GPU when packing.
	Slots int
	// Cluster is set for a Slurm cluster: a multi-node job is one
	// allocation there, where on nodes it needs a group of machines.
	Cluster bool
	Env     map[string]string
	Secrets map[string]string
	Target  target.Target
}

// Capacity is how many jobs the machine runs at once: one per GPU on a
// packed node, max_nodes on a cluster, else one.
func (m *Machine) Capacity() int {
	if m.Packing {
		return max(m.GPUs, 1)
	}
	return max(m.Slots, 1)
}

// Options are the controller's settings that an inventory does not hold.
type Options struct {
	SSH nodes.Options
	// Getenv reads the controller's environment: env_from secrets, and
	// where this machine keeps its work directories.
	Getenv func(string) string
	// SlurmOptions, when set, adjusts a cluster's Slurm settings before
	// its target is made (poll interval and the like).
	SlurmOptions func(*slurm.Options)
	// WrapHost, when set, wraps every connection the factory opens, so a
	// caller can watch what runs on a machine (tests count Slurm calls).
	WrapHost func(shelltarget.Host) shelltarget.Host
}

func (o Options) openHost(inv *config.Inventory, n *config.Node) (shelltarget.Host, error) {
	h, err := nodes.Open(inv, n, o.SSH)
	if err != nil || o.WrapHost == nil {
		return h, err
	}
	return o.WrapHost(h), nil
}

func (o Options) getenv(k string) string {
	if o.Getenv == nil {
		return os.Getenv(k)
	}
	return o.Getenv(k)
}

// Capacity is Machine.Capacity for an inventory machine before it is
// opened (for plans and progress estimates).
func Capacity(cm config.Machine) int {
	m := Machine{GPUs: cm.GPUs, Packing: cm.Packing, Slots: cm.Slots}
	return m.Capacity()
}

// Open builds the machine called name. SSH connections are made lazily, on
// first use, so opening every machine of a sweep costs nothing up front;
// a cluster whose work directory is not configured asks its login node for
// its home directory here.
func Open(ctx context.Context, inv *config.Inventory, name string, o Options) (*Machine, error) {
	cm, ok := inv.Machine(name)
	if !ok {
		return nil, fmt.Errorf("machine %q is not in the inventory", name)
	}
	m := &Machine{Name: cm.Name, GPU: cm.GPU, GPUs: cm.GPUs, Packing: cm.Packing, Slots: cm.Slots}
	var envFrom []string
	switch {
	case cm.Node != nil:
		n := cm.Node
		m.Runtime, m.HFCache, m.Env, envFrom = n.Runtime, n.HFCache, n.Env, n.EnvFrom
		t, err := nodeTarget(inv, n, o)
		if err != nil {
			return nil, err
		}
		m.Target = t
	case cm.Cluster != nil:
		c := cm.Cluster
		m.Cluster = true
		m.HFCache, m.Env, envFrom = c.HFCache, c.Env, c.EnvFrom
		t, err := clusterTarget(ctx, inv, c, o)
		if err != nil {
			return nil, err
		}
		m.Target = t
	}
	secrets, err := secrets(name, envFrom, o)
	if err != nil {
		m.Target.Close()
		return nil, err
	}
	m.Secrets = secrets
	return m, nil
}

// OpenAll opens the machines called names; on an error it closes those it
// opened.
func OpenAll(ctx context.Context, inv *config.Inventory, names []string, o Options) ([]*Machine, error) {
	var out []*Machine
	for _, name := range names {
		m, err := Open(ctx, inv, name, o)
		if err != nil {
			CloseAll(out)
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// CloseAll closes the machines' connections.
func CloseAll(ms []*Machine) {
	for _, m := range ms {
		m.Target.Close()
	}
}

// secrets reads env_from variables from the controller's environment.
func secrets(machine string, names []string, o Options) (map[string]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	var missing []string
	for _, n := range names {
		v := o.getenv(n)
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

// nodeTarget is this machine for a node without a host, SSH for others.
func nodeTarget(inv *config.Inventory, n *config.Node, o Options) (target.Target, error) {
	host, err := o.openHost(inv, n)
	if err != nil {
		return nil, err
	}
	dir := n.WorkDir
	if dir == "" {
		dir = nodes.DefaultWorkDir
		if nodes.IsLocal(n) {
			dir = LocalWorkDir(o.getenv)
		}
	}
	return shelltarget.New(host, shelltarget.Options{WorkDir: dir}), nil
}

// LocalWorkDir is where jobs on this machine run when the inventory does
// not say: the user's cache directory, which nobody else may write.
func LocalWorkDir(getenv func(string) string) string {
	if d := getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "fleet", "work")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "fleet", "work")
	}
	return filepath.Join(os.TempDir(), "fleet-work")
}

// clusterTarget is the Slurm target for a cluster, driven through its
// login node: this machine when login is "local" (or a node without a
// host), else an SSH connection to that node.
//
// The cluster's env reaches its jobs like a node's; its SLURM_* variables
// (SLURM_CONF for a cluster that is not the login node's default) are also
// exported for the Slurm commands fleet runs on the login node.
func clusterTarget(ctx context.Context, inv *config.Inventory, c *config.Cluster, o Options) (target.Target, error) {
	var host shelltarget.Host
	n := inv.Node(c.Login)
	switch {
	case n == nil && c.Login == config.LocalNode:
		host = local.New(c.Login)
		if o.WrapHost != nil {
			host = o.WrapHost(host)
		}
	case n == nil:
		return nil, fmt.Errorf("cluster %s: login node %q is not in the inventory", c.Name, c.Login)
	default:
		h, err := o.openHost(inv, n)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: login node: %w", c.Name, err)
		}
		host = h
	}
	workDir := c.WorkDir
	if workDir == "" {
		d, err := slurm.DefaultWorkDir(ctx, host)
		if err != nil {
			host.Close()
			return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		workDir = d
	}
	cmdEnv := map[string]string{}
	for k, v := range c.Env {
		if strings.HasPrefix(k, "SLURM_") {
			cmdEnv[k] = v
		}
	}
	so := slurm.Options{
		Name:        c.Name,
		WorkDir:     workDir,
		Partition:   c.Partition,
		Account:     c.Account,
		GPUsPerNode: c.GPUsPerNode,
		TimeLimit:   c.TimeLimit,
		Container:   c.Container,
		SquashDir:   c.SquashDir,
		HFCache:     c.HFCache,
		SbatchArgs:  c.SbatchArgs,
		CommandEnv:  cmdEnv,
	}
	if o.SlurmOptions != nil {
		o.SlurmOptions(&so)
	}
	t, err := slurm.New(host, so)
	if err != nil {
		host.Close()
		return nil, err
	}
	return t, nil
}
