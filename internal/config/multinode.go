package config

import (
	"fmt"
	"strings"

	"github.com/fleetbench/fleet/internal/topology"
	"github.com/hashicorp/hcl/v2"
)

// KVTransfers are the KV transfer engines a disaggregated band may name.
var KVTransfers = []string{"nixl", "mooncake", "mori", "ucx"}

// RouterPolicies are the router block's policies.
var RouterPolicies = []string{"round_robin", "random", "session"}

var poolSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "workers"}, {Name: "tp"}, {Name: "ep"}, {Name: "pp"}, {Name: "dp_attn"}, {Name: "nodes"},
}}

var routerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "policy"}}}

// singleNodeKeys are a band's own parallelism, which a multi-node band
// gives per role instead.
var singleNodeKeys = []string{"tp", "ep", "pp", "dp_attn"}

// maxWorkers bounds a role's worker count, as topology.Shape.Validate does.
const maxWorkers = 1024

// multiNode decodes a band's prefill, decode and router blocks and its
// kv_transfer into s.Multi, and says whether the band is a multi-node one
// (it has any of them).
func (d *decoder) multiNode(s *Search, b *hcl.Block, content *hcl.BodyContent) bool {
	kvAttr := content.Attributes["kv_transfer"]
	if len(content.Blocks) == 0 && kvAttr == nil {
		return false
	}
	shape := &topology.Shape{Router: topology.Router{Policy: "round_robin"}}
	s.Multi = shape
	before := len(d.diags.Errs())
	for _, name := range singleNodeKeys {
		if attr, ok := content.Attributes[name]; ok {
			d.errorf(attr.NameRange, "Conflicting arguments",
				"%s is a single-node band's; a multi-node band (prefill and decode blocks) sets it per role, as in prefill { workers = 1, %s = ... }.", name, name)
		}
	}
	seen := map[string]hcl.Range{}
	var prefill *hcl.Block
	for _, pb := range content.Blocks {
		if prev, dup := seen[pb.Type]; dup {
			d.diags = append(d.diags, duplicate(pb.Type+" block", pb.Type, pb.DefRange, prev))
			continue
		}
		seen[pb.Type] = pb.DefRange
		switch pb.Type {
		case "prefill":
			prefill = pb
			s.tpRange = pb.DefRange
			shape.Prefill = d.pool(pb, 1)
		case "decode":
			shape.Decode = d.pool(pb, 0)
		case "router":
			rc, diags := pb.Body.Content(routerSchema)
			d.diags = append(d.diags, diags...)
			if attr := d.str(rc.Attributes, "policy", &shape.Router.Policy); attr != nil {
				d.oneOf(attr, shape.Router.Policy, RouterPolicies)
			}
		}
	}
	if shape.Decode.Workers == 0 {
		// Aggregated, however it was said (no decode block, or one of
		// no workers): one shape, one job id.
		shape.Decode = topology.Pool{}
	}
	if prefill == nil {
		d.errorf(b.DefRange, "Missing prefill block",
			"A multi-node band needs a prefill block, such as prefill { workers = 1, tp = 8 }; with decode { workers = 0 } or no decode block it describes aggregated workers.")
	}
	if attr := d.str(content.Attributes, "kv_transfer", &shape.KVTransfer); attr != nil && d.oneOf(attr, shape.KVTransfer, KVTransfers) && !shape.Disaggregated() {
		d.errorf(attr.Expr.Range(), "Invalid value",
			"kv_transfer %q on an aggregated shape: with no decode workers no KV cache moves between workers; remove it, or give the decode block workers.", shape.KVTransfer)
	}
	if len(d.diags.Errs()) == before {
		// What the blocks passed, checked as a whole; the checks above
		// say the same things at the value, so this speaks only when
		// they missed something.
		if err := shape.Validate(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				d.errorf(b.DefRange, "Invalid multi-node shape", "%s.", line)
			}
		}
	}
	return true
}

// pool decodes a prefill or decode block: workers (at least minWorkers),
// each of tp x pp GPUs.
func (d *decoder) pool(b *hcl.Block, minWorkers int) topology.Pool {
	content, diags := b.Body.Content(poolSchema)
	d.diags = append(d.diags, diags...)
	a := content.Attributes
	p := topology.Pool{EP: 1, PP: 1}
	attr := d.integer(a, "workers", &p.Workers)
	switch {
	case attr == nil && a["workers"] == nil && !diags.HasErrors():
		d.errorf(b.DefRange, "Missing required argument", "A %s block needs workers, how many %s servers run (each of tp x pp GPUs).", b.Type, b.Type)
	case attr != nil && p.Workers < minWorkers:
		d.errorf(attr.Expr.Range(), "Invalid value", "%s workers must be at least %d, not %d.", b.Type, minWorkers, p.Workers)
	default:
		d.atMost(attr, p.Workers, maxWorkers)
	}
	positive := func(name string, dst *int, hi int) *hcl.Attribute {
		attr := d.integer(a, name, dst)
		switch {
		case attr == nil:
		case *dst <= 0:
			d.errorf(attr.Expr.Range(), "Invalid value", "%s must be at least 1, not %d.", name, *dst)
		default:
			d.atMost(attr, *dst, hi)
		}
		return attr
	}
	if positive("tp", &p.TP, maxGPUs) == nil && a["tp"] == nil && p.Workers > 0 && !diags.HasErrors() {
		d.errorf(b.DefRange, "Missing required argument", "A %s block with workers needs tp, the tensor-parallel size of each worker.", b.Type)
	}
	positive("ep", &p.EP, maxGPUs)
	positive("pp", &p.PP, maxGPUs)
	positive("nodes", &p.Nodes, maxMaxNodes)
	d.boolean(a, "dp_attn", &p.DPAttn)
	return p
}

// MultiNodeFit is where a multi-node shape can run among some machines
// (those a runner selects).
type MultiNodeFit struct {
	// Clusters lays the shape out on its gpus_per_node in at most
	// max_nodes nodes: one allocation holds the whole job.
	Clusters []Machine
	// Groups are nodes of one GPU type and GPU count, as many as the
	// layout needs or more, each in inventory order: the job reserves
	// that many of one group.
	Groups [][]Machine
	// Why says, when nothing fits, what the shape needs of each kind
	// of machine offered.
	Why string
}

// Fits says whether anything fits.
func (f MultiNodeFit) Fits() bool { return len(f.Clusters) > 0 || len(f.Groups) > 0 }

// FitMultiNode finds where shape s can run among ms: Slurm clusters whose
// gpus_per_node lays it out (topology.Place) on at most max_nodes nodes,
// and groups of nodes of one GPU type and GPU count with at least as many
// nodes as the layout on that count needs.
func FitMultiNode(s topology.Shape, ms []Machine) MultiNodeFit {
	var f MultiNodeFit
	var why []string
	type key struct {
		gpu  string
		gpus int
	}
	groups := map[key][]Machine{}
	var order []key
	for _, m := range ms {
		if m.Kind == "cluster" {
			l, err := topology.Place(s, m.GPUs)
			switch {
			case err != nil:
				why = append(why, fmt.Sprintf("cluster %s (%d GPUs a node): %v", m.Name, m.GPUs, err))
			case m.Slots < l.NodeCount():
				why = append(why, fmt.Sprintf("cluster %s: needs %d nodes of %d GPUs, max_nodes is %d", m.Name, l.NodeCount(), m.GPUs, m.Slots))
			default:
				f.Clusters = append(f.Clusters, m)
			}
			continue
		}
		k := key{m.GPU, m.GPUs}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], m)
	}
	for _, k := range order {
		nodes := groups[k]
		l, err := topology.Place(s, k.gpus)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("%s nodes of %d GPUs: %v", k.gpu, k.gpus, err))
		case len(nodes) < l.NodeCount():
			why = append(why, fmt.Sprintf("needs %s of %d %s GPUs, the runner selects %d (%s)",
				nodeCount(l.NodeCount()), k.gpus, k.gpu, len(nodes), machineNames(nodes)))
		default:
			f.Groups = append(f.Groups, nodes)
		}
	}
	if !f.Fits() {
		if len(why) == 0 {
			why = append(why, "no machine to lay it out on")
		}
		f.Why = strings.Join(why, "; ")
	}
	return f
}

func nodeCount(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}

func machineNames(ms []Machine) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}
