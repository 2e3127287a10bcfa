package plan

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/fleetbench/fleet/internal/inferencex/ixresult"
	"github.com/fleetbench/fleet/internal/topology"
)

// AgenticSpec is what an agentic (trace-replay) job replays and how the
// server keeps its KV cache: set on Job.Agentic for jobs of a sweep's
// agentic blocks and for InferenceX's agentic-coding rows.
type AgenticSpec struct {
	// Trace is the cc-traces file or directory on the controller,
	// resolved against the sweep file; the job pushes it to the node.
	// Dataset is a Hugging Face dataset id the node reads from its HF
	// cache instead. Exactly one is set.
	Trace   string `json:"trace,omitempty"`
	Dataset string `json:"dataset,omitempty"`
	// DurationS is each client run's profiling time in seconds.
	DurationS int `json:"duration_s"`
	// BlockSize is the tokens per hash block; 0: the trace's own.
	BlockSize int `json:"block_size,omitempty"`
	// WarmupPerLane is how many one-token requests advance each lane
	// before profiling.
	WarmupPerLane int `json:"warmup_requests_per_lane"`
	// KVOffloading is none or dram; KVOffloadBackend names the backend
	// (config.OffloadBackends) when dram, and DramGB the CPU DRAM it may
	// use in GB, every rank of the job together.
	KVOffloading     string `json:"kv_offloading"`
	KVOffloadBackend string `json:"kv_offload_backend,omitempty"`
	DramGB           int    `json:"total_cpu_dram_gb"`
}

// Env is the job environment an agentic job adds (scripts/README.md
// "Agentic jobs"): AGENTIC=true, the offload settings the launchers read
// (KV_OFFLOADING, KV_OFFLOAD_BACKEND, TOTAL_CPU_DRAM_GB), and the client's
// (DURATION, AGENTIC_DATASET or the trace's path on the node as
// AGENTIC_TRACE, which the job sets once it has pushed the file,
// AGENTIC_BLOCK_SIZE when set, AGENTIC_WARMUP_PER_LANE).
func (a *AgenticSpec) Env() map[string]string {
	mode := a.KVOffloading
	if mode == "" {
		mode = "none"
	}
	env := map[string]string{
		"AGENTIC":                 "true",
		"KV_OFFLOADING":           mode,
		"KV_OFFLOAD_BACKEND":      a.KVOffloadBackend,
		"TOTAL_CPU_DRAM_GB":       strconv.Itoa(a.DramGB),
		"DURATION":                strconv.Itoa(a.DurationS),
		"AGENTIC_WARMUP_PER_LANE": strconv.Itoa(a.WarmupPerLane),
	}
	if a.Dataset != "" {
		env["AGENTIC_DATASET"] = a.Dataset
	}
	if a.BlockSize > 0 {
		env["AGENTIC_BLOCK_SIZE"] = strconv.Itoa(a.BlockSize)
	}
	return env
}

// kvPart is the offload as InferenceX's agentic exp-names write it:
// kvnone, or kv<mode>-<backend>.
func (a *AgenticSpec) kvPart() string {
	if a.KVOffloading != "dram" {
		return "kvnone"
	}
	return "kv" + a.KVOffloading + "-" + a.KVOffloadBackend
}

// agenticPoint is the offload part of an agentic job's id point:
// agentic-kvnone, or agentic-kvdram-<backend>-<GB>gb (two bands that
// differ only in their DRAM have different ids).
func (a *AgenticSpec) agenticPoint() string {
	if a.KVOffloading != "dram" {
		return "agentic-kvnone"
	}
	return fmt.Sprintf("agentic-kvdram-%s-%dgb", a.KVOffloadBackend, a.DramGB)
}

// agenticSpec is an agentic block's band as a job's AgenticSpec.
func agenticSpec(sw *config.Sweep, sc *config.Scenario, s *config.Search) *AgenticSpec {
	ag := sc.Agentic
	spec := &AgenticSpec{
		Trace:         ag.TracePath(sw.Path),
		Dataset:       ag.Dataset,
		DurationS:     int(ag.Duration.Seconds()),
		BlockSize:     ag.BlockSize,
		WarmupPerLane: ag.WarmupPerLane,
		KVOffloading:  "none",
	}
	if o := s.Offload; o != nil && o.Mode == "dram" {
		spec.KVOffloading, spec.KVOffloadBackend, spec.DramGB = o.Mode, o.Backend, o.DramGB
	}
	return spec
}

// expandAgentic makes an agentic band's jobs: one per concurrency, since
// a trace-replay client runs one concurrency at a time; a multi-node
// band deploys its shape for each. Prompt counts do not apply (the
// duration bounds a run) and there is no context cap: MaxModelLen is 0,
// and the launchers serve at the model's native context.
func expandAgentic(sw *config.Sweep, c *config.BenchConfig, sc *config.Scenario, s *config.Search) []*Job {
	var jobs []*Job
	for _, sp := range config.SpecsOf(s) {
		for _, conc := range s.Conc {
			var j *Job
			if s.Multi != nil {
				j = expandMulti(c, sc, s, 0)
				j.Conc, j.ConcList = conc, []int{conc}
			} else {
				j = singleJob(c, sc, s, conc, 0)
			}
			j.NumPrompts, j.NumWarmups = 0, 0
			j.Agentic = agenticSpec(sw, sc, s)
			setSpec(j, sp)
			j.ID = JobID(j)
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// agenticExpName is InferenceX's agentic exp-name for a fleet job:
// single node <prefix>_tp<TP>_conc<C>_<kv>[_spec-<m>]; multi-node
// <prefix>_p<N>x<TP>[ep<EP>][dpa]_d<N>x<TP>[ep<EP>][dpa]_conc<C>[_<kv>]
// (the offload only when it offloads).
func agenticExpName(j *Job) string {
	a := j.Agentic
	if j.Multi == nil {
		name := fmt.Sprintf("%s_tp%d_conc%d_%s", j.ModelPrefix, j.TP, j.Conc, a.kvPart())
		if j.Spec != "" && j.Spec != "none" {
			name += "_spec-" + j.Spec
		}
		return name
	}
	var b strings.Builder
	b.WriteString(j.ModelPrefix + "_")
	role := func(head string, p topology.Pool) {
		fmt.Fprintf(&b, "%s%dx%d", head, p.Workers, p.TP)
		if p.EP > 1 {
			fmt.Fprintf(&b, "ep%d", p.EP)
		}
		if p.DPAttn {
			b.WriteString("dpa")
		}
	}
	role("p", j.Multi.Prefill)
	role("_d", j.Multi.Decode)
	fmt.Fprintf(&b, "_conc%d", j.Conc)
	if a.KVOffloading == "dram" {
		b.WriteString("_" + a.kvPart())
	}
	return b.String()
}

// agenticResultName is an agentic job's result name: InferenceX's
// RESULT_FILENAME formula (ixresult.ResultFilename) over its agentic
// exp-name, as InferenceX names the aggregated agentic row.
func agenticResultName(j *Job, node string) string {
	spec := j.Spec
	if spec == "" {
		spec = "none"
	}
	row := &inferencex.Job{ExpName: agenticExpName(j), Precision: j.Precision, Framework: j.Framework,
		TP: j.TP, PP: max(j.PP, 1), DCPSize: 1, PCPSize: 1, EP: j.EP, DPAttn: j.DPAttn, SpecDecoding: spec,
		Conc: []int{j.Conc}, ScenarioType: inferencex.AgenticCoding}
	if s := j.Multi; s != nil {
		worker := func(p topology.Pool) *inferencex.Worker {
			if p.Workers == 0 {
				return nil
			}
			return &inferencex.Worker{NumWorker: p.Workers, TP: p.TP, EP: p.EP, DPAttn: p.DPAttn, PP: max(p.PP, 1), DCPSize: 1, PCPSize: 1}
		}
		row.MultiNode, row.Prefill, row.Decode, row.Disagg = true, worker(s.Prefill), worker(s.Decode), s.Disaggregated()
	}
	return ixresult.ResultFilename(row, node)
}

// ixAgenticModels are the model prefixes whose InferenceX agentic runs
// replay the full 062126 corpus (1M-context families); every other
// model replays its 256k variant.
var ixAgenticModels = map[string]bool{"dsv4": true, "glm5.2": true, "minimaxm3": true, "kimik3": true}

// IXAgenticDataset is the Hugging Face dataset InferenceX replays for a
// model prefix by default: semianalysisai/cc-traces-weka-062126 for the
// 1M-context families, its -256k variant otherwise.
func IXAgenticDataset(modelPrefix string) string {
	if ixAgenticModels[modelPrefix] {
		return "semianalysisai/cc-traces-weka-062126"
	}
	return "semianalysisai/cc-traces-weka-062126-256k"
}

// ixAgenticSpec is an InferenceX agentic-coding row's AgenticSpec: its
// model's default corpus, its duration and offload, AgentX's warmup.
func ixAgenticSpec(r *inferencex.Job) *AgenticSpec {
	a := &AgenticSpec{
		Dataset:       IXAgenticDataset(r.ModelPrefix),
		DurationS:     r.Duration,
		WarmupPerLane: config.DefaultWarmupPerLane,
		KVOffloading:  r.KVOffloading,
		DramGB:        r.TotalCPUDramGB,
	}
	if a.KVOffloading == "" {
		a.KVOffloading = "none"
	}
	if r.KVOffloadBackend != nil && a.KVOffloading == "dram" {
		a.KVOffloadBackend = r.KVOffloadBackend.Name
	}
	return a
}
