package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// planCmd is a placeholder until its issue lands.
func (a *App) planCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "plan",
		Short: "plan (not yet built)",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not yet built") },
	}
}
