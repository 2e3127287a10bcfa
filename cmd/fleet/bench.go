package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// benchCmd is a placeholder until its issue lands.
func (a *App) benchCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "bench",
		Short: "bench (not yet built)",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not yet built") },
	}
}
