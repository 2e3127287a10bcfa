// Package nodes turns inventory nodes into connections and checks them:
// it maps config.Node to ssh.Config (so internal/ssh stays independent of
// the config package), selects nodes by name, label or "all", and probes a
// node's readiness for benchmarks (fleet nodes check).
package nodes

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/ssh"
	"github.com/fleetbench/fleet/internal/target/local"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// Options are the controller's SSH settings that an inventory does not
// hold: where trust and keys live on this machine.
type Options struct {
	KnownHosts     []string      // empty: ~/.ssh/known_hosts
	SSHConfigPath  string        // empty: ~/.ssh/config; ssh.NoSSHConfig: none
	AgentSocket    string        // $SSH_AUTH_SOCK; empty: no agent
	ConnectTimeout time.Duration // 0: ssh.DefaultConnectTimeout
}

// IsLocal reports whether n is this machine, reached without SSH.
func IsLocal(n *config.Node) bool { return n.Host == "" }

// SSHConfig maps an inventory node to the SSH settings that reach it. A
// jump entry naming another node uses that node's settings (and its own
// jumps first); anything else is [user@]host[:port].
func SSHConfig(inv *config.Inventory, n *config.Node, o Options) (ssh.Config, error) {
	return sshConfig(inv, n, o, map[string]bool{})
}

func sshConfig(inv *config.Inventory, n *config.Node, o Options, path map[string]bool) (ssh.Config, error) {
	if IsLocal(n) {
		return ssh.Config{}, fmt.Errorf("node %s has no host: it is this machine, not reached over SSH", n.Name)
	}
	if path[n.Name] {
		return ssh.Config{}, fmt.Errorf("node %s: jump hosts lead back to %s", n.Name, n.Name)
	}
	path[n.Name] = true
	defer delete(path, n.Name)
	c := ssh.Config{
		Name:           n.Name,
		Host:           n.Host,
		Port:           n.Port,
		User:           n.User,
		KnownHosts:     append([]string(nil), o.KnownHosts...),
		ConnectTimeout: o.ConnectTimeout,
		SSHConfigPath:  o.SSHConfigPath,
		AgentSocket:    o.AgentSocket,
	}
	if n.IdentityFile != "" {
		c.IdentityFiles = []string{n.IdentityFile}
	}
	for _, j := range n.Jump {
		if hop := inv.Node(j); hop != nil && !IsLocal(hop) {
			hc, err := sshConfig(inv, hop, o, path)
			if err != nil {
				return ssh.Config{}, fmt.Errorf("node %s: jump %s: %w", n.Name, j, err)
			}
			// The hop's own chain comes first, as ProxyJump chains do.
			c.Jump = append(c.Jump, hc.Jump...)
			hc.Jump = nil
			c.Jump = append(c.Jump, hc)
			continue
		}
		hc, err := ssh.ParseJump(j)
		if err != nil {
			return ssh.Config{}, fmt.Errorf("node %s: %w", n.Name, err)
		}
		hc.KnownHosts = append([]string(nil), o.KnownHosts...)
		hc.SSHConfigPath, hc.AgentSocket, hc.ConnectTimeout = o.SSHConfigPath, o.AgentSocket, o.ConnectTimeout
		c.Jump = append(c.Jump, hc)
	}
	if len(n.Jump) > 0 && len(c.Jump) == 0 {
		return ssh.Config{}, fmt.Errorf("node %s: empty jump list", n.Name)
	}
	return c, nil
}

// Open returns the shelltarget.Host of a node: this machine for the local
// node, an SSH client (connecting lazily) for the others.
func Open(inv *config.Inventory, n *config.Node, o Options) (shelltarget.Host, error) {
	if IsLocal(n) {
		return local.New(n.Name), nil
	}
	cfg, err := SSHConfig(inv, n, o)
	if err != nil {
		return nil, err
	}
	return ssh.New(cfg)
}

// LabelPrefix selects nodes by label or GPU type: "label:h200".
const LabelPrefix = "label:"

// Select resolves node specs, in inventory order without repeats: node
// names, "all" (every node), or "label:L" (nodes with label L or GPU type
// L). A spec that selects nothing is an error, so a typo never silently
// shrinks the set.
func Select(inv *config.Inventory, specs []string) ([]*config.Node, error) {
	chosen := map[string]bool{}
	var unknown []string
	for _, spec := range specs {
		matched := false
		for _, n := range inv.Nodes {
			if selects(spec, n) {
				chosen[n.Name] = true
				matched = true
			}
		}
		if !matched {
			unknown = append(unknown, spec)
		}
	}
	if len(unknown) > 0 {
		var names []string
		for _, n := range inv.Nodes {
			names = append(names, n.Name)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("no node matches %s (nodes: %s; or all, label:LABEL)", strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	var out []*config.Node
	for _, n := range inv.Nodes {
		if chosen[n.Name] {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no nodes selected")
	}
	return out, nil
}

func selects(spec string, n *config.Node) bool {
	if spec == "all" {
		return true
	}
	if l, ok := strings.CutPrefix(spec, LabelPrefix); ok {
		if strings.EqualFold(n.GPU, l) {
			return true
		}
		for _, x := range n.Labels {
			if x == l {
				return true
			}
		}
		return false
	}
	return spec == n.Name
}
