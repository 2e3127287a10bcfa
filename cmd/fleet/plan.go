package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
)

type planOptions struct {
	planFlags
	json    bool
	incr    incrementalFlags
	results string
}

func (a *App) planCmd() *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan [SWEEP] [--inferencex DIR]",
		Short: "Show the jobs of a sweep, where they would run and how long it should take",
		Long: `plan reads a sweep file and the inventory, validates both, expands every
config into jobs (one per scenario, search band and concurrency; one per
multi-node band, which runs its whole concurrency list), places each job on
a machine that fits it (a multi-node job on a Slurm cluster or a group of
equal nodes), and prints the job table with each multi-node job's layout
under it, the jobs per machine and an estimate of the whole sweep: machines
run in parallel, the jobs of one machine one after another.

Filters: --only KEY=GLOB, repeatable; globs on one key are alternatives,
different keys must all match. Keys: ` + strings.Join(plan.FilterKeys, ", ") + `.
--node NAME keeps only the jobs that fit that machine, and places them there.

A sweep may make at most ` + fmt.Sprint(config.DefaultMaxJobs) + ` jobs unless --max-jobs raises the limit;
a file over it is refused before any job is made.`,
		Example: `  fleet plan sweeps/demo.hcl
  fleet plan sweeps/full.hcl --inventory inventory.hcl --only gpu=h200 --only conc=64
  fleet plan sweeps/full.hcl --var conc_end=16 --json
  fleet plan sweeps/disagg-sim.hcl`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sweepPath := ""
			if len(args) == 1 {
				sweepPath = args[0]
			} else if o.ix.dir == "" {
				return usageError{errors.New("plan needs a sweep file, or --inferencex DIR for an InferenceX checkout")}
			}
			return a.runPlan(cmd, sweepPath, o)
		},
	}
	o.register(cmd)
	cmd.Flags().BoolVar(&o.json, "json", false, "print the plan as JSON")
	o.incr.register(cmd)
	cmd.Flags().StringVar(&o.results, "results", "results", "with --only-changed: directory that holds the results store (fleet.db)")
	return cmd
}

// loadConfig reads the inventory and a sweep, printing diagnostics to
// stderr; on errors it returns errSilent, since the diagnostics say it all.
func (a *App) loadConfig(sweepPath string, f *planFlags) (*loadedConfig, error) {
	return a.loadConfigSource(sweepPath, nil, f)
}

// loadedConfig is a read inventory and sweep with the sweep's jobs
// expanded (fleet's own configs, then an InferenceX checkout's).
type loadedConfig struct {
	inv  *config.Inventory
	sw   *config.Sweep
	jobs []*plan.Job
}

// loadConfigSource is loadConfig for a sweep given in memory (src, when
// not nil: the embedded demo) under the name sweepPath.
func (a *App) loadConfigSource(sweepPath string, src []byte, f *planFlags) (*loadedConfig, error) {
	vars, err := config.ParseVars(f.vars)
	if err != nil {
		return nil, err
	}
	invPath, explicit := f.inventory, f.inventory != ""
	if !explicit {
		invPath = config.DefaultInventory
	}
	l := config.NewLoader(vars)
	l.SetMaxJobs(f.maxJobs)
	if src != nil {
		l.AddSource(sweepPath, src)
	}
	inv, diags := l.Inventory(invPath, explicit)
	var sw *config.Sweep
	switch {
	case diags.HasErrors():
	case sweepPath == "" && f.ix.dir != "":
		// --inferencex alone: the checkout is the whole sweep, with
		// InferenceX's client settings and fleet's default timeouts.
		sw = &config.Sweep{Client: config.DefaultClient(), Timeouts: config.DefaultTimeouts(), Retries: config.DefaultRetries}
		diags = append(diags, l.CheckVars()...)
	default:
		var d hcl.Diagnostics
		sw, d = l.Sweep(sweepPath, inv)
		diags = append(diags, d...)
		if !diags.HasErrors() {
			diags = append(diags, l.CheckVars()...)
		}
	}
	var jobs []*plan.Job
	if !diags.HasErrors() {
		if err := f.ix.apply(sw); err != nil {
			return nil, err
		}
		var d hcl.Diagnostics
		jobs, d = plan.ExpandSweep(sw, f.maxJobs)
		diags = append(diags, d...)
	}
	if len(diags) > 0 {
		if err := l.WriteDiagnostics(a.Stderr, diags, isTerminal(a.Stderr)); err != nil {
			return nil, err
		}
	}
	if diags.HasErrors() {
		return nil, errSilent{ExitError}
	}
	return &loadedConfig{inv, sw, jobs}, nil
}

// sourceName says where a command's jobs come from, for messages.
func sourceName(sweepPath string, f *planFlags) string {
	if sweepPath == "" && f.ix.dir != "" {
		return f.ix.dir
	}
	return sweepPath
}

func (a *App) runPlan(cmd *cobra.Command, sweepPath string, o planOptions) error {
	defer lessGC(a.Getenv)()
	filters, err := plan.ParseFilters(o.only)
	if err != nil {
		return err
	}
	since, err := o.incr.since(time.Now())
	if err != nil {
		return err
	}
	type planned struct {
		inv  *config.Inventory
		p    *plan.Placement
		jobs int
	}
	pl, err := untilCancelled(cmd.Context(), "reading the sweep", func() (planned, error) {
		c, err := a.loadConfig(sweepPath, &o.planFlags)
		if err != nil {
			return planned{}, err
		}
		p, err := plan.Place(c.jobs, c.inv, plan.Options{Node: o.node, Only: filters})
		if err == nil {
			err = plan.SetFingerprints(p.Jobs)
		}
		return planned{c.inv, p, len(c.jobs)}, err
	})
	if err != nil {
		return err
	}
	inv, p := pl.inv, pl.p
	out := cmd.OutOrStdout()
	if len(p.Jobs) == 0 && len(p.Unplaced) == 0 {
		return fmt.Errorf("%s: no job of %d matches the filters (%s)", sourceName(sweepPath, &o.planFlags), pl.jobs, describeSelection(filters, o.node))
	}
	var reused []reusedJob
	if o.incr.onlyChanged {
		if _, reused, err = findUnchanged(cmd.Context(), o.results, p.Jobs, since); err != nil {
			return withCode(ExitError, err)
		}
	}
	if o.json {
		var reuse []planReuse
		if o.incr.onlyChanged {
			reuse = reusePlanJSON(reused)
		}
		return writePlanJSON(out, sourceName(sweepPath, &o.planFlags), inv, p, reuse)
	}
	if err := writePlanText(out, inv, p); err != nil {
		return err
	}
	if o.incr.onlyChanged {
		return writeReusePlan(out, len(p.Jobs), reused, o.incr.maxAge)
	}
	return nil
}

func describeSelection(f plan.Filters, node string) string {
	parts := []string{}
	if !f.Empty() {
		parts = append(parts, "--only "+f.String())
	}
	if node != "" {
		parts = append(parts, "--node "+node)
	}
	return strings.Join(parts, ", ")
}

// fmtDuration rounds for humans: seconds below an hour, minutes above
// ("47h41m", not "47h41m0s").
func fmtDuration(d time.Duration) string {
	if d >= time.Hour {
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return d.Round(time.Second).String()
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// agenticLine says under an agentic job what it replays and how the
// server keeps its KV cache.
func agenticLine(a *plan.AgenticSpec) string {
	src := "trace " + a.Trace
	if a.Dataset != "" {
		src = "dataset " + a.Dataset
	}
	kv := "no KV offload"
	if a.KVOffloading == "dram" {
		kv = fmt.Sprintf("KV offload to %d GB of DRAM by %s", a.DramGB, a.KVOffloadBackend)
	}
	return fmt.Sprintf("  agentic replay of %s for %ds, %d warm-up requests per lane; %s", src, a.DurationS, a.WarmupPerLane, kv)
}

// writePlanText prints the job table, each multi-node job with its layout
// on the lines under it (an agentic job with what it replays), then the machines, the jobs placed nowhere and
// the totals.
func writePlanText(w io.Writer, inv *config.Inventory, p *plan.Placement) error {
	// The table is aligned first and the layouts go in between its rows
	// afterwards: a line without the table's cells would end tabwriter's
	// columns there.
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONFIG\tSEQ\tTP\tEP\tDPA\tCONC\tGPUS\tNODE\tCANDIDATES\tRESULT\tESTIMATE")
	for _, j := range p.Jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%t\t%s\t%d\t%s\t%s\t%s\t%s\n",
			j.ID, j.Config, j.Seq, j.TP, j.EP, j.DPAttn, concColumn(j), j.GPUs(), j.Node,
			strings.Join(j.Candidates, ","), plan.ResultName(j, j.Node), fmtDuration(plan.Estimate(j)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	rows := strings.SplitAfter(table.String(), "\n")
	var out strings.Builder
	out.WriteString(rows[0])
	for i, j := range p.Jobs {
		out.WriteString(rows[i+1])
		if l := jobLayout(inv, p, j); l != nil {
			for _, line := range layoutLines(j.Multi, l) {
				out.WriteString(line + "\n")
			}
		}
		if j.Agentic != nil {
			out.WriteString(agenticLine(j.Agentic) + "\n")
		}
		if l := plan.SpecLine(j); l != "" {
			out.WriteString(l + "\n")
		}
		if j.Eval != nil {
			out.WriteString("  " + j.Eval.Describe() + "\n")
		}
	}
	if _, err := io.WriteString(w, out.String()); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MACHINE\tKIND\tGPU\tJOBS\tBUSY\tGPU-HOURS")
	for _, m := range p.Machines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%.1f\n", m.Name, m.Kind, m.GPU, m.Jobs, fmtDuration(m.Busy), m.GPUHours)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	fmt.Fprintln(w)
	if len(p.Unplaced) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NOT PLACED\tRUNNER\tGPUS\tWHY")
		for _, j := range p.Unplaced {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", j.ID, strings.Join(j.Runner, ","), j.GPUs(), j.Why)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write plan: %w", err)
		}
		fmt.Fprintln(w)
	}
	skipped := ""
	if len(p.Skipped) > 0 {
		skipped = fmt.Sprintf(", %d left out by --only/--node", len(p.Skipped))
	}
	if len(p.Unplaced) > 0 {
		skipped += fmt.Sprintf(", %d not placed (see NOT PLACED)", len(p.Unplaced))
	}
	_, err := fmt.Fprintf(w, "%s on %s%s; estimated duration %s (machines in parallel), %.1f GPU hours\n",
		plural(len(p.Jobs), "job"), plural(len(p.Machines), "machine"), skipped, fmtDuration(p.Makespan), p.GPUHours)
	return err
}

type planJSONJob struct {
	*plan.Job
	GPUs       int     `json:"gpus"`
	ResultName string  `json:"result_name"`
	EstimateS  float64 `json:"estimate_s"`
	// Layout is a placed multi-node job's processes and GPUs, node by
	// node, on the machine the plan chose.
	Layout *planLayout `json:"layout,omitempty"`
}

type planJSONMachine struct {
	plan.MachineLoad
	BusyS float64 `json:"busy_s"`
}

type planJSON struct {
	Sweep     string            `json:"sweep"`
	Inventory string            `json:"inventory"`
	Jobs      []planJSONJob     `json:"jobs"`
	Unplaced  []planJSONJob     `json:"unplaced"`
	Machines  []planJSONMachine `json:"machines"`
	Skipped   []string          `json:"skipped"`
	TotalJobs int               `json:"total_jobs"`
	MakespanS float64           `json:"makespan_s"`
	GPUHours  float64           `json:"gpu_hours"`
	// Reuse lists, with --only-changed, the jobs a sweep would not run
	// because a stored result of their recipe stands in for them.
	Reuse []planReuse `json:"reuse,omitempty"`
}

func writePlanJSON(w io.Writer, sweepPath string, inv *config.Inventory, p *plan.Placement, reuse []planReuse) error {
	out := planJSON{
		Sweep:     sweepPath,
		Inventory: inv.Path,
		Jobs:      make([]planJSONJob, 0, len(p.Jobs)),
		Unplaced:  make([]planJSONJob, 0, len(p.Unplaced)),
		Machines:  make([]planJSONMachine, 0, len(p.Machines)),
		Skipped:   make([]string, 0, len(p.Skipped)),
		TotalJobs: len(p.Jobs),
		MakespanS: p.Makespan.Seconds(),
		GPUHours:  p.GPUHours,
		Reuse:     reuse,
	}
	for _, j := range p.Jobs {
		out.Jobs = append(out.Jobs, planJSONJob{Job: j, GPUs: j.GPUs(), ResultName: plan.ResultName(j, j.Node), EstimateS: plan.Estimate(j).Seconds(),
			Layout: jobLayout(inv, p, j)})
	}
	for _, j := range p.Unplaced {
		out.Unplaced = append(out.Unplaced, planJSONJob{Job: j, GPUs: j.GPUs(), EstimateS: plan.Estimate(j).Seconds()})
	}
	for _, m := range p.Machines {
		out.Machines = append(out.Machines, planJSONMachine{MachineLoad: m, BusyS: m.Busy.Seconds()})
	}
	for _, j := range p.Skipped {
		out.Skipped = append(out.Skipped, j.ID)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write plan JSON: %w", err)
	}
	return nil
}
