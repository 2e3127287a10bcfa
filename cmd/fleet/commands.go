package main

import "github.com/spf13/cobra"

// extraCmds lists the commands added by later issues (nodes, exec, run,
// status, report, results, compare), each in its own file.
func (a *App) extraCmds() []*cobra.Command {
	return []*cobra.Command{a.nodesCmd(), a.execCmd(), a.reportCmd(), a.resultsCmd(), a.compareCmd(), a.scheduleCmd(), a.evalCmd()}
}
