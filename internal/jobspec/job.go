// Package jobspec is the contract between fleet's controller and the node
// that runs one job: the typed job file the engine writes into the job's
// work directory, the environment derived from it for the framework
// recipes (scripts/server/*.sh), the exit codes a job ends with, and the
// progress lines it prints while it runs.
package jobspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/atomicfile"
)

// Path is where the job file lives, relative to the job's work directory.
const Path = ".fleet/job.json"

// Files an InferenceX job leaves for the controller, relative to the work
// directory, besides its result and the server log.
const (
	// ScriptLogPath holds the InferenceX script's own output.
	ScriptLogPath = "logs/script.log"
	// GPUMetricsPath holds the script's GPU monitor samples.
	GPUMetricsPath = "logs/gpu_metrics.csv"
	// GPUMetricsZonePath holds the UTC offset, in seconds, of the local
	// time the GPU monitor wrote its timestamps in (nvidia-smi writes
	// local time without a zone): the controller needs it to line the
	// samples up with the benchmark's window, which the client records in
	// Unix time.
	GPUMetricsZonePath = "logs/gpu_metrics.zone"
)

// BinPath is where the engine puts the fleet binary in a work directory.
const BinPath = "./bin/fleet"

// Job is everything the node needs to run one benchmark job.
type Job struct {
	RunID string `json:"run_id"`
	JobID string `json:"job_id"`
	Node  string `json:"node"`

	Model string `json:"model"`
	// ModelPrefix and Spec are what rows name the model and the
	// speculative decoding by (an agentic job's client writes its row).
	ModelPrefix string `json:"model_prefix,omitempty"`
	Spec        string `json:"spec_decoding,omitempty"`
	Image       string `json:"image,omitempty"`
	Framework   string `json:"framework"` // selects scripts/server/<framework>.sh
	Precision   string `json:"precision,omitempty"`
	TP          int    `json:"tp"`
	EP          int    `json:"ep"`
	PP          int    `json:"pp"`
	DPAttn      bool   `json:"dp_attn"`

	// The size of a drafting Spec (specdecode.go).
	SpecTokens       int     `json:"num_spec_tokens,omitempty"`
	DraftModel       string  `json:"draft_model,omitempty"`
	SpecAcceptLength float64 `json:"spec_accept_length,omitempty"`

	Conc        int       `json:"conc"`
	ISL         int       `json:"isl"`
	OSL         int       `json:"osl"`
	MaxModelLen int       `json:"max_model_len"`
	RangeRatio  float64   `json:"range_ratio"`
	NumPrompts  int       `json:"num_prompts"`
	NumWarmups  int       `json:"num_warmups"`
	Percentiles []float64 `json:"percentiles,omitempty"` // empty: 90, 99, 99.9
	// ResultFilename names results/<ResultFilename>.json, without .json.
	ResultFilename string `json:"result_filename"`

	// Port is the engine's preferred port for the server on 127.0.0.1; the
	// node moves to the next free one when it is taken.
	Port     int   `json:"port"`
	GPUCount int   `json:"gpu_count"`
	Devices  []int `json:"devices,omitempty"` // set only when jobs share a machine

	ServerArgs []string `json:"server_args,omitempty"` // passed to the launcher as "$@"
	ClientArgs []string `json:"client_args,omitempty"` // fleet bench flags over the job's own

	Runtime string `json:"runtime,omitempty"` // docker, enroot or none
	GPUType string `json:"gpu_type,omitempty"`
	HFHome  string `json:"hf_home,omitempty"`

	HealthTimeout Duration `json:"health_timeout"`
	BenchTimeout  Duration `json:"bench_timeout"`

	// ExtraEnv holds the inventory's and the sweep's env = {...} values.
	ExtraEnv map[string]string `json:"env,omitempty"`

	// InferenceX is set when the job runs one of InferenceX's own
	// benchmark scripts from a checkout instead of fleet's launcher and
	// client.
	InferenceX *InferenceX `json:"inferencex,omitempty"`

	// Multi is set for a multi-node job: its roles laid out on nodes.
	Multi *Multi `json:"multi,omitempty"`
	// Agentic is set for a job whose client replays agent sessions.
	Agentic *Agentic `json:"agentic,omitempty"`
	// Eval is set for a job that scores the model's accuracy (eval.go).
	Eval *Eval `json:"eval,omitempty"`
}

// InferenceX is how a job runs an InferenceX benchmark script the way
// InferenceX's launchers do.
type InferenceX struct {
	// Bundle is the checkout's needed part as a tar file, relative to the
	// work directory (shared between jobs, cached by content); it is
	// unpacked into Workspace for each job, which the container sees as
	// /workspace (the repository root the scripts expect).
	Bundle    string `json:"bundle"`
	Workspace string `json:"workspace"`
	// Script is the benchmark script, relative to the checkout root
	// (benchmarks/single_node/fixed_seq_len/<name>.sh).
	Script string `json:"script"`
	// Env is the script's environment contract (MODEL, TP, CONC, ...,
	// RESULT_FILENAME), set as the launcher and workflow would set it.
	Env map[string]string `json:"env"`
	// Client is "inferencex" (the checkout's own client) or "fleet"
	// (fleet bench, given the same flags).
	Client string `json:"client"`
	// ResultFilename is the script's result name without .json: the
	// client writes <Workspace>/<ResultFilename>.json.
	ResultFilename string `json:"result_filename"`
}

// Duration is a time.Duration written as Go writes one ("20m0s") in JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string ("90s", "1h") or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err := json.Unmarshal(b, &secs); err != nil {
			return fmt.Errorf("want a duration such as \"90s\" or a number of seconds, got %s", b)
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"90s\": %w", err)
	}
	*d = Duration(v)
	return nil
}

// Validate checks what the node cannot do without, naming each bad field
// by its JSON name.
func (j *Job) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	for _, f := range []struct{ name, v string }{
		{"job_id", j.JobID}, {"model", j.Model}, {"framework", j.Framework}, {"result_filename", j.ResultFilename},
	} {
		if strings.TrimSpace(f.v) == "" {
			bad(f.name, "missing")
		}
	}
	if j.Framework != "" && (strings.ContainsAny(j.Framework, `/\`) || strings.HasPrefix(j.Framework, ".")) {
		bad("framework", "%q is not a launcher name", j.Framework)
	}
	if strings.ContainsAny(j.ResultFilename, `/\`) || j.ResultFilename == "." || j.ResultFilename == ".." {
		bad("result_filename", "%q must be a file name, not a path", j.ResultFilename)
	}
	type field struct {
		name string
		v    int
	}
	need := []field{{"tp", j.TP}, {"conc", j.Conc}}
	if j.Agentic == nil {
		// An agentic job's prompts come from its traces, at the model's
		// native context.
		need = append(need, field{"isl", j.ISL}, field{"osl", j.OSL}, field{"max_model_len", j.MaxModelLen}, field{"num_prompts", j.NumPrompts})
	}
	for _, f := range need {
		if f.v < 1 {
			bad(f.name, "%d: want at least 1", f.v)
		}
	}
	if j.EP < 0 || j.PP < 0 || j.NumWarmups < 0 || j.GPUCount < 0 {
		bad("ep/pp/num_warmups/gpu_count", "want 0 or more")
	}
	if !(j.RangeRatio >= 0 && j.RangeRatio <= 1) {
		bad("range_ratio", "%v: want 0..1", j.RangeRatio)
	}
	for _, p := range j.Percentiles {
		if !(p >= 0 && p <= 100) {
			bad("percentiles", "%v: want 0..100", p)
		}
	}
	if j.Port < 1 || j.Port > 65535 {
		bad("port", "%d: want 1..65535", j.Port)
	}
	for _, d := range j.Devices {
		if d < 0 {
			bad("devices", "%d: want GPU indices 0 or more", d)
		}
	}
	if j.HealthTimeout <= 0 {
		bad("health_timeout", "%s: want a positive duration", j.HealthTimeout.D())
	}
	if j.BenchTimeout <= 0 {
		bad("bench_timeout", "%s: want a positive duration", j.BenchTimeout.D())
	}
	for _, l := range []struct {
		name  string
		items []string
	}{{"server_args", j.ServerArgs}, {"client_args", j.ClientArgs}} {
		for _, it := range l.items {
			// The environment carries lists one item per line.
			if strings.ContainsAny(it, "\n\r\x00") {
				bad(l.name, "item %q contains a line break; each item must be one line", it)
			}
		}
	}
	for k := range j.ExtraEnv {
		if !validName(k) {
			bad("env", "variable name %q: want letters, digits and _ only, not starting with a digit", k)
		}
	}
	if j.InferenceX != nil {
		j.InferenceX.validate(bad)
	}
	if j.Multi != nil {
		j.Multi.validate(bad)
	}
	if j.Agentic != nil {
		j.Agentic.validate(bad)
	}
	j.validateSpec(bad)
	if j.Eval != nil {
		j.Eval.validate(bad)
	}
	return errors.Join(errs...)
}

func validName(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Marshal validates j and encodes it as the job file's contents.
func (j *Job) Marshal() ([]byte, error) {
	if err := j.Validate(); err != nil {
		return nil, fmt.Errorf("job file of %s: %w", j.JobID, err)
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("job file of %s: %w", j.JobID, err)
	}
	return append(b, '\n'), nil
}

// Write writes the job file at path atomically: a reader never sees half
// of it.
func (j *Job) Write(path string) error {
	b, err := j.Marshal()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write job file %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, b, 0o644); err != nil {
		return fmt.Errorf("write job file: %w", err)
	}
	return nil
}

// Read reads and validates the job file at path. Unknown fields are an
// error: a job file from a newer controller must not half-run.
func Read(path string) (*Job, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read job file: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var j Job
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("job file %s: %w", path, err)
	}
	if err := j.Validate(); err != nil {
		return nil, fmt.Errorf("job file %s: %w", path, err)
	}
	return &j, nil
}

// PercentileList is the client's --metric-percentiles value ("90,99,99.9",
// InferenceX's, when the job names none).
func (j *Job) PercentileList() string {
	if len(j.Percentiles) == 0 {
		return "90,99,99.9"
	}
	ps := make([]string, len(j.Percentiles))
	for i, p := range j.Percentiles {
		ps[i] = strconv.FormatFloat(p, 'f', -1, 64)
	}
	return strings.Join(ps, ",")
}

// Env is the environment contract of scripts/README.md: the job's env
// values with the contract's variables over them, and for an InferenceX
// job the section's variables over those (InferenceX.env). The framework recipes
// (scripts/server/*.sh) and scripts/lib read these.
func (j *Job) Env() map[string]string {
	env := make(map[string]string, len(j.ExtraEnv)+32)
	for k, v := range j.ExtraEnv {
		env[k] = v
	}
	secs := func(d Duration) string { return strconv.Itoa(int(d.D().Seconds())) }
	contract := map[string]string{
		"FLEET_RUN_ID":       j.RunID,
		"FLEET_JOB_ID":       j.JobID,
		"FLEET_NODE":         j.Node,
		"FLEET_BIN":          BinPath,
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
		"PERCENTILES":        j.PercentileList(),
		"RESULT_FILENAME":    j.ResultFilename,
		"PORT":               strconv.Itoa(j.Port),
		"GPU_COUNT":          strconv.Itoa(j.GPUCount),
		"SERVER_ARGS":        strings.Join(j.ServerArgs, "\n"),
		"CLIENT_ARGS":        strings.Join(j.ClientArgs, "\n"),
		"RUNTIME":            j.Runtime,
		"GPU_TYPE":           j.GPUType,
		"HEALTH_TIMEOUT":     secs(j.HealthTimeout),
		"BENCH_TIMEOUT":      secs(j.BenchTimeout),
	}
	if j.HFHome != "" {
		contract["HF_HOME"] = j.HFHome
	}
	if len(j.Devices) > 0 {
		ids := make([]string, len(j.Devices))
		for i, d := range j.Devices {
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
	j.specEnv(env)
	if j.InferenceX != nil {
		j.InferenceX.env(env, j.HFHome)
	}
	return env
}
