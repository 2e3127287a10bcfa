package plan

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// gpuFigures are synthetic, round performance figures per GPU type, close
// enough to published InferenceMAX results to size a sweep, never to
// predict a result.
type gpuFigures struct {
	prefillPerGPU float64       // input tokens per second per GPU
	itl           time.Duration // time per output token of one request at tp8, low concurrency
}

func figuresFor(gpu string) gpuFigures {
	switch strings.ToLower(gpu) {
	case "h100":
		return gpuFigures{12000, 22 * time.Millisecond}
	case "h200":
		return gpuFigures{14000, 18 * time.Millisecond}
	case "b200":
		return gpuFigures{28000, 11 * time.Millisecond}
	case "b300", "gb200":
		return gpuFigures{32000, 10 * time.Millisecond}
	case "gb300":
		return gpuFigures{36000, 9 * time.Millisecond}
	case "mi300x":
		return gpuFigures{11000, 24 * time.Millisecond}
	case "mi325x":
		return gpuFigures{13000, 20 * time.Millisecond}
	case "mi355x":
		return gpuFigures{24000, 13 * time.Millisecond}
	default: // the simulator's default profile, and unknown types
		return gpuFigures{14000, 18 * time.Millisecond}
	}
}

// serverStart is a typical time from launch to a healthy server: image
// already pulled, weights already in the HF cache.
func serverStart(framework string) time.Duration {
	switch strings.TrimPrefix(framework, "dynamo-") { // Dynamo starts the framework's engine
	case "vllm":
		return 5 * time.Minute
	case "sglang":
		return 6 * time.Minute
	case "trt":
		return 10 * time.Minute
	default: // sim
		return 2 * time.Second
	}
}

// satConc is the concurrency at which decode steps take twice as long as
// for a single request: batching is cheap until it is not.
const satConc = 128

// Estimate is a rough duration of a job, for planning only:
//
//	start + rounds × (prefill + osl × itl)
//	rounds  = ceil((num_prompts + num_warmups) / conc)
//	prefill = conc × isl / (prefill tokens/s per GPU × GPUs)
//	itl     = itl(gpu) × sqrt(8 / GPUs) × (1 + conc / 128)
//
// with per-GPU-type synthetic figures and a per-framework server start
// (vllm 5m, sglang 6m, trt 10m, sim 2s). Simulator jobs run on the h200
// figures scaled by the simulator's --time-scale server argument. A
// multi-node job starts once and sums the work of every concurrency of
// its list. An agentic job replays for its duration whatever the GPU:
// start + duration (its warmup is short beside it).
func Estimate(j *Job) time.Duration {
	gpu := j.GPU
	if gpu == "" && len(j.Runner) > 0 {
		gpu = j.Runner[0]
	}
	return estimateOn(j, gpu)
}

// estimateOn estimates a job on a GPU type, so placement can compare
// candidates of different types.
func estimateOn(j *Job, gpu string) time.Duration {
	if j.Agentic != nil {
		return serverStart(j.Framework) + time.Duration(j.Agentic.DurationS)*time.Second
	}
	f := figuresFor(gpu)
	gpus := float64(max(j.GPUs(), 1))
	concs := []int{j.Conc}
	if j.Multi != nil && len(j.ConcList) > 0 {
		// One deployment runs the client at each concurrency in turn,
		// each with its own prompts (as many per unit of concurrency as
		// the first's).
		concs = j.ConcList
	}
	var work float64
	for _, c := range concs {
		conc := float64(max(c, 1))
		rounds := math.Ceil(float64(j.NumPrompts+j.NumWarmups) / float64(max(j.Conc, 1)))
		prefill := conc * float64(j.ISL) / (f.prefillPerGPU * gpus)
		itl := f.itl.Seconds() * math.Sqrt(8/gpus) * (1 + conc/satConc)
		work += rounds * (prefill + float64(j.OSL)*itl)
	}
	if j.Framework == "sim" {
		work *= timeScale(j.ServerArgs)
	}
	// Converting a float beyond Duration's range gives any value, negative
	// ones included: an absurd job (huge osl, a --time-scale of 1e300)
	// is estimated at the cap instead.
	if !(work >= 0 && work < MaxEstimate.Seconds()) {
		return MaxEstimate
	}
	return serverStart(j.Framework) + time.Duration(work*float64(time.Second)).Round(time.Millisecond)
}

// MaxEstimate caps the estimate of one job; plans add estimates with
// addSat, so no sum overflows either.
const MaxEstimate = 10 * 365 * 24 * time.Hour

// addSat adds two non-negative durations, saturating instead of wrapping
// around to a negative makespan.
func addSat(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// timeScale reads the simulator's --time-scale (1 when absent or bad).
func timeScale(args []string) float64 {
	for i, a := range args {
		v, ok := "", false
		switch {
		case a == "--time-scale" && i+1 < len(args):
			v, ok = args[i+1], true
		case strings.HasPrefix(a, "--time-scale="):
			v, ok = strings.TrimPrefix(a, "--time-scale="), true
		}
		if ok {
			if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
				return s
			}
		}
	}
	return 1
}

// GPUHours is the GPU time a job occupies, in hours.
func GPUHours(j *Job) float64 {
	return Estimate(j).Hours() * float64(j.GPUs())
}
