package jobrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/agentic"
	"github.com/fleetbench/fleet/internal/agentic/trace"
	"github.com/fleetbench/fleet/internal/atomicfile"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/topology"
)

// replay runs an agentic job's client: the job's traces replayed against
// the healthy server at the job's concurrency for its duration, the
// server's /metrics read around the profiling window, and InferenceX's
// aggregated agentic row written as the job's result.
func (r *runner) replay(ctx context.Context) error {
	return r.replayAt(ctx, []string{"http://127.0.0.1:" + strconv.Itoa(r.port) + "/metrics"})
}

// replayAt is replay against the server on r.port with the servers'
// /metrics at metricsURLs (a multi-node job's every worker).
func (r *runner) replayAt(ctx context.Context, metricsURLs []string) error {
	j, a := r.j, r.j.Agentic
	trees := r.trees
	if trees == nil {
		var err error
		if trees, err = r.loadTraces(); err != nil {
			return err
		}
	}
	cfg := agentic.DefaultConfig()
	cfg.BaseURL = "http://127.0.0.1:" + strconv.Itoa(r.port)
	cfg.Model = j.Model
	cfg.Concurrency = j.Conc
	cfg.Duration = a.Duration.D()
	cfg.WarmupRequestsPerLane = a.WarmupPerLane
	cfg.UseServerTokenCount = true
	cfg.RunID = j.RunID + "/" + j.JobID
	cfg.RequestTimeout = j.BenchTimeout.D()
	cfg.APIKey = r.env("OPENAI_API_KEY")
	clientLog, err := r.openClientLog()
	if err != nil {
		return err
	}
	defer clientLog.Close()
	bctx, done := r.clientContext(ctx)
	defer done()
	r.progress(jobspec.Progress{Phase: jobspec.PhaseBenchmark, Port: r.port})
	r.logf("replaying %d agent sessions: %d lanes for %s", len(trees), cfg.Concurrency, cfg.Duration)
	fmt.Fprintf(clientLog, "fleet job: agentic replay %s model=%s sessions=%d lanes=%d duration=%s warmup_per_lane=%d\n",
		cfg.BaseURL, cfg.Model, len(trees), cfg.Concurrency, cfg.Duration, cfg.WarmupRequestsPerLane)
	res, warning, runErr := agentic.RunWithMetrics(bctx, cfg, trees, metricsURLs)
	if warning != nil {
		fmt.Fprintf(clientLog, "fleet job: server metrics incomplete: %v\n", warning)
	}
	if runErr != nil && res == nil {
		fmt.Fprintf(clientLog, "fleet job: %v\n", runErr)
		return r.clientFailed(ctx, bctx, runErr, agentic.ErrWarmupFailed, "agentic replay")
	}
	if err := r.printSummary(clientLog, res.WriteSummary); err != nil {
		return err
	}
	row, err := res.AggregatedRow(r.rowMeta())
	if err != nil {
		return fail(jobspec.ExitClientError, "agentic row: %w", err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(r.o.Dir, ResultPath(j)), append(row, '\n'), 0o644); err != nil {
		return fail(jobspec.ExitClientError, "write result: %w", err)
	}
	fmt.Fprintf(clientLog, "fleet job: result saved in %s\n", ResultPath(j))
	if runErr != nil {
		fmt.Fprintf(clientLog, "fleet job: %v\n", runErr)
		if r.dying() {
			return r.died(runErr)
		}
		if errors.Is(runErr, agentic.ErrFailedRequestThreshold) {
			return fail(jobspec.ExitFailureRatio, "%w", runErr)
		}
		return fail(jobspec.ExitClientError, "agentic replay: %w", runErr)
	}
	return nil
}

// rowMeta is what the aggregated row says about the deployment.
func (r *runner) rowMeta() agentic.RowMeta {
	j, a := r.j, r.j.Agentic
	m := agentic.RowMeta{
		HW: j.GPUType, Conc: j.Conc, Image: j.Image, Model: j.Model, ModelPrefix: j.ModelPrefix,
		Framework: j.Framework, Precision: j.Precision, SpecDecoding: j.Spec,
		TP: j.TP, EP: max(j.EP, 1), PP: max(j.PP, 1), DCPSize: 1, PCPSize: 1, DPAttention: j.DPAttn,
		KVOffloading: a.KVOffloading, AllocatedCPUDRAMGB: float64(a.DramGB),
		Dataset: a.Dataset, GPUs: max(j.GPUCount, 1),
	}
	if a.Trace != "" {
		m.Dataset = "cc-traces:" + a.Trace
	}
	if a.KVOffloadBackend != "" {
		m.KVOffloadBackend = &agentic.NameVersion{Name: a.KVOffloadBackend}
	}
	if mj := j.Multi; mj != nil {
		s := mj.Shape
		role := func(p topology.Pool) *agentic.Role {
			return &agentic.Role{NumWorkers: p.Workers, TP: max(p.TP, 1), PP: max(p.PP, 1), EP: max(p.EP, 1), DCPSize: 1, PCPSize: 1, DPAttention: p.DPAttn}
		}
		m.Prefill, m.Disagg, m.GPUs, m.KVP2PTransfer = role(s.Prefill), s.Disaggregated(), s.GPUs(), s.KVTransfer
		if s.Disaggregated() {
			m.Decode = role(s.Decode)
		} else {
			m.Decode = &agentic.Role{}
		}
	}
	return m
}

// loadTraces reads the job's traces: the file the controller shipped, or
// the dataset's traces.jsonl in the node's Hugging Face cache.
func (r *runner) loadTraces() ([]*trace.Tree, error) {
	a := r.j.Agentic
	path := ""
	if a.Trace != "" {
		path = filepath.Join(r.o.Dir, filepath.FromSlash(a.Trace))
	} else {
		p, err := datasetFile(r.hfHome(), a.Dataset, "traces.jsonl")
		if err != nil {
			return nil, fail(jobspec.ExitBadEnv, "%w", err)
		}
		path = p
	}
	trees, err := agentic.LoadTrees(agentic.DatasetCCTraces, path, 0)
	if err != nil {
		return nil, fail(jobspec.ExitBadEnv, "agentic traces: %w", err)
	}
	return trees, nil
}

// hfHome is the Hugging Face cache the job uses: its own, the node's
// HF_HOME, or the default ~/.cache/huggingface.
func (r *runner) hfHome() string {
	if r.j.HFHome != "" {
		return r.j.HFHome
	}
	if h := r.env("HF_HOME"); h != "" {
		return h
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "huggingface")
}

// datasetFile finds file of a dataset in an HF cache (hub/datasets--
// <owner>--<name>/snapshots/<rev>/file), the newest snapshot first.
func datasetFile(hfHome, dataset, file string) (string, error) {
	dir := filepath.Join(hfHome, "hub", "datasets--"+strings.ReplaceAll(dataset, "/", "--"), "snapshots")
	found, _ := filepath.Glob(filepath.Join(dir, "*", file))
	if len(found) == 0 {
		return "", fmt.Errorf("dataset %s has no %s in the HF cache %s: download it on the node first (hf download --repo-type dataset %s)", dataset, file, hfHome, dataset)
	}
	sort.Slice(found, func(a, b int) bool {
		fa, _ := os.Stat(found[a])
		fb, _ := os.Stat(found[b])
		return fa != nil && fb != nil && fa.ModTime().After(fb.ModTime())
	})
	return found[0], nil
}
