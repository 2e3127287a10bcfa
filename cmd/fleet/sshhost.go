package main

import (
	"context"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/nodes"
	"github.com/fleetbench/fleet/internal/ssh"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// sshHost returns the connection to an SSH node (this machine for a node
// without a host). It connects lazily, so building every machine of a
// sweep costs nothing until jobs run.
func (a *App) sshHost(_ context.Context, inv *config.Inventory, n *config.Node) (shelltarget.Host, error) {
	return nodes.Open(inv, n, a.sshOptions(&sshFlags{knownHosts: a.knownHosts, connectTimeout: ssh.DefaultConnectTimeout}))
}
