package jobspec

import "strings"

// GPUMonitorPath is where a fleet job's GPU monitor (scripts/gpu-monitor.sh)
// writes its samples on a single node, or on the head node (rank 0) of a
// multi-node job; the other nodes write NodeGPUMetricsPath(rank).
const GPUMonitorPath = "logs/gpu.csv"

// GPUZonePath is the file the GPU monitor writes beside its samples
// (logs/gpu.csv: logs/gpu.zone): the UTC offset, in seconds, of the
// node's clock its timestamps are in, since nvidia-smi writes local time
// without a zone.
func GPUZonePath(samples string) string { return strings.TrimSuffix(samples, ".csv") + ".zone" }
