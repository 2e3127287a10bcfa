package main

import (
	"errors"

	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/jobrun"
	"github.com/fleetbench/fleet/internal/jobspec"
)

// jobCmd is `fleet job`: what scripts/job.sh runs on the node once the
// machine is ready (GPUs idle, model downloaded).
func (a *App) jobCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job [JOBFILE]",
		Short: "Run one benchmark job from its job file, in its work directory (used by scripts/job.sh)",
		Long: `fleet job runs one job on the node from its job file (default ` + jobspec.Path + `,
written by the controller): it picks a free port from the preferred one,
starts scripts/server/<framework>.sh with the environment contract of
scripts/README.md, waits for /health, runs the benchmark client, writes
results/<result_filename>.json, stops the server, and exits with the code of
the exit code table in scripts/README.md. It prints progress lines
(` + jobspec.ProgressPrefix + `{json}) as it goes.

A job file with an inferencex section runs one of InferenceX's own
benchmark scripts instead: the checkout's bundle is unpacked into the
job's workspace, the script runs there (the container's /workspace) through
scripts/server/inferencex.sh with InferenceX's environment contract, and
<workspace>/<result_filename>.json is collected into results/; the script
starts its own server and client.

A job file with a multi section is one node's part of a multi-node job:
FLEET_NODE_RANK says which node of the layout this is. The head node (rank
0) serves a rendezvous where every node registers its processes' ports;
each node starts its processes (scripts/server/<framework>.sh with ROLE and
the other variables of scripts/README.md); the head checks every worker's
/health, starts the router, and runs the client at each concurrency of the
list. A process that dies, or a node that falls silent, ends the job on
every node.

SERVER_STOP_GRACE (seconds, 30), HEALTH_POLL (seconds, 0.5: the longest pause between health probes) and
NODE_LOST_AFTER (seconds, 15) tune it.`,
		Hidden: true,
		Args:   cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := jobspec.Path
			if len(args) == 1 {
				path = args[0]
			}
			j, err := jobspec.Read(path)
			if err != nil {
				return withCode(jobspec.ExitBadEnv, err)
			}
			dir, err := os.Getwd()
			if err != nil {
				return withCode(jobspec.ExitBadEnv, err)
			}
			self, err := os.Executable()
			if err != nil {
				self = filepath.Join(dir, jobspec.BinPath)
			}
			o := jobrun.Options{Dir: dir, Job: j, Out: cmd.OutOrStdout(), Self: self, Version: version(),
				StopGrace: a.seconds("SERVER_STOP_GRACE"), HealthPoll: a.seconds("HEALTH_POLL"),
				NodeLostAfter: a.seconds("NODE_LOST_AFTER")}
			if a.Environ != nil {
				o.Environ = a.Environ()
			}
			err = jobrun.Run(cmd.Context(), o)
			var f *jobrun.Failure
			if errors.As(err, &f) {
				return withCode(f.Code, err)
			}
			return err
		},
	}
	return cmd
}

// seconds reads a duration in seconds from the environment (0 when unset
// or not a number: the default applies).
func (a *App) seconds(name string) time.Duration {
	if a.Getenv == nil {
		return 0
	}
	v, err := strconv.ParseFloat(a.Getenv(name), 64)
	if err != nil || v <= 0 {
		return 0
	}
	return time.Duration(v * float64(time.Second))
}
