package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/inferencex/matrix"
)

func (a *App) inferencexCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inferencex",
		Short: "Read an InferenceX checkout: its matrix as its generator makes it, and fleet's native sweep from it",
		Long: `InferenceX (formerly InferenceMAX) keeps its benchmark matrix in master
configs (configs/nvidia-master.yaml, configs/amd-master.yaml) and expands
them with its generator. fleet reads a checkout as it is:

  fleet plan --inferencex DIR        plan its jobs on the inventory
  fleet sweep --inferencex DIR       run them with the checkout's own scripts
  fleet inferencex matrix DIR ...    the generator's rows, as JSON
  fleet inferencex convert DIR       fleet's native sweep (sweeps/full.hcl)`,
	}
	cmd.AddCommand(a.inferencexMatrixCmd(), a.inferencexConvertCmd())
	return cmd
}

func (a *App) inferencexMatrixCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "matrix DIR [full-sweep|test-config] [GENERATOR FLAGS...]",
		Short: "Print the rows InferenceX's matrix generator makes, from fleet's own reading of the checkout",
		Long: `matrix expands DIR's master configs exactly as InferenceX's generator
(utils/matrix_logic/generate_sweep_configs.py) does and prints its JSON
array of rows. The arguments after DIR are the generator's own command
line, so one can be pasted: full-sweep or test-config, --config-files,
--runner-config, --single-node, --multi-node, --no-evals, --evals-only,
--all-evals, --config-keys, --conc, --seq-lens, --model-prefix, ... Paths
are relative to DIR. Without arguments: full-sweep of both master configs.

scripts/compare-inferencex.sh DIR [ARGS] runs the checkout's generator and
this command and compares their rows.`,
		Example: `  fleet inferencex matrix ~/src/InferenceX
  fleet inferencex matrix ~/src/InferenceX full-sweep --single-node --evals-only
  fleet inferencex matrix ~/src/InferenceX test-config --config-keys 'dsr1-fp8-*' --conc 4 8`,
		// The generator's flags pass through as they are.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
				if len(args) == 0 {
					return usageError{fmt.Errorf("matrix needs the checkout's directory: fleet inferencex matrix DIR [GENERATOR ARGS]")}
				}
				return cmd.Help()
			}
			dir, rest := args[0], args[1:]
			if len(rest) == 0 {
				rest = []string{"full-sweep"}
			}
			sel, err := matrix.ParseArgs(rest)
			if err != nil {
				return usageError{err}
			}
			m, err := a.loadMatrix(dir, sel.ConfigFiles, sel.RunnerConfig)
			if err != nil {
				return err
			}
			rows, err := m.Generate(sel)
			if err != nil {
				return withCode(ExitError, fmt.Errorf("%s: %w", dir, err))
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if rows == nil {
				return enc.Encode([]any{})
			}
			return enc.Encode(rows)
		},
	}
}

func (a *App) inferencexConvertCmd() *cobra.Command {
	var configFiles []string
	var runnerConfig string
	cmd := &cobra.Command{
		Use:   "convert DIR",
		Short: "Write fleet's native sweep (sweeps/full.hcl) from an InferenceX checkout's master configs",
		Long: `convert regenerates fleet's native sweep from DIR's master configs, so
sweeps/full.hcl is never kept by hand: every single-node fixed-length
config whose framework fleet's own launchers run (vllm, sglang, trt)
becomes a config block; the rest are listed in comments with the reason.
The output loads with fleet plan as it is.`,
		Example: `  fleet inferencex convert ~/src/InferenceX > sweeps/full.hcl`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.loadMatrix(args[0], configFiles, runnerConfig)
			if err != nil {
				return err
			}
			return matrix.WriteHCL(cmd.OutOrStdout(), m, "fleet inferencex convert "+args[0])
		},
	}
	cmd.Flags().StringArrayVar(&configFiles, "config-file", nil, "master config file, relative to DIR (default configs/nvidia-master.yaml and configs/amd-master.yaml); repeatable")
	cmd.Flags().StringVar(&runnerConfig, "runner-config", "", "runner labels file, relative to DIR (default configs/runners.yaml)")
	return cmd
}

// loadMatrix reads a checkout's master configs, printing diagnostics
// (with the YAML's lines) to stderr.
func (a *App) loadMatrix(dir string, configFiles []string, runnerConfig string) (*matrix.Matrix, error) {
	// The directory as given: what convert writes names it so, and
	// diagnostics read like the user's own paths.
	m, diags := matrix.Load(config.ExpandHome(dir), configFiles, runnerConfig)
	if len(diags) > 0 {
		if err := config.NewLoader(nil).WriteDiagnostics(a.Stderr, diags, isTerminal(a.Stderr)); err != nil {
			return nil, err
		}
	}
	if diags.HasErrors() {
		return nil, errSilent{ExitError}
	}
	return m, nil
}
