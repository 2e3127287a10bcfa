package main

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/slurm"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/local"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// clusterTarget returns the Slurm target for a cluster, driven through its
// login node: this machine when login is "local" (or a node without a
// host), else an SSH connection to that node.
//
// The cluster's env reaches its jobs like a node's; the SLURM_* variables
// of it (SLURM_CONF for a cluster that is not the login node's default)
// are also exported for the Slurm commands fleet runs on the login node.
func (a *App) clusterTarget(ctx context.Context, inv *config.Inventory, c *config.Cluster) (target.Target, error) {
	var host shelltarget.Host
	n := inv.Node(c.Login)
	switch {
	case n == nil && c.Login == config.LocalNode, n != nil && n.Host == "":
		host = local.New(c.Login)
	case n == nil:
		return nil, fmt.Errorf("cluster %s: login node %q is not in the inventory", c.Name, c.Login)
	default:
		h, err := a.sshHost(ctx, inv, n)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: login node: %w", c.Name, err)
		}
		host = h
	}
	workDir := c.WorkDir
	if workDir == "" {
		// Home directories are what clusters share between login and
		// compute nodes as a rule; a site without that sets workdir.
		home, err := remoteHome(ctx, host)
		if err != nil {
			host.Close()
			return nil, fmt.Errorf("cluster %s: no workdir set and the login node's home is unknown: %w", c.Name, err)
		}
		workDir = path.Join(home, "fleet-work")
	}
	cmdEnv := map[string]string{}
	for k, v := range c.Env {
		if strings.HasPrefix(k, "SLURM_") {
			cmdEnv[k] = v
		}
	}
	t, err := slurm.New(host, slurm.Options{
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
	})
	if err != nil {
		host.Close()
		return nil, err
	}
	return t, nil
}

// remoteHome is $HOME on host.
func remoteHome(ctx context.Context, host shelltarget.Host) (string, error) {
	var out, errb bytes.Buffer
	code, err := host.Exec(ctx, `printf '%s' "$HOME"`, nil, &out, &errb)
	if err != nil {
		return "", err
	}
	home := strings.TrimSpace(out.String())
	if code != 0 || !path.IsAbs(home) {
		return "", fmt.Errorf("$HOME on %s is %q (exit %d: %s)", host.Name(), home, code, strings.TrimSpace(errb.String()))
	}
	return home, nil
}
