package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// simCmd is a placeholder until its issue lands.
func (a *App) simCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sim",
		Short: "sim (not yet built)",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not yet built") },
	}
}
