package engine

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/scripts"
)

// outputs are what the job brings back from node, relative to its work
// directory: the result first, then logs.
func (js *jobState) outputs(m *machine.Machine) []string {
	node := m.Name
	if js.job.Multi != nil {
		if l, err := layout(js.job, m.GPUs); err == nil {
			return multiOutputs(js.job, l, js.resultName(node))
		}
	}
	result := "results/" + js.resultName(node) + ".json"
	if js.job.InferenceX != nil {
		// An InferenceX script logs its server and GPU monitor under its
		// own names; its client logs into the script's own log.
		out := []string{result, "logs/server.log", jobspec.GPUMetricsPath, jobspec.GPUMetricsZonePath, jobspec.ScriptLogPath, "job.log"}
		if ixEvals(js.job) {
			out = append(out, evalOutputs()...)
		}
		return out
	}
	out := append([]string{result, "logs/server.log", "logs/client.log", "logs/gpu.csv", "job.log"}, zoneFiles(singleNodeSamples())...)
	if js.job.Eval != nil {
		out = append(out, evalOutputs()...)
	}
	return out
}

// jobCommand starts a job in its work directory, on every target.
func jobCommand() []string { return []string{"bash", "scripts/job.sh"} }

// buildSpec turns a planned job into what a target runs: the job scripts,
// the fleet binary, the job file (jobspec.Path) that `fleet job` runs from,
// and the environment contract derived from it for the scripts. A job
// from an InferenceX checkout also ships the checkout's bundle, and its
// job file names the script and environment InferenceX would give it.
func (e *Engine) buildSpec(js *jobState, m *machine.Machine, bin agentbin.Binary, slot slot, attempt int) (*target.Spec, error) {
	job := e.jobFile(js, m, slot)
	j := js.job
	files, err := scriptFiles()
	if err != nil {
		return nil, err
	}
	files = append(files, target.File{Path: "bin/fleet", Mode: 0o755, Source: bin.Path, Digest: bin.Digest, Shared: true})
	if js.job.Agentic != nil {
		section, ship, err := e.agentic(js)
		if err != nil {
			return nil, err
		}
		job.Agentic = section
		files = append(files, ship...)
	}
	if js.job.Eval != nil {
		section, ship, err := e.evalSection(js)
		if err != nil {
			return nil, err
		}
		job.Eval = section
		files = append(files, ship...)
	}
	// An InferenceX multi-node or agentic row runs fleet's launchers and
	// client (InferenceX runs those with tools of its own).
	if js.job.InferenceX != nil && js.job.Multi == nil && js.job.Agentic == nil {
		section, bundle, err := e.inferenceX(js, m)
		if err != nil {
			return nil, err
		}
		job.InferenceX = section
		files = append(files, bundle)
		if job.Eval, err = e.ixEval(js.job.InferenceX); err != nil {
			return nil, err
		}
	}
	nodes := 1
	gpus, devices := j.GPUs(), slot.devices
	if j.Multi != nil {
		l, err := layout(j, m.GPUs)
		if err != nil {
			return nil, fmt.Errorf("job %s on %s (%d GPUs per node): %w", j.ID, m.Name, m.GPUs, err)
		}
		job.Multi = &jobspec.Multi{Shape: *j.Multi, Layout: l, ConcList: concList(j)}
		job.Devices, job.GPUCount = nil, m.GPUs
		nodes, gpus, devices = l.NodeCount(), m.GPUs, nil
	}
	data, err := job.Marshal()
	if err != nil {
		return nil, err
	}
	files = append(files, target.File{Path: jobspec.Path, Mode: 0o644, Data: data})
	env := job.Env()
	if j.Multi != nil {
		// The head, unless a group or a Slurm allocation says otherwise
		// node by node.
		env[jobspec.NodeRankEnv] = "0"
	}
	return &target.Spec{
		RunID:   e.opts.Run.ID(),
		JobID:   run.JobDirName(j.ID),
		Attempt: attempt,
		Env:     env,
		Secrets: m.Secrets,
		Files:   files,
		Command: jobCommand(),
		Outputs: js.outputs(m),
		GPUs:    gpus,
		Nodes:   nodes,
		Devices: devices,
		Timeout: e.jobTimeout(j),
	}, nil
}

// jobFile is the job as the node sees it, on machine m in slot.
func (e *Engine) jobFile(js *jobState, m *machine.Machine, slot slot) *jobspec.Job {
	j := js.job
	env := map[string]string{}
	for k, v := range m.Env {
		env[k] = v
	}
	for k, v := range j.Env {
		env[k] = v
	}
	if j.Agentic != nil {
		for k, v := range agenticEnv(j) {
			env[k] = v
		}
	}
	return &jobspec.Job{
		RunID: e.opts.Run.ID(), JobID: j.ID, Node: m.Name,
		Model: j.Model, ModelPrefix: j.ModelPrefix, Spec: j.Spec, Image: j.Image, Framework: j.Framework, Precision: j.Precision,
		SpecTokens: j.SpecTokens, DraftModel: j.DraftModel, SpecAcceptLength: j.SpecAcceptLength,
		TP: j.TP, EP: j.EP, PP: j.PP, DPAttn: j.DPAttn,
		Conc: j.Conc, ISL: j.ISL, OSL: j.OSL, MaxModelLen: j.MaxModelLen, RangeRatio: j.RangeRatio,
		NumPrompts: j.NumPrompts, NumWarmups: j.NumWarmups, Percentiles: j.Percentiles,
		ResultFilename: js.resultName(m.Name),
		Port:           slot.port, GPUCount: j.GPUs(), Devices: slot.devices,
		ServerArgs: j.ServerArgs, ClientArgs: j.ClientArgs,
		Runtime: m.Runtime, GPUType: m.GPU, HFHome: m.HFCache,
		HealthTimeout: jobspec.Duration(e.opts.Timeouts.ServerStart),
		BenchTimeout:  jobspec.Duration(e.benchTimeout(j)),
		ExtraEnv:      env,
	}
}

// scriptFiles lists the embedded scripts as files under scripts/.
func scriptFiles() ([]target.File, error) {
	var files []target.File
	err := fs.WalkDir(scripts.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".sh") {
			return err
		}
		b, err := fs.ReadFile(scripts.FS, p)
		if err != nil {
			return err
		}
		files = append(files, target.File{Path: path.Join("scripts", p), Mode: 0o755, Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded scripts: %w", err)
	}
	return files, nil
}
