package main

import (
	"context"
	"fmt"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// sshHost connects to an SSH node. Replaced when the SSH target lands.
func (a *App) sshHost(_ context.Context, _ *config.Inventory, n *config.Node) (shelltarget.Host, error) {
	return nil, fmt.Errorf("node %s: the SSH target is not built yet", n.Name)
}
