package plan

import (
	"fmt"
	"maps"
	"slices"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/inferencex/ixresult"
)

// Expand turns every config of a sweep into jobs: one per scenario, search
// band and concurrency, in the order the file declares them; a multi-node
// band is one job that runs its whole concurrency list, except in an
// agentic block, whose bands make one job per concurrency
// (expandAgentic).
func Expand(sw *config.Sweep) []*Job {
	var jobs []*Job
	for _, c := range sw.Configs {
		for _, sc := range c.Scenarios {
			if sc.Agentic != nil {
				for _, s := range sc.Search {
					jobs = append(jobs, expandAgentic(sw, c, sc, s)...)
				}
				continue
			}
			maxLen := sc.MaxModelLen
			if maxLen == 0 {
				maxLen = sc.ISL + sc.OSL + 256
			}
			for _, s := range sc.Search {
				if s.Multi != nil {
					if len(s.Conc) > 0 {
						jobs = append(jobs, expandMulti(c, sc, s, maxLen))
					}
					continue
				}
				for _, sp := range config.SpecsOf(s) {
					for _, conc := range s.Conc {
						j := singleJob(c, sc, s, conc, maxLen)
						setSpec(j, sp)
						j.ID = JobID(j)
						jobs = append(jobs, j)
					}
				}
			}
		}
	}
	return markEvals(sw, jobs)
}

// singleJob is a single-node band's job at one concurrency (its ID not
// yet set).
func singleJob(c *config.BenchConfig, sc *config.Scenario, s *config.Search, conc, maxLen int) *Job {
	return &Job{
		Config:      c.Key,
		Model:       c.Model,
		ModelPrefix: c.ModelPrefix,
		Image:       c.Image,
		Precision:   c.Precision,
		Framework:   c.Framework,
		Runner:      slices.Clone(c.Runner),
		Seq:         sc.Name,
		ISL:         sc.ISL,
		OSL:         sc.OSL,
		MaxModelLen: maxLen,
		TP:          s.TP,
		EP:          s.EP,
		PP:          s.PP,
		DPAttn:      s.DPAttn,
		Conc:        conc,
		ServerArgs:  slices.Clone(c.ServerArgs),
		Env:         maps.Clone(c.Env),
		RangeRatio:  c.Client.RangeRatio,
		NumPrompts:  c.Client.PromptsPerConc * conc,
		NumWarmups:  c.Client.WarmupsPerConc * conc,
		Percentiles: slices.Clone(c.Client.Percentiles),
		ClientArgs:  slices.Clone(c.Client.ExtraArgs),
	}
}

// point is the part of a name that says where in the search space a job
// sits: "tp8-ep1-dpafalse", with "-pp2" after ep only when pp is not 1, so
// the common case reads like InferenceMAX's names.
func point(j *Job) string {
	return basePoint(j) + specPoint(j)
}

// basePoint is point without the speculative decoding part.
func basePoint(j *Job) string {
	pp := ""
	if j.PP > 1 {
		pp = fmt.Sprintf("-pp%d", j.PP)
	}
	return fmt.Sprintf("tp%d-ep%d%s-dpa%t", j.TP, j.EP, pp, j.DPAttn)
}

// JobID is `<config>_<seq>_tp<TP>-ep<EP>[-pp<PP>]-dpa<bool>_conc<C>`, e.g.
// "dsr1-fp8-h200-sglang_1k1k_tp8-ep1-dpafalse_conc64".
//
// It is safe as one directory name: config validation allows only letters,
// digits, '.', '_' and '-' in config keys (never a leading '.') and only
// letters, digits and '-' in scenario names, both at most 64 characters,
// so the id has no separator, no space and stays far below 255 bytes. It
// is unique within a sweep: the last three '_'-separated fields have fixed
// shapes and the scenario name holds no '_', so the config key is what
// remains; config validation refuses two bands producing the same point.
//
// A multi-node job's point is its shape (multiPoint: p1xtp8-ep1-dpafalse-
// d1xtp8-ep1-dpafalse) and its concurrency its whole list, 4x8x16:
// "pd_1k1k_p1xtp8-ep1-dpafalse-d1xtp8-ep1-dpafalse_conc4x8x16".
//
// An agentic job's point ends in its offload (AgenticSpec.agenticPoint):
// "cc_agentic_tp8-ep1-dpafalse-agentic-kvdram-hicache-100gb_conc4"; a
// multi-node agentic job runs one concurrency, so its id ends _conc<C>.
func JobID(j *Job) string {
	p := point(j)
	if j.Multi != nil {
		p = multiPoint(*j.Multi)
	}
	if j.Agentic != nil {
		p += "-" + j.Agentic.agenticPoint()
	}
	if j.Multi != nil {
		return fmt.Sprintf("%s_%s_%s_conc%s", j.Config, j.Seq, p, concList(j.ConcList))
	}
	return fmt.Sprintf("%s_%s_%s_conc%d", j.Config, j.Seq, p, j.Conc)
}

// ResultName is the job's result file name (without extension). A job
// from an InferenceX checkout has InferenceX's current name
// (ixresult.ResultFilename); fleet's own have InferenceMAX's:
// `<model_prefix>_<seq>_<precision>_<framework>_tp<TP>-ep<EP>-dpa<bool>_conc<C>_<node>`,
// pp only when it is not 1, as in JobID. A fleet multi-node job has
// InferenceX's multi-node name:
// `<model_prefix>_<seq>_<precision>_<framework>_prefill-tp<T>-pp<P>-dcp1-pcp1-ep<E>-dp<bool>-nw<N>_decode-..._disagg-<bool>_spec-none_conc<AxBxC>_<node>`,
// which each concurrency's result file extends (jobspec.Multi.MultiResultName).
// A fleet agentic job has InferenceX's name for an agentic row
// (agenticResultName): the same formula over the agentic exp-name
// <model_prefix>_tp<TP>_conc<C>_<kvnone|kvdram-BACKEND>.
func ResultName(j *Job, node string) string {
	if j.InferenceX != nil {
		return ixresult.ResultFilename(j.InferenceX, node)
	}
	if j.Agentic != nil {
		return agenticResultName(j, node)
	}
	if j.Multi != nil {
		return multiResultName(j, node)
	}
	return fmt.Sprintf("%s_%s_%s_%s_%s%s_conc%d_%s", j.ModelPrefix, j.Seq, j.Precision, j.Framework, basePoint(j), specName(j), j.Conc, node)
}

// expandMulti makes a multi-node band's one job. Its TP, EP and DPAttn
// are the first pool's, for what reads a job's parallelism without
// knowing shapes; Conc is the list's first, which sizes its prompts.
func expandMulti(c *config.BenchConfig, sc *config.Scenario, s *config.Search, maxLen int) *Job {
	shape := *s.Multi
	shape.Infra = NeedsInfra(c.Framework)
	conc := s.Conc[0]
	j := &Job{
		Config:      c.Key,
		Model:       c.Model,
		ModelPrefix: c.ModelPrefix,
		Image:       c.Image,
		Precision:   c.Precision,
		Framework:   c.Framework,
		Runner:      slices.Clone(c.Runner),
		Seq:         sc.Name,
		ISL:         sc.ISL,
		OSL:         sc.OSL,
		MaxModelLen: maxLen,
		TP:          shape.Prefill.TP,
		EP:          shape.Prefill.EP,
		PP:          max(shape.Prefill.PP, 1),
		DPAttn:      shape.Prefill.DPAttn,
		Conc:        conc,
		ServerArgs:  slices.Clone(c.ServerArgs),
		Env:         maps.Clone(c.Env),
		RangeRatio:  c.Client.RangeRatio,
		NumPrompts:  c.Client.PromptsPerConc * conc,
		NumWarmups:  c.Client.WarmupsPerConc * conc,
		Percentiles: slices.Clone(c.Client.Percentiles),
		ClientArgs:  slices.Clone(c.Client.ExtraArgs),
		Multi:       &shape,
		ConcList:    slices.Clone(s.Conc),
	}
	j.ID = JobID(j)
	return j
}
