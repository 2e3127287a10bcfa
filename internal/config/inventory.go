package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
)

// Defaults of the built-in local node: fleet's simulator stands in for
// eight GPUs so a sweep runs end to end on any machine.
const (
	LocalGPU  = "sim"
	LocalGPUs = 8
)

// Runtime and container values an inventory may name.
var (
	Runtimes   = []string{"docker", "enroot", "none"}
	Containers = []string{"pyxis", "none"}
)

var inventorySchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "node", LabelNames: []string{"name"}},
		{Type: "cluster", LabelNames: []string{"name"}},
	},
}

var nodeSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "host"}, {Name: "port"}, {Name: "user"}, {Name: "identity_file"}, {Name: "jump"},
	{Name: "gpu"}, {Name: "gpus"}, {Name: "labels"}, {Name: "workdir"}, {Name: "runtime"},
	{Name: "hf_cache"}, {Name: "env"}, {Name: "env_from"}, {Name: "packing"},
}}

var clusterSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "login"}, {Name: "partition"}, {Name: "account"}, {Name: "gpu"}, {Name: "gpus_per_node"},
	{Name: "max_nodes"}, {Name: "time_limit"}, {Name: "container"}, {Name: "squash_dir"},
	{Name: "workdir"}, {Name: "hf_cache"}, {Name: "sbatch_args"}, {Name: "env"}, {Name: "env_from"},
}}

// localOnlyAttrs are the SSH settings that make no sense for this machine.
var sshOnlyAttrs = []string{"host", "port", "user", "identity_file", "jump"}

// DefaultLocal returns the built-in node for this machine.
func DefaultLocal() *Node {
	return &Node{Name: LocalNode, GPU: LocalGPU, GPUs: LocalGPUs, Runtime: "none"}
}

// Inventory reads an inventory file. An empty path means DefaultInventory.
// When explicit is false a missing file is no error: the inventory is
// then just the local node. The local node always exists; declaring
// node "local" (without a host) changes its settings.
func (l *Loader) Inventory(path string, explicit bool) (*Inventory, hcl.Diagnostics) {
	if path == "" {
		path = DefaultInventory
	}
	ok, err := l.exists(path)
	if err != nil {
		return nil, missingFile("inventory", path, err)
	}
	if !ok {
		if explicit {
			return nil, missingFile("inventory", path, fmt.Errorf("no such file"))
		}
		return &Inventory{Nodes: []*Node{DefaultLocal()}}, nil
	}
	f, diags := l.parse(path)
	if diags.HasErrors() {
		return nil, diags
	}
	ctx, d := l.evalContext(f.Body)
	diags = append(diags, d...)
	if d.HasErrors() {
		sortDiags(diags)
		return nil, diags
	}
	dec := &decoder{ctx: ctx}
	inv := dec.inventory(dynblock.Expand(f.Body, ctx))
	inv.Path = path
	diags = append(diags, dec.diags...)
	sortDiags(diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return inv, diags
}

func (d *decoder) inventory(body hcl.Body) *Inventory {
	content, diags := body.Content(inventorySchema)
	d.diags = append(d.diags, diags...)
	inv := &Inventory{}
	names := map[string]hcl.Range{}
	declaredLocal := false
	for _, b := range content.Blocks {
		if b.Type != "node" && b.Type != "cluster" {
			continue
		}
		name := b.Labels[0]
		if !d.checkName(b.Type, name, b.LabelRanges[0]) {
			continue
		}
		if prev, dup := names[name]; dup {
			d.diags = append(d.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate machine name",
				Detail:   fmt.Sprintf("A node or cluster named %q was already declared at %s; node and cluster names share one namespace.", name, shortRange(prev)),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		names[name] = b.DefRange
		switch b.Type {
		case "node":
			if n := d.node(b); n != nil {
				declaredLocal = declaredLocal || n.Name == LocalNode
				inv.Nodes = append(inv.Nodes, n)
			}
		case "cluster":
			if c := d.cluster(b); c != nil {
				inv.Clusters = append(inv.Clusters, c)
			}
		}
	}
	if !declaredLocal {
		if prev, clash := names[LocalNode]; clash {
			d.errorf(prev, "Reserved name", "%q is the built-in node for this machine; name the cluster differently.", LocalNode)
		}
		inv.Nodes = append([]*Node{DefaultLocal()}, inv.Nodes...)
	}
	d.checkReferences(inv)
	return inv
}

func (d *decoder) node(b *hcl.Block) *Node {
	content, diags := b.Body.Content(nodeSchema)
	d.diags = append(d.diags, diags...)
	// A misspelt attribute already has its diagnostic; "missing host"
	// next to "did you mean host" would only repeat it.
	checkMissing := !diags.HasErrors()
	a := content.Attributes
	n := &Node{Name: b.Labels[0], Port: 22, Range: b.DefRange}
	local := n.Name == LocalNode
	if local {
		*n = *DefaultLocal()
		n.Range = b.DefRange
		for _, name := range sshOnlyAttrs {
			if attr, ok := a[name]; ok {
				d.errorf(attr.NameRange, "Not allowed on the local node",
					"Node %q is this machine, reached without SSH, so %q does not apply. To reach this machine over SSH, give the node another name.", LocalNode, name)
			}
		}
	}
	hostAttr := d.str(a, "host", &n.Host)
	if checkMissing && !local && hostAttr == nil && a["host"] == nil {
		d.errorf(b.DefRange, "Missing required argument", "Node %q needs a host (a name or address to reach it over SSH); only node %q has none.", n.Name, LocalNode)
	}
	if hostAttr != nil && strings.TrimSpace(n.Host) == "" {
		d.errorf(hostAttr.Expr.Range(), "Invalid value", "The host of node %q must not be empty.", n.Name)
	}
	d.notOption(hostAttr, "host", n.Host)
	if attr := d.integer(a, "port", &n.Port); attr != nil && (n.Port < 1 || n.Port > 65535) {
		d.errorf(attr.Expr.Range(), "Invalid value", "Port %d is out of range: a TCP port is 1 to 65535.", n.Port)
	}
	if attr := d.str(a, "user", &n.User); d.nonEmpty(attr, "user", n.User) {
		d.notOption(attr, "user", n.User)
	}
	d.notOption(d.str(a, "identity_file", &n.IdentityFile), "identity file", n.IdentityFile)
	if attr := d.strings(a, "jump", true, &n.Jump); attr != nil {
		n.jumpRange = attr.Expr.Range()
		for _, j := range n.Jump {
			d.notOption(attr, "jump host", j)
		}
	}
	gpuAttr := d.str(a, "gpu", &n.GPU)
	if gpuAttr != nil {
		d.checkGPUName(gpuAttr, n.GPU)
	}
	if !local {
		// A node without a GPU type is a bastion or login node: it carries
		// no jobs, so it gets no GPU count unless one is given.
		if n.GPU != "" {
			n.GPUs = 8
		}
	}
	if attr := d.integer(a, "gpus", &n.GPUs); attr != nil && n.GPUs <= 0 {
		d.errorf(attr.Expr.Range(), "Invalid value", "Node %q must have at least one GPU, not %d; leave gpus out on a node that only relays SSH.", n.Name, n.GPUs)
	} else {
		d.atMost(attr, n.GPUs, maxGPUs)
	}
	if labelsAttr := d.strings(a, "labels", false, &n.Labels); labelsAttr != nil {
		d.checkLabels(labelsAttr, n.Labels)
	}
	d.notOption(d.str(a, "workdir", &n.WorkDir), "workdir", n.WorkDir)
	if !local {
		n.Runtime = "docker"
	}
	if attr := d.str(a, "runtime", &n.Runtime); attr != nil {
		d.oneOf(attr, n.Runtime, Runtimes)
	}
	d.notOption(d.str(a, "hf_cache", &n.HFCache), "hf_cache", n.HFCache)
	envAttr := d.stringMap(a, "env", &n.Env)
	fromAttr := d.strings(a, "env_from", false, &n.EnvFrom)
	d.checkEnv(envAttr, n.Env, fromAttr, n.EnvFrom)
	d.boolean(a, "packing", &n.Packing)
	return n
}

// slurmTime is the --time formats sbatch accepts.
var slurmTime = regexp.MustCompile(`^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE|unlimited|infinite)$`)

func (d *decoder) cluster(b *hcl.Block) *Cluster {
	content, diags := b.Body.Content(clusterSchema)
	d.diags = append(d.diags, diags...)
	checkMissing := !diags.HasErrors()
	a := content.Attributes
	c := &Cluster{Name: b.Labels[0], GPUsPerNode: 8, MaxNodes: 1, Container: "none", Range: b.DefRange}
	if attr := d.str(a, "login", &c.Login); attr != nil {
		c.loginRange = attr.Expr.Range()
	} else if checkMissing && a["login"] == nil {
		d.errorf(b.DefRange, "Missing required argument", "Cluster %q needs login: the node that runs sbatch (a node of this inventory, or %q when fleet runs on the login node).", c.Name, LocalNode)
	}
	d.notOption(d.str(a, "partition", &c.Partition), "partition", c.Partition)
	d.notOption(d.str(a, "account", &c.Account), "account", c.Account)
	if attr := d.str(a, "gpu", &c.GPU); attr != nil {
		d.checkGPUName(attr, c.GPU)
	} else if checkMissing && a["gpu"] == nil {
		d.errorf(b.DefRange, "Missing required argument", "Cluster %q needs gpu: the GPU type of its compute nodes (h100, h200, b200, mi300x, ...), which runners match.", c.Name)
	}
	if attr := d.integer(a, "gpus_per_node", &c.GPUsPerNode); attr != nil && c.GPUsPerNode <= 0 {
		d.errorf(attr.Expr.Range(), "Invalid value", "Cluster %q must have at least one GPU per node, not %d.", c.Name, c.GPUsPerNode)
	} else {
		d.atMost(attr, c.GPUsPerNode, maxGPUs)
	}
	if attr := d.integer(a, "max_nodes", &c.MaxNodes); attr != nil && c.MaxNodes <= 0 {
		d.errorf(attr.Expr.Range(), "Invalid value", "max_nodes of cluster %q must be at least 1, not %d.", c.Name, c.MaxNodes)
	} else {
		d.atMost(attr, c.MaxNodes, maxMaxNodes)
	}
	if attr := d.str(a, "time_limit", &c.TimeLimit); attr != nil && !slurmTime.MatchString(c.TimeLimit) {
		d.errorf(attr.Expr.Range(), "Invalid value", "%q is not a Slurm time limit; use minutes (\"180\"), \"HH:MM:SS\" or \"D-HH:MM:SS\".", c.TimeLimit)
	}
	if attr := d.str(a, "container", &c.Container); attr != nil {
		d.oneOf(attr, c.Container, Containers)
	}
	d.notOption(d.str(a, "squash_dir", &c.SquashDir), "squash_dir", c.SquashDir)
	d.notOption(d.str(a, "workdir", &c.WorkDir), "workdir", c.WorkDir)
	d.notOption(d.str(a, "hf_cache", &c.HFCache), "hf_cache", c.HFCache)
	if attr := d.strings(a, "sbatch_args", false, &c.SbatchArgs); attr != nil {
		for _, arg := range c.SbatchArgs {
			if !strings.HasPrefix(arg, "-") {
				d.errorf(attr.Expr.Range(), "Invalid value", "sbatch argument %q must be an option starting with '-', such as \"--qos=high\".", arg)
			}
		}
	}
	envAttr := d.stringMap(a, "env", &c.Env)
	fromAttr := d.strings(a, "env_from", false, &c.EnvFrom)
	d.checkEnv(envAttr, c.Env, fromAttr, c.EnvFrom)
	return c
}

func (d *decoder) checkGPUName(attr *hcl.Attribute, gpu string) {
	if !namePattern.MatchString(gpu) {
		d.errorf(attr.Expr.Range(), "Invalid value", "GPU type %q must be a short label such as \"h200\" or \"mi300x\".", gpu)
	}
}

func (d *decoder) checkLabels(attr *hcl.Attribute, labels []string) {
	seen := map[string]bool{}
	for _, l := range labels {
		switch {
		case !namePattern.MatchString(l):
			d.errorf(attr.Expr.Range(), "Invalid value", "Label %q must hold only letters, digits, '.', '_' and '-'.", l)
		case seen[l]:
			d.errorf(attr.Expr.Range(), "Invalid value", "Label %q is listed twice.", l)
		}
		seen[l] = true
	}
}

// looksLikeAddress tells a jump entry written as an address ("user@host",
// "host:port", "bastion.example.com") from one naming a node.
func looksLikeAddress(s string) bool {
	return strings.ContainsAny(s, "@:.")
}

// checkReferences resolves names between blocks: jump hosts and login
// nodes must be nodes of this inventory (or addresses, for jump).
func (d *decoder) checkReferences(inv *Inventory) {
	var nodeNames []string
	for _, n := range inv.Nodes {
		nodeNames = append(nodeNames, n.Name)
	}
	for _, n := range inv.Nodes {
		for _, j := range n.Jump {
			switch hop := inv.Node(j); {
			case j == n.Name:
				d.errorf(n.jumpRange, "Invalid jump host", "Node %q cannot jump through itself.", n.Name)
			case hop != nil && hop.Name == LocalNode:
				d.errorf(n.jumpRange, "Invalid jump host", "Node %q jumps through %q, which is this machine; leave it out of jump.", n.Name, LocalNode)
			case hop == nil && !looksLikeAddress(j):
				d.errorf(n.jumpRange, "Unknown jump host",
					"Jump host %q of node %q is not a node of this inventory, nor an address (user@host[:port]).%s", j, n.Name, didYouMean(j, nodeNames))
			}
		}
	}
	d.checkJumpCycles(inv)
	for _, c := range inv.Clusters {
		if c.Login == "" {
			continue
		}
		if inv.Node(c.Login) == nil {
			d.errorf(c.loginRange, "Unknown login node",
				"Login node %q of cluster %q is not a node of this inventory; declare it with a node block, or use %q when fleet runs on the login node.%s", c.Login, c.Name, LocalNode, didYouMean(c.Login, nodeNames))
		}
	}
}

// checkJumpCycles finds jump chains that loop (a through b through a),
// which would make connecting recurse forever.
func (d *decoder) checkJumpCycles(inv *Inventory) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(n *Node) bool
	visit = func(n *Node) bool {
		switch state[n.Name] {
		case visiting:
			return true
		case done:
			return false
		}
		state[n.Name] = visiting
		defer func() { state[n.Name] = done }()
		for _, j := range n.Jump {
			if hop := inv.Node(j); hop != nil && hop != n && visit(hop) {
				return true
			}
		}
		return false
	}
	for _, n := range inv.Nodes {
		if state[n.Name] == unvisited && visit(n) {
			d.errorf(n.jumpRange, "Jump host cycle", "The jump hosts of node %q lead back to a node already on the path.", n.Name)
		}
	}
}

// Node returns the node called name, or nil.
func (inv *Inventory) Node(name string) *Node {
	for _, n := range inv.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Cluster returns the cluster called name, or nil.
func (inv *Inventory) Cluster(name string) *Cluster {
	for _, c := range inv.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Machine is the view of a node or a cluster that placement needs.
type Machine struct {
	Name    string
	Kind    string // "node" or "cluster"
	GPU     string
	GPUs    int // the most GPUs one job may use: a node's GPUs, a cluster's gpus_per_node
	Slots   int // jobs it runs at once without packing: 1 for a node, max_nodes for a cluster
	Packing bool
	Labels  []string
	Node    *Node    // set when Kind is "node"
	Cluster *Cluster // set when Kind is "cluster"
}

// Machines lists every node and cluster that can carry jobs (at least one
// GPU), nodes first, each in inventory order.
func (inv *Inventory) Machines() []Machine {
	var out []Machine
	for _, n := range inv.Nodes {
		if n.GPUs <= 0 {
			continue
		}
		out = append(out, Machine{Name: n.Name, Kind: "node", GPU: n.GPU, GPUs: n.GPUs, Slots: 1, Packing: n.Packing, Labels: n.Labels, Node: n})
	}
	for _, c := range inv.Clusters {
		out = append(out, Machine{Name: c.Name, Kind: "cluster", GPU: c.GPU, GPUs: c.GPUsPerNode, Slots: c.MaxNodes, Cluster: c})
	}
	return out
}

// Machine returns the machine called name.
func (inv *Inventory) Machine(name string) (Machine, bool) {
	for _, m := range inv.Machines() {
		if m.Name == name {
			return m, true
		}
	}
	return Machine{}, false
}

// Matches says whether a runner entry selects this machine: by its name,
// its GPU type, or one of its labels.
func (m Machine) Matches(runner string) bool {
	if runner == m.Name || runner == m.GPU {
		return true
	}
	for _, l := range m.Labels {
		if l == runner {
			return true
		}
	}
	return false
}

// runnerNames lists everything a runner may name, for suggestions.
func (inv *Inventory) runnerNames() []string {
	set := map[string]bool{}
	for _, n := range inv.Nodes {
		set[n.Name] = true
		if n.GPU != "" {
			set[n.GPU] = true
		}
		for _, l := range n.Labels {
			set[l] = true
		}
	}
	for _, c := range inv.Clusters {
		set[c.Name] = true
		set[c.GPU] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
