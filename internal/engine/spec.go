package engine

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/scripts"
)

// Outputs every job brings back, relative to its work directory.
func outputs(resultName string) []string {
	return []string{
		"results/" + resultName + ".json",
		"logs/server.log",
		"logs/client.log",
		"logs/gpu.csv",
		"job.log",
	}
}

// buildSpec turns a planned job into what a target runs: the job scripts,
// the fleet binary, and the environment contract of scripts/README.md.
func (e *Engine) buildSpec(js *jobState, m *machine.Machine, bin agentbin.Binary, slot slot, attempt int) (*target.Spec, error) {
	j := js.job
	env := map[string]string{}
	for k, v := range m.Env {
		env[k] = v
	}
	for k, v := range j.Env {
		env[k] = v
	}
	serverArgs, err := lines("server_args", j.ServerArgs)
	if err != nil {
		return nil, err
	}
	clientArgs, err := lines("client extra_args", j.ClientArgs)
	if err != nil {
		return nil, err
	}
	percentiles := make([]string, len(j.Percentiles))
	for i, p := range j.Percentiles {
		percentiles[i] = strconv.FormatFloat(p, 'f', -1, 64)
	}
	if len(percentiles) == 0 {
		percentiles = []string{"99"}
	}
	contract := map[string]string{
		"FLEET_RUN_ID":       e.opts.Run.ID(),
		"FLEET_JOB_ID":       j.ID,
		"FLEET_NODE":         m.Name,
		"FLEET_BIN":          "./bin/fleet",
		"MODEL":              j.Model,
		"IMAGE":              j.Image,
		"FRAMEWORK":          j.Framework,
		"PRECISION":          j.Precision,
		"TP":                 strconv.Itoa(j.TP),
		"EP":                 strconv.Itoa(max(j.EP, 1)),
		"PP":                 strconv.Itoa(max(j.PP, 1)),
		"DP_ATTN":            strconv.FormatBool(j.DPAttn),
		"CONC":               strconv.Itoa(j.Conc),
		"ISL":                strconv.Itoa(j.ISL),
		"OSL":                strconv.Itoa(j.OSL),
		"MAX_MODEL_LEN":      strconv.Itoa(j.MaxModelLen),
		"RANDOM_RANGE_RATIO": strconv.FormatFloat(j.RangeRatio, 'f', -1, 64),
		"NUM_PROMPTS":        strconv.Itoa(j.NumPrompts),
		"NUM_WARMUPS":        strconv.Itoa(j.NumWarmups),
		"PERCENTILES":        strings.Join(percentiles, ","),
		"RESULT_FILENAME":    js.resultName(m.Name),
		"PORT":               strconv.Itoa(slot.port),
		"GPU_COUNT":          strconv.Itoa(j.GPUs()),
		"SERVER_ARGS":        serverArgs,
		"CLIENT_ARGS":        clientArgs,
		"RUNTIME":            m.Runtime,
		"GPU_TYPE":           m.GPU,
		"HEALTH_TIMEOUT":     strconv.Itoa(int(e.opts.Timeouts.ServerStart.Seconds())),
		"BENCH_TIMEOUT":      strconv.Itoa(int(e.opts.Timeouts.Benchmark.Seconds())),
	}
	if m.HFCache != "" {
		contract["HF_HOME"] = m.HFCache
	}
	if len(slot.devices) > 0 {
		ids := make([]string, len(slot.devices))
		for i, d := range slot.devices {
			ids[i] = strconv.Itoa(d)
		}
		list := strings.Join(ids, ",")
		contract["GPUS"] = list
		contract["CUDA_VISIBLE_DEVICES"] = list
		contract["HIP_VISIBLE_DEVICES"] = list
	}
	for k, v := range contract {
		env[k] = v
	}

	files, err := scriptFiles()
	if err != nil {
		return nil, err
	}
	files = append(files, target.File{Path: "bin/fleet", Mode: 0o755, Source: bin.Path, Digest: bin.Digest, Shared: true})
	return &target.Spec{
		RunID:   e.opts.Run.ID(),
		JobID:   run.JobDirName(j.ID),
		Attempt: attempt,
		Env:     env,
		Secrets: m.Secrets,
		Files:   files,
		Command: []string{"bash", "scripts/job.sh"},
		Outputs: outputs(js.resultName(m.Name)),
		GPUs:    j.GPUs(),
		Devices: slot.devices,
		Timeout: e.opts.Timeouts.Job,
	}, nil
}

// lines joins list items one per line, the way job.sh reads lists back.
func lines(what string, items []string) (string, error) {
	for _, it := range items {
		if strings.ContainsAny(it, "\n\r\x00") {
			return "", fmt.Errorf("%s: item %q contains a line break; each item must be one line", what, it)
		}
	}
	return strings.Join(items, "\n"), nil
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
