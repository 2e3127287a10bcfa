package launch

import (
	"encoding/json"
	"strconv"

	"github.com/fleetbench/fleet/internal/inferencex"
)

// Paths inside the container, as InferenceX's workflow and launchers set
// them: the checkout is mounted at /workspace (the scripts' cwd) and the
// Hugging Face hub cache at /mnt/hf_hub_cache/.
const (
	ContainerWorkspace  = "/workspace"
	ContainerHFHubCache = "/mnt/hf_hub_cache/"
)

// The workflow's fixed values for a single-node job.
const (
	rangeRatio             = "0.8"
	defaultDuration        = 3600
	failedRequestThreshold = "0.10"
	pycachePrefix          = "/tmp/inferencex-pycache"
)

// Env is the environment InferenceX's single-node benchmark workflow and
// launcher give the job's script: the row's values under the workflow's
// names, with RUNNER_NAME (the machine the job runs on) and
// RESULT_FILENAME (the single-node result name, computed by the caller).
//
// Secrets are never in it: HF_TOKEN reaches the job through the machine's
// env_from secrets. PORT is left to the node, which picks a free port.
// Inputs the workflow leaves empty for this kind of row are set empty,
// as the workflow sets them.
func Env(j *inferencex.Job, runnerName, resultFilename string) map[string]string {
	itoa := strconv.Itoa
	boolean := strconv.FormatBool
	agentic := j.Agentic()
	env := map[string]string{
		"MODEL":              j.Model,
		"MODEL_PREFIX":       j.ModelPrefix,
		"EXP_NAME":           j.ExpName,
		"IMAGE":              j.Image,
		"FRAMEWORK":          j.Framework,
		"PRECISION":          j.Precision,
		"RECIPE_FINGERPRINT": j.RecipeFingerprint,
		"TP":                 itoa(j.TP),
		"PP_SIZE":            itoa(max(j.PP, 1)),
		"DCP_SIZE":           itoa(max(j.DCPSize, 1)),
		"PCP_SIZE":           itoa(max(j.PCPSize, 1)),
		"EP_SIZE":            itoa(max(j.EP, 1)),
		"DP_ATTENTION":       boolean(j.DPAttn),
		"CONC":               itoa(j.FirstConc()),
		"SPEC_DECODING":      orDefault(j.SpecDecoding, "none"),
		"DISAGG":             boolean(j.Disagg && !agentic),
		"RUN_EVAL":           boolean(isTrue(j.RunEval)),
		"EVAL_ONLY":          boolean(isTrue(j.EvalOnly)),
		"GPU_COUNT":          itoa(j.GPUs()),
		"RUNNER_TYPE":        j.Runner,
		"RUNNER_NAME":        runnerName,
		"RESULT_FILENAME":    resultFilename,
		"RANDOM_RANGE_RATIO": rangeRatio,
		"HF_HUB_CACHE":       ContainerHFHubCache,

		"SCENARIO_TYPE":               inferencex.FixedSeqLen,
		"SCENARIO_SUBDIR":             ScenarioSubdir(j),
		"IS_AGENTIC":                  "0",
		"KV_OFFLOADING":               j.KVOffloading,
		"KV_OFFLOAD_BACKEND":          "",
		"KV_OFFLOAD_BACKEND_METADATA": componentJSON(j.KVOffloadBackend),
		"ROUTER_METADATA":             componentJSON(j.Router),
		"KV_P2P_TRANSFER":             j.KVP2PTransfer,
		"TOTAL_CPU_DRAM_GB":           itoa(j.TotalCPUDramGB),
		// The workflow's default, which fixed-seq-len rows keep too.
		"DURATION": itoa(defaultDuration),

		"REQUIRE_POWER":                   "0",
		"AIPERF_EXPERIMENTAL_FAST":        "0",
		"AIPERF_FAILED_REQUEST_THRESHOLD": failedRequestThreshold,
		"EVAL_LIMIT":                      "",
		"SWEBENCH_GEN_MODE":               "",
		"SWEBENCH_USE_MODAL":              "true",
		"RESULT_DIR":                      ContainerWorkspace + "/results",
		"PYTHONDONTWRITEBYTECODE":         "1",
		"PYTHONPYCACHEPREFIX":             pycachePrefix,
	}
	if j.KVOffloadBackend != nil {
		env["KV_OFFLOAD_BACKEND"] = j.KVOffloadBackend.Name
	}
	if agentic {
		// Agentic rows have no sequence lengths: the workflow passes 0 and
		// InferenceX's library drops MAX_MODEL_LEN for them.
		env["ISL"], env["OSL"], env["MAX_MODEL_LEN"] = "0", "0", "0"
		env["SCENARIO_TYPE"] = inferencex.AgenticCoding
		env["IS_AGENTIC"] = "1"
		if j.Duration > 0 {
			env["DURATION"] = itoa(j.Duration)
		}
	} else {
		env["ISL"], env["OSL"], env["MAX_MODEL_LEN"] = itoa(j.ISL), itoa(j.OSL), itoa(j.MaxModelLen)
	}
	return env
}

// componentJSON is a {name, version} object as the workflow passes it
// (JSON), or empty when the row has none.
func componentJSON(c *inferencex.Component) string {
	if c == nil {
		return ""
	}
	b, err := json.Marshal(c)
	if err != nil {
		return ""
	}
	return string(b)
}

func isTrue(b *bool) bool { return b != nil && *b }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
