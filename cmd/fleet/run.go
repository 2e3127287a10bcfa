package main

import (
	"strconv"

	"github.com/spf13/cobra"
)

// runCmd reruns one config on one machine: the sweep machinery with the
// filters spelled as flags.
func (a *App) runCmd() *cobra.Command {
	var (
		o            sweepOptions
		configKey    string
		seq          string
		tp, ep, conc int
	)
	cmd := &cobra.Command{
		Use:   "run [SWEEP] --node NAME [--config KEY] [--seq SEQ] [--tp N] [--conc N]",
		Short: "Run one config on one machine, ad hoc (when something looks off)",
		Long: `Run the jobs of SWEEP (default: the embedded demo) that match the given
config key, sequence lengths, tp, ep and concurrency, on one machine. It is
'fleet sweep' with --node and --only filters spelled as flags, and writes
an ordinary run directory.`,
		Example: `  fleet run sweeps/full.hcl -i inventory.hcl --node h200-1 --config dsr1-fp8-h200-sglang --seq 1k1k --tp 8 --conc 64
  fleet run --node local --conc 8`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.sweepPath = args[0]
			}
			add := func(key, val string) { o.plan.only = append(o.plan.only, key+"="+val) }
			if configKey != "" {
				add("config", configKey)
			}
			if seq != "" {
				add("seq", seq)
			}
			for key, v := range map[string]int{"tp": tp, "ep": ep, "conc": conc} {
				if v > 0 {
					add(key, strconv.Itoa(v))
				}
			}
			return a.runSweep(cmd.Context(), &o)
		},
	}
	o.register(cmd)
	cmd.Flags().StringVar(&configKey, "config", "", "config key (glob)")
	cmd.Flags().StringVar(&seq, "seq", "", "scenario: 1k1k, 1k8k, 8k1k, ...")
	cmd.Flags().IntVar(&tp, "tp", 0, "tensor parallel size")
	cmd.Flags().IntVar(&ep, "ep", 0, "expert parallel size")
	cmd.Flags().IntVar(&conc, "conc", 0, "concurrency")
	cmd.MarkFlagRequired("node")
	return cmd
}
