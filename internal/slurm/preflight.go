package slurm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/shellquote"
	"github.com/fleetbench/fleet/internal/target"
)

// Preflight checks, before a sweep starts, that the cluster accepts a job
// for each GPU count (sbatch --test-only with the jobs' own partition,
// account, GPUs, exclusivity, time limit and extra arguments) and that the
// work directory is writable, so a wrong inventory fails at once with an
// error that says what to fix, not job by job.
func (t *Target) Preflight(ctx context.Context, gpus []int) error {
	counts := slices.Clone(gpus)
	slices.Sort(counts)
	counts = slices.Compact(counts)

	wd := shellquote.Quote(t.opts.WorkDir)
	r, err := t.exec(ctx, "check work dir", "mkdir -p "+wd+" && test -w "+wd)
	if err != nil {
		return err
	}
	if r.code != 0 {
		return fmt.Errorf("cluster %s: work dir %s is not writable on login node %s (%s): set workdir of the cluster to a directory you can write, on a filesystem the compute nodes share",
			t.Name(), t.opts.WorkDir, t.host.Name(), r.msg())
	}
	if err := t.checkPartition(ctx); err != nil {
		return err
	}
	for _, n := range counts {
		if t.opts.GPUsPerNode > 0 && n > t.opts.GPUsPerNode {
			return fmt.Errorf("cluster %s: the sweep has jobs of %d GPUs but the inventory says its nodes have %d (gpus_per_node): lower tp x pp of those configs, or fix gpus_per_node",
				t.Name(), n, t.opts.GPUsPerNode)
		}
		args, err := t.testArgs(n)
		if err != nil {
			return err
		}
		r, err := t.exec(ctx, "check a "+strconv.Itoa(n)+"-GPU job", shellquote.Join(append([]string{"sbatch"}, args...)...))
		if err != nil {
			return err
		}
		if r.code != 0 {
			return t.preflightError(ctx, n, r)
		}
	}
	return nil
}

// testArgs is sbatch --test-only for a job of n GPUs.
func (t *Target) testArgs(n int) ([]string, error) {
	a := []string{"--test-only", "--job-name=fleet-preflight", "--nodes=1"}
	if t.opts.Partition != "" {
		a = append(a, "--partition="+t.opts.Partition)
	}
	if t.opts.Account != "" {
		a = append(a, "--account="+t.opts.Account)
	}
	if n > 0 {
		if t.opts.GPUsPerNodeFlag {
			a = append(a, "--gpus-per-node="+strconv.Itoa(n))
		} else {
			a = append(a, "--gres=gpu:"+strconv.Itoa(n))
		}
	}
	if !t.opts.Shared {
		a = append(a, "--exclusive")
	}
	if t.opts.TimeLimit != "" {
		a = append(a, "--time="+t.opts.TimeLimit)
	}
	a = append(a, t.opts.SbatchArgs...)
	a = append(a, "--output=/dev/null", "--wrap=true")
	return a, nil
}

// preflightError turns sbatch's refusal into what to change, and where.
func (t *Target) preflightError(ctx context.Context, n int, r cmdResult) error {
	msg := r.msg()
	m := strings.ToLower(msg)
	part := t.opts.Partition
	if part == "" {
		part = "(the default partition)"
	} else {
		part = strconv.Quote(part)
	}
	switch {
	case controllerTrouble(msg):
		return target.Transient(fmt.Errorf("cluster %s: preflight: Slurm controller unreachable: %s", t.Name(), msg))
	case strings.Contains(m, "invalid partition"):
		return fmt.Errorf("cluster %s: Slurm has no partition %s (%s): set partition of cluster %q in the inventory to one of: %s",
			t.Name(), part, msg, t.Name(), t.partitions(ctx))
	case strings.Contains(m, "requested node configuration is not available"),
		strings.Contains(m, "invalid generic resource"),
		strings.Contains(m, "invalid gres"):
		return fmt.Errorf("cluster %s: no node of partition %s can take a job of %d GPUs (%s): lower tp x pp of the configs that run there, or choose a partition with larger nodes",
			t.Name(), part, n, msg)
	case strings.Contains(m, "invalid account"):
		return fmt.Errorf("cluster %s: Slurm refuses account %q with partition %s (%s): fix account of cluster %q in the inventory (sacctmgr show assoc user=$USER lists yours)",
			t.Name(), t.opts.Account, part, msg, t.Name())
	case strings.Contains(m, "time limit"):
		return fmt.Errorf("cluster %s: Slurm refuses time limit %q in partition %s (%s): lower time_limit of cluster %q in the inventory",
			t.Name(), t.opts.TimeLimit, part, msg, t.Name())
	default:
		return fmt.Errorf("cluster %s: Slurm would not accept a job of %d GPUs in partition %s: %s (check partition, account and sbatch_args of the cluster)",
			t.Name(), n, part, msg)
	}
}

// partition is one line of `scontrol -o show partition`.
type partition struct {
	Name, State, MaxTime string
	Default              bool
}

func parsePartitions(out string) []partition {
	var ps []partition
	for _, line := range strings.Split(out, "\n") {
		var p partition
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "PartitionName":
				p.Name = v
			case "State":
				p.State = v
			case "MaxTime":
				p.MaxTime = v
			case "Default":
				p.Default = v == "YES"
			}
		}
		if p.Name != "" {
			ps = append(ps, p)
		}
	}
	return ps
}

// checkPartition checks what sbatch --test-only lets through: a partition
// that is not UP, and a time limit over the partition's MaxTime (a job
// asking for more pends for ever, "PartitionTimeLimit", unless the site
// enforces partition limits at submission). It remembers MaxTime so that
// jobs without a cluster time limit ask for no more.
func (t *Target) checkPartition(ctx context.Context) error {
	r, err := t.exec(ctx, "show partitions", "scontrol -o show partition")
	if err != nil {
		return err
	}
	if r.code != 0 {
		return t.slurmError("scontrol show partition", r)
	}
	ps := parsePartitions(r.stdout)
	var names []string
	var p *partition
	for i := range ps {
		names = append(names, ps[i].Name)
		if ps[i].Name == t.opts.Partition || t.opts.Partition == "" && ps[i].Default {
			p = &ps[i]
		}
	}
	if p == nil {
		if t.opts.Partition == "" {
			return nil // no default partition: sbatch --test-only says what is wrong
		}
		return fmt.Errorf("cluster %s: Slurm has no partition %q: set partition of cluster %q in the inventory to one of: %s",
			t.Name(), t.opts.Partition, t.Name(), strings.Join(names, ", "))
	}
	if p.State != "" && p.State != "UP" {
		return fmt.Errorf("cluster %s: partition %q is %s, so jobs would wait for ever: choose another partition for cluster %q in the inventory (%s), or ask the admins",
			t.Name(), p.Name, p.State, t.Name(), strings.Join(names, ", "))
	}
	max, ok := limitMinutes(p.MaxTime)
	if !ok {
		return nil // UNLIMITED
	}
	t.mu.Lock()
	t.maxMinutes = max
	t.mu.Unlock()
	if t.opts.TimeLimit != "" {
		if want, ok := limitMinutes(t.opts.TimeLimit); ok && want > max || !ok {
			return fmt.Errorf("cluster %s: time_limit %q is over the MaxTime %s of partition %q, so jobs would wait for ever: lower time_limit of cluster %q in the inventory",
				t.Name(), t.opts.TimeLimit, p.MaxTime, p.Name, t.Name())
		}
	}
	return nil
}

// partitions lists the cluster's partitions for an error message.
func (t *Target) partitions(ctx context.Context) string {
	r, err := t.exec(ctx, "list partitions", "sinfo -h -o %R")
	if err != nil || r.code != 0 {
		return "(sinfo did not say)"
	}
	var ps []string
	for _, f := range strings.Fields(r.stdout) {
		if !slices.Contains(ps, f) {
			ps = append(ps, f)
		}
	}
	if len(ps) == 0 {
		return "(none listed)"
	}
	return strings.Join(ps, ", ")
}
