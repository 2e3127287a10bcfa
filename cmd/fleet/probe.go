package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// probeCmd is what job scripts use to poll a server's health: nodes need
// no curl, only the fleet binary that fleet pushes anyway.
func (a *App) probeCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:    "probe URL",
		Short:  "Exit 0 when GET URL answers 200 (used by job scripts for health checks)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
			if err != nil {
				return usageError{err}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return withCode(ExitFailed, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return withCode(ExitFailed, fmt.Errorf("GET %s: %s", args[0], resp.Status))
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}
