// Package scripts holds what runs on the machines: the job driver and the
// server launchers. They are embedded in the fleet binary, which pushes
// them into every job's work directory, so a node needs nothing from here.
package scripts

import "embed"

// FS holds job.sh, the GPU monitor, lib/*.sh, server/*.sh and eval/*.sh.
//
//go:embed job.sh gpu-monitor.sh lib/*.sh server/*.sh eval/*.sh
var FS embed.FS
