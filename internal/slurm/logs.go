package slurm

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/fleetbench/fleet/internal/shellquote"
	"github.com/fleetbench/fleet/internal/target"
)

// followScript follows the job's log on the login node (the shared
// filesystem shows what the compute node writes). While the job is queued
// there is no log yet: it waits for the file without printing anything.
// It ends by itself when the batch script records its exit status, or
// when fleet creates the stop file (the job ended some other way: node
// lost, cancelled, timed out); tail dies with the shell (--pid) when fleet
// drops the connection.
func followScript(dir, stop string) string {
	return fmt.Sprintf(`cd %s 2>/dev/null || exit 0
stop=%s
while [ ! -e job.log ]; do
  [ -e "$stop" ] && { rm -f "$stop"; exit 0; }
  [ -d .fleet ] || exit 0
  sleep 0.5
done
tail -n +1 -s 0.5 -F --pid=$$ job.log 2>/dev/null &
t=$!
while [ ! -e .fleet/exit ] && [ ! -e "$stop" ] && [ -d .fleet ]; do sleep 0.5; done
# tail polls a network filesystem: give it time to print the last lines.
sleep 1.5
kill $t 2>/dev/null
wait $t 2>/dev/null
rm -f "$stop"
exit 0`, shellquote.Quote(dir), shellquote.Quote(stop))
}

// stopFollowing creates the stop file of followScript, unless the job's
// .fleet directory is gone (the work directory was cleaned up).
func stopFollowing(stop string) string {
	return "[ -d " + shellquote.Quote(path.Dir(stop)) + " ] && touch " + shellquote.Quote(stop)
}

// Logs follows the job's output (its --output file in the work directory)
// into w until the job ends or ctx is done. It prints nothing and does
// not block the caller's Wait while the job is queued.
func (t *Target) Logs(ctx context.Context, h target.Handle, w io.Writer) error {
	ref, err := parseRef(h.Ref)
	if err != nil {
		return fmt.Errorf("cluster %s: logs of %s: %w", t.Name(), h.JobID, err)
	}
	if h.WorkDir == "" {
		return fmt.Errorf("cluster %s: logs of %s: handle has no work dir", t.Name(), h.JobID)
	}
	ended, unwatch := t.poll.watch(ref, h.WorkDir)
	defer unwatch()

	t.mu.Lock()
	t.followers++
	stop := path.Join(h.WorkDir, ".fleet", fmt.Sprintf("logs-stop.%d-%d", os.Getpid(), t.followers))
	t.mu.Unlock()

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := t.host.Exec(fctx, followScript(h.WorkDir, stop), nil, w, io.Discard)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("cluster %s: follow log of %s: %w", t.Name(), h.JobID, err)
		}
		return nil
	case <-ended:
	case <-ctx.Done():
	}
	// Ask the follower to print what is left and stop; it also stops by
	// itself when its connection goes (tail --pid).
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	t.host.Exec(sctx, stopFollowing(stop), nil, nil, nil)
	scancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel()
		<-done
	}
	return nil
}
