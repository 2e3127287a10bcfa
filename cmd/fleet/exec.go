package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/nodes"
	"github.com/fleetbench/fleet/internal/ssh"
	"github.com/fleetbench/fleet/internal/target"
)

func (a *App) execCmd() *cobra.Command {
	var (
		f        sshFlags
		parallel int
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "exec NODE|all|label:LABEL... -- COMMAND [ARG...]",
		Short: "Run a command on many nodes at once",
		Long: `exec runs an ad-hoc shell command on the selected nodes in parallel: node
names, "all", or label:LABEL (nodes with that label or GPU type). Output
lines come prefixed with the node's name as they arrive; a table of exit
statuses follows. COMMAND and its arguments are joined with spaces and run
by the remote shell, as ssh does: quote what the local shell must not
expand.

Exit status 3 when the command failed or could not run on any node.`,
		Example: `  fleet exec all -- nvidia-smi -L
  fleet exec label:h200 node5 -- 'df -h /data | tail -1'`,
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash < 1 || dash == len(args) {
				return usageError{fmt.Errorf("want NODES... -- COMMAND")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if parallel < 1 {
				return usageError{fmt.Errorf("--parallel %d: want at least 1", parallel)}
			}
			dash := cmd.ArgsLenAtDash()
			inv, err := a.nodesInventory(&f)
			if err != nil {
				return err
			}
			sel, err := nodes.Select(inv, args[:dash])
			if err != nil {
				return usageError{err}
			}
			line := strings.Join(args[dash:], " ")
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			results := a.execNodes(ctx, inv, sel, a.sshOptions(&f), line, parallel)
			if err := cmd.Context().Err(); err != nil {
				return err
			}
			if err := writeExecTable(a.Stdout, results); err != nil {
				return err
			}
			for _, r := range results {
				if r.err != nil || r.code != 0 {
					return errSilent{ExitFailed}
				}
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().IntVar(&parallel, "parallel", 64, "run on at most this many nodes at once")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "stop the command everywhere after this long (0: no limit)")
	return cmd
}

type execResult struct {
	node    string
	code    int
	elapsed time.Duration
	err     error
}

// execNodes runs line on every node of sel; output lines go to stdout and
// stderr prefixed with the node's name, padded so the columns line up.
func (a *App) execNodes(ctx context.Context, inv *config.Inventory, sel []*config.Node, o nodes.Options, line string, parallel int) []execResult {
	width := 0
	for _, n := range sel {
		width = max(width, len(n.Name))
	}
	outSink := ssh.NewLines(nil, a.Stdout)
	errSink := ssh.NewLines(nil, a.Stderr)
	results := make([]execResult, len(sel))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, n := range sel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = execResult{node: n.Name, code: -1}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i].err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			label := fmt.Sprintf("%-*s", width, n.Name)
			stdout, stderr := outSink.Writer("node", label), errSink.Writer("node", label)
			h, err := nodes.Open(inv, n, o)
			if err != nil {
				results[i].err = err
				return
			}
			defer h.Close()
			start := time.Now()
			code, err := h.Exec(ctx, line, nil, stdout, stderr)
			results[i].elapsed = time.Since(start)
			stdout.Close()
			stderr.Close()
			results[i].code, results[i].err = code, err
			a.logger().Debug("exec done", "node", n.Name, "code", code, "err", err)
		}()
	}
	wg.Wait()
	return results
}

func writeExecTable(w io.Writer, results []execResult) error {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tEXIT\tTIME\tERROR")
	for _, r := range results {
		code, errText := strconv.Itoa(r.code), "-"
		if r.err != nil {
			code = "-"
			errText = r.err.Error()
			if target.IsTransient(r.err) {
				errText = "(retryable) " + errText
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.node, code, r.elapsed.Round(time.Millisecond), errText)
	}
	return tw.Flush()
}
