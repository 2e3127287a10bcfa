// Package launch is the controller's side of running one InferenceX
// single-node job the way InferenceX's launchers and benchmark workflow
// do: which benchmark script the job runs, the environment the workflow
// and launcher give it, and the part of the checkout the node needs,
// packed once per content as a deterministic tar.
package launch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fleetbench/fleet/internal/inferencex"
)

// Scenario subdirectories of benchmarks/single_node, with the trailing
// slash the workflow's SCENARIO_SUBDIR carries.
const (
	FixedSeqLenSubdir = "fixed_seq_len/"
	AgenticSubdir     = "agentic/"
)

// ScriptCandidates lists, in the order they are tried, the benchmark
// scripts a single-node row may run, relative to the checkout root:
// benchmarks/single_node/<subdir>/<prefix>_<precision>_<gpu>[_<framework>][_mtp].sh.
//
// InferenceX's launchers disagree on the framework suffix: some try
// _<framework> and then the legacy name (_trt for trt, _atom for atom,
// none otherwise), some use only the legacy name, some never add one.
// A fleet machine is none of those runners. It tries _<framework> and
// then no suffix, which is the legacy name too (the legacy suffixes are
// _<framework> itself): a framework-suffixed script exists only for
// labels whose launchers look for one, and the bare name is what the
// others run. On InferenceX's own sweep (snapshot 843c6254f) this
// picks, for every single-node row, the script every runner of the row's
// label picks.
func ScriptCandidates(j *inferencex.Job) ([]string, error) {
	if j.MultiNode {
		return nil, errors.New("a multi-node job has no single-node benchmark script")
	}
	prefix, _, _ := strings.Cut(j.ExpName, "_")
	gpu := GPU(j.Runner)
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"exp-name", prefix}, {"precision", j.Precision}, {"runner", gpu}, {"framework", j.Framework},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cannot name a benchmark script: %s empty", strings.Join(missing, ", "))
	}
	base := "benchmarks/single_node/" + ScenarioSubdir(j) + prefix + "_" + j.Precision + "_" + gpu
	spec := ""
	if j.SpecDecoding == "mtp" {
		spec = "_mtp"
	}
	return []string{base + "_" + j.Framework + spec + ".sh", base + spec + ".sh"}, nil
}

// Script chooses the benchmark script of a single-node row: the first of
// ScriptCandidates that exists (exists takes a slash-separated path
// relative to the checkout root). tried lists every path looked at; when
// none exists the error names them all.
func Script(exists func(rel string) bool, j *inferencex.Job) (rel string, tried []string, err error) {
	cands, err := ScriptCandidates(j)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", describe(j), err)
	}
	for _, c := range cands {
		tried = append(tried, c)
		if exists(c) {
			return c, tried, nil
		}
	}
	return "", tried, fmt.Errorf("%s: no benchmark script in the checkout; tried %s", describe(j), strings.Join(tried, ", "))
}

// GPU is the GPU part of a runner label, which names its scripts: the
// label up to its first '-', without a "cluster:" prefix ("b200-dsv4" and
// "cluster:b200-dgxc" are both b200).
func GPU(label string) string {
	gpu, _, _ := strings.Cut(strings.TrimPrefix(label, "cluster:"), "-")
	return gpu
}

// ScenarioSubdir is the row's SCENARIO_SUBDIR.
func ScenarioSubdir(j *inferencex.Job) string {
	if j.Agentic() {
		return AgenticSubdir
	}
	return FixedSeqLenSubdir
}

func describe(j *inferencex.Job) string {
	return fmt.Sprintf("%s on %s (%s %s, spec %s)", j.ExpName, j.Runner, j.Framework, j.Precision, j.SpecDecoding)
}
