package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// sweepCmd is a placeholder until its issue lands.
func (a *App) sweepCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sweep",
		Short: "sweep (not yet built)",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not yet built") },
	}
}
