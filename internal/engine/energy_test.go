package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/energy"
	"github.com/fleetbench/fleet/internal/results"
)

// monitorFile writes what a node's GPU monitor leaves: gpus GPUs drawing
// watts, a sample a second from 2 s before the window [0, 10] to 2 s
// after it, in the zone offset seconds east of UTC, and the zone file.
func monitorFile(t *testing.T, jobDir, rel string, gpus int, watts float64, offset int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp, index, power.draw [W], clocks.current.sm [MHz], clocks.current.memory [MHz], memory.used [MiB], utilization.gpu [%]\n")
	zone := time.FixedZone("", offset)
	for s := -2; s <= 12; s++ {
		ts := time.Unix(int64(1700000000+s), 0).In(zone).Format("2006/01/02 15:04:05.000")
		for g := 0; g < gpus; g++ {
			fmt.Fprintf(&b, "%s, %d, %.2f W, 1980 MHz, 2619 MHz, 70000 MiB, 97 %%\n", ts, g, watts)
		}
	}
	p := filepath.Join(jobDir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(strings.TrimSuffix(p, ".csv")+".zone", []byte(fmt.Sprintln(offset)), 0o644); err != nil {
		t.Fatal(err)
	}
}

var clientResult = []byte(`{"benchmark_start_time_unix": 1700000000.0, "benchmark_end_time_unix": 1700000010.0, "duration": 10.0,
	"completed": 10, "total_input_tokens": 4000, "total_output_tokens": 2000}`)

func TestSetEnergyAddsUpEveryNode(t *testing.T) {
	nodes := []gpuSamples{{node: "0", path: "logs/gpu.csv"}, {node: "1", path: "logs/gpu-1.csv"}}
	for _, c := range []struct {
		name    string
		write   func(t *testing.T, dir string)
		gpus    int
		files   []gpuSamples
		reasons []string
		energy  float64
	}{
		{name: "one node, 2 GPUs at 300 W for 10 s", gpus: 2, files: singleNodeSamples(), energy: 6000,
			write: func(t *testing.T, dir string) { monitorFile(t, dir, "logs/gpu.csv", 2, 300, 0) }},
		{name: "two nodes in different zones: 2 x 300 W and 2 x 100 W", gpus: 4, files: nodes, energy: 8000,
			write: func(t *testing.T, dir string) {
				monitorFile(t, dir, "logs/gpu.csv", 2, 300, 0)
				monitorFile(t, dir, "logs/gpu-1.csv", 2, 100, 3600)
			}},
		{name: "a node's samples missing", gpus: 4, files: nodes, reasons: []string{energy.ReasonTelemetryFileMissing},
			write: func(t *testing.T, dir string) { monitorFile(t, dir, "logs/gpu.csv", 2, 300, 0) }},
		{name: "a node seeing fewer GPUs", gpus: 4, files: nodes, reasons: []string{energy.ReasonGPUCountMismatch},
			write: func(t *testing.T, dir string) {
				monitorFile(t, dir, "logs/gpu.csv", 2, 300, 0)
				monitorFile(t, dir, "logs/gpu-1.csv", 1, 100, 0)
			}},
		{name: "no GPU monitor (no GPUs)", gpus: 2, files: singleNodeSamples(), reasons: []string{energy.ReasonTelemetryFileMissing},
			write: func(*testing.T, string) {}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.write(t, dir)
			row := &results.Row{Metrics: map[string]float64{}}
			setEnergy(row, clientResult, dir, c.gpus, c.files)
			if got := row.PowerReasons(); !reflect.DeepEqual(got, append([]string{}, c.reasons...)) {
				t.Fatalf("reasons %q, want %q", got, c.reasons)
			}
			if c.reasons != nil {
				return
			}
			if got := row.Metrics[results.KeyEnergyJ]; !row.PowerValid() || got < c.energy-1e-6 || got > c.energy+1e-6 {
				t.Errorf("energy %v (valid %v), want %v", got, row.PowerValid(), c.energy)
			}
		})
	}
}

func TestZoneFilesBesideTheSamples(t *testing.T) {
	if got := zoneFiles(append(singleNodeSamples(), gpuSamples{node: "1", path: "logs/gpu-1.csv"})); !reflect.DeepEqual(got,
		[]string{"logs/gpu.zone", "logs/gpu-1.zone"}) {
		t.Errorf("zone files %q", got)
	}
}
