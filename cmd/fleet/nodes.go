package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/nodes"
	"github.com/fleetbench/fleet/internal/ssh"
)

// sshFlags are the controller-side SSH settings shared by nodes and exec.
type sshFlags struct {
	inventory  string
	vars       []string
	knownHosts string
	// systemKnownHosts is checked after knownHosts and never written;
	// empty means defaultSystemKnownHosts, "none" no file.
	systemKnownHosts string
	connectTimeout   time.Duration
}

// defaultSystemKnownHosts is where OpenSSH keeps the keys an administrator
// vouches for, for every user of the machine.
const defaultSystemKnownHosts = "/etc/ssh/ssh_known_hosts"

func (f *sshFlags) register(flags interface {
	StringVarP(p *string, name, shorthand, value, usage string)
	StringArrayVar(p *[]string, name string, value []string, usage string)
	StringVar(p *string, name, value, usage string)
	DurationVar(p *time.Duration, name string, value time.Duration, usage string)
}) {
	flags.StringVarP(&f.inventory, "inventory", "i", "", "inventory file (default inventory.hcl when it exists, else this machine only)")
	flags.StringArrayVar(&f.vars, "var", nil, "set a variable declared in the inventory: NAME=VALUE; repeatable")
	flags.StringVar(&f.knownHosts, "known-hosts", "", "known_hosts file to check host keys against and to add trusted keys to (default ~/.ssh/known_hosts)")
	flags.StringVar(&f.systemKnownHosts, "system-known-hosts", defaultSystemKnownHosts, "the machine's known_hosts file, checked too and never written (none: do not read one)")
	flags.DurationVar(&f.connectTimeout, "connect-timeout", ssh.DefaultConnectTimeout, "TCP connect and SSH handshake timeout, per hop")
}

// sshOptions are the SSH settings of this machine: ~/.ssh (from $HOME),
// $SSH_AUTH_SOCK, and the flags.
func (a *App) sshOptions(f *sshFlags) nodes.Options {
	o := nodes.Options{
		AgentSocket:    a.Getenv("SSH_AUTH_SOCK"),
		ConnectTimeout: f.connectTimeout,
		SSHConfigPath:  ssh.NoSSHConfig,
	}
	home := a.Getenv("HOME")
	if f.knownHosts != "" {
		o.KnownHosts = []string{f.knownHosts}
	} else if home != "" {
		o.KnownHosts = []string{filepath.Join(home, ".ssh", "known_hosts")}
	}
	// The user's file comes first: it is the one trust writes to. A
	// missing system file is skipped (internal/ssh).
	if sys := f.systemKnownHosts; sys != "none" && len(o.KnownHosts) > 0 {
		if sys == "" {
			sys = defaultSystemKnownHosts
		}
		o.KnownHosts = append(o.KnownHosts, sys)
	}
	if home != "" {
		if p := filepath.Join(home, ".ssh", "config"); existsLocally(p) {
			o.SSHConfigPath = p
		}
	}
	return o
}

func existsLocally(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// nodesInventory reads the inventory, printing diagnostics to stderr.
func (a *App) nodesInventory(f *sshFlags) (*config.Inventory, error) {
	vars, err := config.ParseVars(f.vars)
	if err != nil {
		return nil, usageError{err}
	}
	l := config.NewLoader(vars)
	path, explicit := f.inventory, f.inventory != ""
	if !explicit {
		path = config.DefaultInventory
	}
	inv, diags := l.Inventory(path, explicit)
	if !diags.HasErrors() {
		diags = append(diags, l.CheckVars()...)
	}
	if len(diags) > 0 {
		if err := l.WriteDiagnostics(a.Stderr, diags, isTerminal(a.Stderr)); err != nil {
			return nil, err
		}
	}
	if diags.HasErrors() {
		return nil, errSilent{ExitError}
	}
	return inv, nil
}

func (a *App) nodesCmd() *cobra.Command {
	var f sshFlags
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List, check and trust the inventory's nodes",
		Long: `nodes works on the machines of the inventory reached over SSH (and this
machine, the node "local").

  list   the nodes and clusters of the inventory
  check  connect to nodes in parallel and check they are fit for benchmarks
  trust  fetch a node's host key, show its fingerprint and add it to known_hosts

SSH settings come from the inventory, then ~/.ssh/config, then OpenSSH's
defaults; keys from identity_file and the agent at $SSH_AUTH_SOCK. Host keys
are always checked against known_hosts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f.register(cmd.PersistentFlags())
	cmd.AddCommand(a.nodesListCmd(&f), a.nodesCheckCmd(&f), a.nodesTrustCmd(&f))
	return cmd
}

func (a *App) nodesListCmd(f *sshFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show the inventory's nodes and clusters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			inv, err := a.nodesInventory(f)
			if err != nil {
				return err
			}
			if asJSON {
				return writeIndentedJSON(a.Stdout, inventoryView(inv))
			}
			return writeInventoryTable(a.Stdout, inv)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

type nodeView struct {
	Name    string            `json:"name"`
	Host    string            `json:"host,omitempty"`
	Port    int               `json:"port,omitempty"`
	User    string            `json:"user,omitempty"`
	Jump    []string          `json:"jump,omitempty"`
	GPU     string            `json:"gpu,omitempty"`
	GPUs    int               `json:"gpus"`
	Labels  []string          `json:"labels,omitempty"`
	Runtime string            `json:"runtime,omitempty"`
	WorkDir string            `json:"workdir,omitempty"`
	HFCache string            `json:"hf_cache,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	EnvFrom []string          `json:"env_from,omitempty"` // names only: values are secrets
	Packing bool              `json:"packing,omitempty"`
}

type clusterView struct {
	Name        string `json:"name"`
	Login       string `json:"login"`
	Partition   string `json:"partition,omitempty"`
	GPU         string `json:"gpu,omitempty"`
	GPUsPerNode int    `json:"gpus_per_node"`
	MaxNodes    int    `json:"max_nodes"`
	Container   string `json:"container,omitempty"`
	WorkDir     string `json:"workdir,omitempty"`
}

func inventoryView(inv *config.Inventory) map[string]any {
	ns := []nodeView{}
	for _, n := range inv.Nodes {
		ns = append(ns, nodeView{n.Name, n.Host, n.Port, n.User, n.Jump, n.GPU, n.GPUs, n.Labels, n.Runtime, n.WorkDir, n.HFCache, n.Env, n.EnvFrom, n.Packing})
	}
	cs := []clusterView{}
	for _, c := range inv.Clusters {
		cs = append(cs, clusterView{c.Name, c.Login, c.Partition, c.GPU, c.GPUsPerNode, c.MaxNodes, c.Container, c.WorkDir})
	}
	return map[string]any{"nodes": ns, "clusters": cs}
}

func writeInventoryTable(w io.Writer, inv *config.Inventory) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHOST\tUSER\tJUMP\tGPU\tGPUS\tLABELS\tRUNTIME\tWORKDIR")
	for _, n := range inv.Nodes {
		host := "(this machine)"
		if !nodes.IsLocal(n) {
			host = n.Host
			if n.Port != 0 && n.Port != 22 {
				host += ":" + strconv.Itoa(n.Port)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", n.Name, host, orDash(n.User), orDash(strings.Join(n.Jump, ",")),
			orDash(n.GPU), n.GPUs, orDash(strings.Join(n.Labels, ",")), orDash(n.Runtime), orDash(n.WorkDir))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(inv.Clusters) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tLOGIN\tPARTITION\tGPU\tGPUS/NODE\tMAX NODES\tCONTAINER\tWORKDIR")
	for _, c := range inv.Clusters {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", c.Name, c.Login, orDash(c.Partition), orDash(c.GPU), c.GPUsPerNode, c.MaxNodes, orDash(c.Container), orDash(c.WorkDir))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *App) nodesCheckCmd(f *sshFlags) *cobra.Command {
	var (
		asJSON   bool
		parallel int
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "check [NODE|all|label:LABEL]...",
		Short: "Check that nodes are reachable and fit for benchmarks",
		Long: `check connects to every selected node at once (all nodes by default) and
reports per node: reachable and the round-trip latency, the host key status
(ok, unknown, CHANGED), GPU type and count (nvidia-smi or rocm-smi), GPUs
held by processes, the container runtime, free disk in the work directory
and the Hugging Face cache. Exit status 3 when any node fails.`,
		Example: `  fleet nodes check
  fleet nodes check node1 label:h200 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if parallel < 1 {
				return usageError{fmt.Errorf("--parallel %d: want at least 1", parallel)}
			}
			inv, err := a.nodesInventory(f)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				args = []string{"all"}
			}
			sel, err := nodes.Select(inv, args)
			if err != nil {
				return usageError{err}
			}
			results := a.checkNodes(cmd.Context(), inv, sel, a.sshOptions(f), parallel, timeout)
			if err := cmd.Context().Err(); err != nil {
				return err
			}
			if asJSON {
				if err := writeIndentedJSON(a.Stdout, results); err != nil {
					return err
				}
			} else if err := writeCheckTable(a.Stdout, results); err != nil {
				return err
			}
			for _, r := range results {
				if !r.OK() {
					return errSilent{ExitFailed}
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&parallel, "parallel", 32, "check at most this many nodes at once")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "give up on a node after this long")
	return cmd
}

// checkNodes checks nodes concurrently (at most parallel at once), each
// bounded by timeout, results in the order of sel.
func (a *App) checkNodes(ctx context.Context, inv *config.Inventory, sel []*config.Node, o nodes.Options, parallel int, timeout time.Duration) []nodes.Result {
	results := make([]nodes.Result, len(sel))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, n := range sel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = nodes.Result{Node: n.Name, Host: n.Host, Problems: []string{ctx.Err().Error()}}
				return
			}
			defer func() { <-sem }()
			h, err := nodes.Open(inv, n, o)
			if err != nil {
				results[i] = nodes.Result{Node: n.Name, Host: n.Host, Problems: []string{err.Error()}}
				return
			}
			defer h.Close()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			results[i] = nodes.Check(cctx, h, n)
			a.logger().Debug("checked", "node", n.Name, "ok", results[i].OK())
		}()
	}
	wg.Wait()
	return results
}

func writeCheckTable(w io.Writer, results []nodes.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATUS\tLATENCY\tHOST KEY\tGPUS\tBUSY\tRUNTIME\tDISK FREE\tHF CACHE")
	for _, r := range results {
		status := "ok"
		if !r.OK() {
			status = "FAIL"
		}
		latency, gpus, busy, runtime, disk, hf := "-", "-", "-", "-", "-", "-"
		if r.LatencyMS > 0 {
			latency = fmt.Sprintf("%.1fms", r.LatencyMS)
		}
		if !r.Reachable {
			latency = "unreachable"
		}
		if r.GPUs > 0 {
			gpus = fmt.Sprintf("%d x %s", r.GPUs, r.GPUType)
			busy = strconv.Itoa(r.GPUsBusy)
		}
		if r.Reachable && r.HostKey != nodes.HostKeyUnknown && r.HostKey != nodes.HostKeyChanged && r.HostKey != nodes.HostKeyRevoked {
			runtime = r.Runtime
			if !r.RuntimeOK && r.Runtime != "" {
				runtime += " (missing)"
			}
			if r.WorkDir != "" {
				disk = fmt.Sprintf("%.0f GiB", r.DiskFreeGiB)
			}
			if r.HFCacheOK {
				hf = "yes"
			} else if r.HFCache != "" {
				hf = "no"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Node, status, latency, orDash(r.HostKey), gpus, busy, runtime, disk, hf)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		for _, p := range r.Problems {
			fmt.Fprintf(w, "%s: FAIL: %s\n", r.Node, p)
		}
		for _, x := range r.Warnings {
			fmt.Fprintf(w, "%s: warning: %s\n", r.Node, x)
		}
		for _, l := range r.Leases {
			fmt.Fprintf(w, "%s: held by %s\n", r.Node, l.Holder())
		}
	}
	return nil
}

func (a *App) nodesTrustCmd(f *sshFlags) *cobra.Command {
	var (
		fingerprints []string
		yes          bool
	)
	cmd := &cobra.Command{
		Use:   "trust NODE...",
		Short: "Fetch nodes' host keys, show their fingerprints and add them to known_hosts once confirmed",
		Long: `trust connects to each node (through its jump hosts, which must already be
trusted), fetches the host key it offers and checks it against
~/.ssh/known_hosts (or --known-hosts FILE) and the machine's
/etc/ssh/ssh_known_hosts. A key known to either is left alone. An unknown
key is added to the first file only once it is confirmed:

  on a terminal    trust shows the fingerprint and asks (y/N); compare it
                   with the one the machine's administrator gives you
                   (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)
  --fingerprint    the key must have this SHA256 fingerprint (repeatable:
                   one of them); nothing is asked. The way to trust from
                   scripts.
  --yes            whatever key the node offers is added: trust on first
                   use, safe only where no one can intercept the connection

Without a terminal and without either flag nothing is added. A key that
differs from the known one is always refused: remove the old entry first
(ssh-keygen -R HOST) if the change is expected.`,
		Example: `  fleet nodes trust h200-1
  fleet nodes trust h200-1 --fingerprint SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var pinned []string
			for _, fp := range fingerprints {
				p, err := ssh.ParseFingerprint(fp)
				if err != nil {
					return usageError{fmt.Errorf("--fingerprint: %w", err)}
				}
				pinned = append(pinned, p)
			}
			return a.trustNodes(cmd.Context(), f, args, trustOptions{fingerprints: pinned, yes: yes, interactive: isTerminalReader(a.Stdin)})
		},
	}
	cmd.Flags().StringArrayVar(&fingerprints, "fingerprint", nil, "add the key only if its fingerprint is this one (SHA256:..., as ssh-keygen -lf prints it); repeatable")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "add whatever key a node offers without asking (trust on first use)")
	return cmd
}

// trustOptions say how trust decides about an unknown key.
type trustOptions struct {
	fingerprints []string // pinned; wins over the rest
	yes          bool     // trust on first use
	interactive  bool     // stdin is a terminal: ask
}

// trustPolicy turns the options into internal/ssh's policy; the question
// goes to prompt and the answer comes from in.
func trustPolicy(o trustOptions, in *bufio.Reader, prompt io.Writer) ssh.TrustPolicy {
	switch {
	case len(o.fingerprints) > 0:
		return ssh.TrustPolicy{Fingerprints: o.fingerprints}
	case o.yes:
		return ssh.TrustOnFirstUse()
	case !o.interactive:
		return ssh.TrustPolicy{}
	}
	return ssh.TrustPolicy{Confirm: func(r ssh.TrustResult) (bool, error) {
		fmt.Fprintf(prompt, "%s (%s) offers a host key that no known_hosts file has:\n  %s %s\nAdd it to %s? [y/N] ",
			r.Name, r.Addr, r.KeyType, r.Fingerprint, r.File)
		line, err := in.ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(prompt)
			return false, nil // no answer (end of input) is no
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true, nil
		}
		return false, nil
	}}
}

// trustNodes runs trust on each node named by args.
func (a *App) trustNodes(ctx context.Context, f *sshFlags, args []string, to trustOptions) error {
	inv, err := a.nodesInventory(f)
	if err != nil {
		return err
	}
	sel, err := nodes.Select(inv, args)
	if err != nil {
		return usageError{err}
	}
	o := a.sshOptions(f)
	policy := trustPolicy(to, bufio.NewReader(a.Stdin), a.Stderr)
	failed := false
	for _, n := range sel {
		if nodes.IsLocal(n) {
			fmt.Fprintf(a.Stdout, "%s: this machine, no host key to trust\n", n.Name)
			continue
		}
		cfg, err := nodes.SSHConfig(inv, n, o)
		var res ssh.TrustResult
		if err == nil {
			res, err = ssh.TrustWith(ctx, cfg, policy)
		}
		switch {
		case err == nil && res.Added:
			fmt.Fprintf(a.Stdout, "%s: added %s %s for %s to %s\n", n.Name, res.KeyType, res.Fingerprint, res.Addr, res.File)
			continue
		case err == nil:
			fmt.Fprintf(a.Stdout, "%s: already trusted: %s %s for %s (in %s)\n", n.Name, res.KeyType, res.Fingerprint, res.Addr, orDash(res.File))
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		}
		failed = true
		if errors.Is(err, ssh.ErrNotConfirmed) {
			err = notTrusted(n.Name, res, to.interactive)
		}
		fmt.Fprintf(a.Stderr, "fleet: %s: %v\n", n.Name, err)
	}
	if failed {
		return errSilent{ExitError}
	}
	return nil
}

// notTrusted says why an unknown key was not added and how to add it.
func notTrusted(node string, r ssh.TrustResult, interactive bool) error {
	if interactive {
		return fmt.Errorf("%s %s for %s not added (not confirmed)", r.KeyType, r.Fingerprint, r.Addr)
	}
	return fmt.Errorf("%s %s for %s not added: no terminal to confirm it on. "+
		"Compare it with the fingerprint the machine's administrator gives you, then run: "+
		"fleet nodes trust %s --fingerprint %s (or --yes to accept whatever key is offered: trust on first use)",
		r.KeyType, r.Fingerprint, r.Addr, node, r.Fingerprint)
}

// isTerminalReader reports whether r is a terminal one can ask questions on.
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
