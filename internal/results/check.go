package results

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Bounds of what a row may hold. A result file comes from a node or from
// an import, and a number that is not finite, negative where that means
// nothing, or absurdly large (an int that wrapped, a throughput of 1e300)
// breaks charts, Pareto frontiers and JSON export long after it came in.
const (
	// MaxThroughput bounds tokens per second per GPU: a million times
	// what any GPU does today.
	MaxThroughput = 1e12
	// MaxMetric bounds the magnitude of any other metric (seconds,
	// tokens per second per user).
	MaxMetric = 1e12
	// MaxCount bounds counts and sizes: tp, ep, concurrency, sequence
	// lengths, requests completed and failed.
	MaxCount = 1<<31 - 1
)

// Check returns an error naming the first field whose value a row cannot
// hold: a number that is not finite or out of range.
func (r *Row) Check() error {
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"tput_per_gpu", r.TputPerGPU}, {"output_tput_per_gpu", r.OutputTputPerGPU}, {"input_tput_per_gpu", r.InputTputPerGPU},
	} {
		if err := checkFloat(f.name, f.v, 0, MaxThroughput); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"tp", r.TP}, {"ep", r.EP}, {"conc", r.Conc}, {"isl", r.ISL}, {"osl", r.OSL}, {"completed", r.Completed}, {"failed", r.Failed},
	} {
		if f.v < 0 || f.v > MaxCount {
			return fmt.Errorf("%s is %d: want a count from 0 to %d", f.name, f.v, MaxCount)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Metrics)) {
		if err := checkFloat(k, r.Metrics[k], -MaxMetric, MaxMetric); err != nil {
			return err
		}
	}
	return r.checkEvals()
}

func checkFloat(name string, v, lo, hi float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%s is %v: want a finite number", name, v)
	}
	if v < lo || v > hi {
		return fmt.Errorf("%s is %g: want a number from %g to %g", name, v, lo, hi)
	}
	return nil
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// countField reads a count from a client result's number, refusing what
// would not convert to an int faithfully.
func countField(name string, v float64) (int, error) {
	if !finite(v) || v < 0 || v > MaxCount || v != math.Trunc(v) {
		return 0, fmt.Errorf("client result: %s is %v: want a whole number from 0 to %d", name, v, MaxCount)
	}
	return int(v), nil
}

// ParseRow decodes one aggregated row and checks it.
func ParseRow(b []byte) (*Row, error) {
	var r Row
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return &r, nil
}
