package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/termtext"
)

// hookTimeout bounds an on_finish hook: it reports, it does not work.
const hookTimeout = 5 * time.Minute

// runOnFinish runs the sweep's on_finish hook (argv, no shell) with the
// run's summary as JSON on stdin and FLEET_RUN_ID, FLEET_RUN_DIR and
// FLEET_EXIT (the sweep's exit code) in its environment. Its output goes
// to the controller's log; its failure is logged, never the sweep's.
func runOnFinish(ctx context.Context, lg *log.Logger, argv []string, env []string, s *run.Summary, exit int) {
	if len(argv) == 0 || s == nil {
		return
	}
	b, err := json.Marshal(s)
	if err != nil {
		lg.Warn("on_finish: summary", "err", err)
		return
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hookTimeout)
	defer cancel()
	cmd := exec.CommandContext(hctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(b)
	cmd.Env = append(env, "FLEET_RUN_ID="+s.RunID, "FLEET_RUN_DIR="+s.RunDir, "FLEET_EXIT="+strconv.Itoa(exit))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	text := termtext.Line(out.String(), 2048)
	if err != nil {
		lg.Warn("on_finish hook failed", "command", argv[0], "err", err, "output", text)
		return
	}
	lg.Info("on_finish hook ran", "command", argv[0], "output", text)
}
