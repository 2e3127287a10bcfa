package plan

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/topology"
)

// FilterKeys are the keys --only accepts.
var FilterKeys = []string{"config", "model", "framework", "precision", "gpu", "runner", "seq", "tp", "ep", "conc", "spec", "node"}

// Filters select jobs by glob (path.Match syntax) on their fields. Globs
// on one key are alternatives (OR); different keys must all match (AND).
type Filters struct {
	globs map[string][]string
}

// ParseFilters reads --only arguments of the form key=glob.
func ParseFilters(args []string) (Filters, error) {
	f := Filters{globs: map[string][]string{}}
	for _, a := range args {
		key, glob, ok := strings.Cut(a, "=")
		key = strings.TrimSpace(key)
		if !ok || glob == "" {
			return Filters{}, fmt.Errorf("--only %q: want KEY=GLOB with KEY one of %s", a, strings.Join(FilterKeys, ", "))
		}
		if !validKey(key) {
			return Filters{}, fmt.Errorf("--only %q: unknown key %q; valid keys: %s", a, key, strings.Join(FilterKeys, ", "))
		}
		if _, err := path.Match(glob, ""); err != nil {
			return Filters{}, fmt.Errorf("--only %q: bad glob: %w", a, err)
		}
		f.globs[key] = append(f.globs[key], glob)
	}
	return f, nil
}

func validKey(k string) bool {
	for _, v := range FilterKeys {
		if v == k {
			return true
		}
	}
	return false
}

// Empty says whether no filter was given.
func (f Filters) Empty() bool { return len(f.globs) == 0 }

// String renders the filters as --only arguments, keys in FilterKeys order.
func (f Filters) String() string {
	var parts []string
	for _, k := range FilterKeys {
		for _, g := range f.globs[k] {
			parts = append(parts, k+"="+g)
		}
	}
	return strings.Join(parts, " ")
}

// any says whether a glob of key matches one of values; a key without
// globs matches everything.
func (f Filters) any(key string, values ...string) bool {
	globs, ok := f.globs[key]
	if !ok {
		return true
	}
	for _, g := range globs {
		for _, v := range values {
			if ok, _ := path.Match(g, v); ok {
				return true
			}
		}
	}
	return false
}

// Match says whether a job passes every filter. "model" matches the model
// or its prefix ("dsr1"). "gpu" matches the placed GPU type, or before
// placement any runner entry. "node" matches the placed node, or before
// placement any candidate; a job not yet resolved against an inventory
// (no candidates) passes "node", which Place applies to the machines.
func (f Filters) Match(j *Job) bool {
	gpus := j.Runner
	if j.GPU != "" {
		gpus = []string{j.GPU}
	}
	nodes := j.Candidates
	if j.Node != "" {
		nodes = []string{j.Node}
	}
	nodeOK := len(nodes) == 0 || f.any("node", nodes...)
	return f.jobKeysMatch(j) && f.any("gpu", gpus...) && nodeOK
}

// matchMachine applies the machine keys (gpu, node) to one machine, so
// Place narrows a job's candidates to the machines the user selected.
func (f Filters) matchMachine(name, gpu string) bool {
	return f.any("node", name) && f.any("gpu", gpu)
}

// jobKeysMatch applies every key but the machine ones.
func (f Filters) jobKeysMatch(j *Job) bool {
	return f.any("config", j.Config) &&
		f.any("model", j.Model, j.ModelPrefix) &&
		f.any("framework", j.Framework) &&
		f.any("precision", j.Precision) &&
		f.any("seq", j.Seq) &&
		f.any("tp", roles(j, j.TP, func(p topology.Pool) int { return p.TP })...) &&
		f.any("ep", roles(j, j.EP, func(p topology.Pool) int { return p.EP })...) &&
		f.any("conc", concs(j)...) &&
		f.any("runner", j.Runner...) &&
		f.any("spec", spec(j))
}

// spec is a job's speculative decoding method, none when it has none.
func spec(j *Job) string {
	if j.Spec == "" {
		return "none"
	}
	return j.Spec
}

// roles lists a parallelism of a job: its own, and for a multi-node job
// each pool's too, so that --only tp=8 finds a job of tp 8 prefill or
// decode workers.
func roles(j *Job, own int, of func(topology.Pool) int) []string {
	out := []string{strconv.Itoa(own)}
	if s := j.Multi; s != nil {
		out = append(out, strconv.Itoa(of(s.Prefill)))
		if s.Disaggregated() {
			out = append(out, strconv.Itoa(of(s.Decode)))
		}
	}
	return out
}

// concs lists a job's concurrencies: a multi-node job runs a list of
// them against one deployment.
func concs(j *Job) []string {
	list := j.ConcList
	if j.InferenceX != nil {
		list = j.InferenceX.Conc
	}
	if len(list) > 1 {
		out := make([]string, len(list))
		for i, c := range list {
			out[i] = strconv.Itoa(c)
		}
		return out
	}
	return []string{strconv.Itoa(j.Conc)}
}
