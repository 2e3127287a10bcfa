// Package plan expands a sweep into jobs, filters them, and places them on
// the machines of an inventory.
package plan

// Job is one benchmark run: one server configuration at one concurrency.
type Job struct {
	// ID is stable across runs and retries: it derives from the config key
	// and the point in the search space, never from the placement.
	ID          string
	Config      string // config key
	Model       string
	ModelPrefix string
	Image       string
	Precision   string
	Framework   string
	Runner      []string
	GPU         string // GPU type the placement chose (or the config asked for)
	Seq         string // scenario name: 1k1k, 1k8k, 8k1k
	ISL, OSL    int
	MaxModelLen int
	TP, EP, PP  int
	DPAttn      bool
	Conc        int
	ServerArgs  []string
	Env         map[string]string

	RangeRatio  float64
	NumPrompts  int
	NumWarmups  int
	Percentiles []float64
	ClientArgs  []string

	// Node is the inventory node or cluster the job is placed on; empty
	// until placed. Candidates lists every machine that fits.
	Node       string
	Candidates []string
}

// GPUs is how many GPUs the job occupies (tp x pp on a single node).
func (j *Job) GPUs() int {
	pp := j.PP
	if pp < 1 {
		pp = 1
	}
	return j.TP * pp
}
