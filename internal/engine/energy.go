package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/energy"
	"github.com/fleetbench/fleet/internal/inferencex/ixresult"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/topology"
)

// gpuSamples is one node's GPU monitor file in a job's directory.
type gpuSamples struct {
	node string // "" on one node; the rank on several
	path string // relative to the job's directory
}

// singleNodeSamples is where a single-node fleet job's monitor writes.
func singleNodeSamples() []gpuSamples {
	return []gpuSamples{{path: jobspec.GPUMonitorPath}}
}

// multiNodeSamples are every node's monitor files of a multi-node job:
// the head node's logs/gpu.csv and each other node's logs/gpu-<rank>.csv.
func multiNodeSamples(l topology.Layout) []gpuSamples {
	var out []gpuSamples
	for _, n := range l.Nodes {
		p := jobspec.GPUMonitorPath
		if n.Rank > 0 {
			p = jobspec.NodeGPUMetricsPath(n.Rank)
		}
		out = append(out, gpuSamples{node: strconv.Itoa(n.Rank), path: p})
	}
	return out
}

// zoneFiles are the monitor's zone files beside the samples, to fetch.
func zoneFiles(s []gpuSamples) []string {
	out := make([]string, len(s))
	for i, f := range s {
		out[i] = jobspec.GPUZonePath(f.path)
	}
	return out
}

// setEnergy measures the GPU energy of the benchmark whose client result
// is raw from the samples that came back (every node's, all of the job's
// gpus together) and writes it into the row. A job whose nodes have no
// GPU monitor (no GPUs) gets power_valid 0 and telemetry_file_missing.
func setEnergy(row *results.Row, raw []byte, jobDir string, gpus int, files []gpuSamples) {
	var tel []energy.Telemetry
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(jobDir, filepath.FromSlash(f.path)))
		t := energy.Telemetry{CSV: b, Node: f.node, Location: monitorZone(filepath.Join(jobDir, filepath.FromSlash(jobspec.GPUZonePath(f.path))))}
		if errors.Is(err, os.ErrNotExist) {
			t.Missing = true
		}
		tel = append(tel, t)
	}
	row.SetEnergy(energy.Measure(raw, gpus, tel...))
}

// monitorZone is the zone of a GPU monitor's timestamps as its node
// recorded it (seconds east of UTC); UTC when it did not.
func monitorZone(path string) *time.Location {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.UTC
	}
	offset, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || offset < -14*3600 || offset > 14*3600 {
		return time.UTC
	}
	return time.FixedZone("", offset)
}

// setIXEnergyDetail adds to an InferenceX job's row what its aggregated
// row lacks of the power measurement (results.Row.SetEnergyDetail): why
// it is invalid, the window, the samples and the peak power.
func setIXEnergyDetail(row *results.Row, raw []byte, power *ixresult.PowerInput, gpus int) {
	var tel []energy.Telemetry
	if power != nil {
		tel = append(tel, energy.Telemetry{CSV: power.CSV, Location: power.Location})
		if power.ExpectedGPUs > 0 {
			gpus = power.ExpectedGPUs
		}
	}
	row.SetEnergyDetail(energy.Measure(raw, gpus, tel...))
}
