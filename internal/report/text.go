package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/termtext"
)

// Bounds of text shown in the terminal report, in bytes: names and keys
// in table cells, and failure reasons.
const (
	maxCell   = 128
	maxReason = 2 << 10
)

// textCell makes a name from the store (a run id, a GPU type, a framework:
// any of them may come from an imported file) safe for a table cell.
func textCell(s string) string { return termtext.Line(s, maxCell) }

// WriteText prints the report for a terminal: the summary table (one per
// run), the frontiers and the success rates.
func (rep *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s\n\n", termtext.Line(rep.Title, 0))
	multi := len(rep.Runs) > 1
	for _, run := range rep.Runs {
		var rows []*results.Row
		for _, r := range rep.Rows {
			if r.RunID == run || !multi {
				rows = append(rows, r)
			}
		}
		if multi {
			fmt.Fprintf(w, "Run %s\n", textCell(run))
		}
		if len(rows) == 0 && len(rep.agentic) == 0 {
			fmt.Fprintln(w, "No results: no job ended done.")
		} else if len(rows) == 0 {
			fmt.Fprintln(w, "No fixed-length results.")
		} else if err := results.WriteTable(w, rows); err != nil {
			return err
		}
		fmt.Fprintln(w)
		if !multi {
			break
		}
	}

	if err := rep.writeAgentic(w); err != nil {
		return err
	}
	if err := rep.writeEvals(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "Pareto frontier: throughput per GPU against median interactivity")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// A SHAPE column, as in the summary table, when a point is multi-node.
	withShape := false
	for _, f := range rep.Frontiers {
		for _, p := range f.Points {
			withShape = withShape || p.Shape != ""
		}
	}
	shapeHead := ""
	if withShape {
		shapeHead = "SHAPE\t"
	}
	fmt.Fprintln(tw, "FRONTIER\tFRAMEWORK\tPRECISION\t"+shapeHead+"TP\tEP\tDPA\tCONC\tINTVTY tok/s/user\tTPUT/GPU tok/s")
	for _, f := range rep.Frontiers {
		for i, p := range f.Points {
			name := ""
			if i == 0 {
				name = f.Key
			}
			shape := ""
			if withShape {
				shape = textCell(p.Shape)
				if shape == "" {
					shape = "-"
				}
				shape += "\t"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s%d\t%d\t%t\t%d\t%s\t%s\n", textCell(name), textCell(p.Framework), textCell(p.Precision), shape, p.TP, p.EP, p.DPAttention,
				p.Conc, strconv.FormatFloat(p.Interactivity, 'f', 1, 64), strconv.FormatFloat(p.TputPerGPU, 'f', 1, 64))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return rep.writeSuccess(w)
}

func (rep *Report) writeSuccess(w io.Writer) error {
	fmt.Fprintln(w, "Success rate per GPU type")
	if len(rep.Success) == 0 {
		fmt.Fprintln(w, "No job records.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	multi := len(rep.Runs) > 1
	if multi {
		fmt.Fprint(tw, "RUN\t")
	}
	fmt.Fprintln(tw, "HW\tDONE/JOBS\tRATE\tFAILED\tCANCELLED\tATTEMPTS")
	for _, s := range rep.Success {
		if multi {
			fmt.Fprintf(tw, "%s\t", textCell(s.Run))
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%.0f%%\t%d\t%d\t%d\n", textCell(s.HW), s.Done, s.Jobs, 100*s.Rate, s.Failed, s.Cancelled, s.Attempts)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var lines []string
	for _, s := range rep.Success {
		for _, r := range s.Reasons {
			who := s.HW
			if multi {
				who = s.Run + " " + s.HW
			}
			// A reason quotes a node or an imported file: one sanitised line.
			lines = append(lines, fmt.Sprintf("  %s x%d: %s", textCell(who), r.Count, termtext.Line(r.Reason, maxReason)))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, "\nFailure reasons")
		fmt.Fprintln(w, strings.Join(lines, "\n"))
	}
	return nil
}

// writeAgentic prints the agentic runs' table: per GPU throughputs,
// latencies in ms, interactivity and both cache hit rates in percent.
func (rep *Report) writeAgentic(w io.Writer) error {
	if len(rep.Agentic) == 0 {
		return nil
	}
	fmt.Fprintln(w, "Agentic trace replay")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	multi := len(rep.Runs) > 1
	head := "GPU\tFRAMEWORK\tPRECISION\tTP\tEP\tKV OFFLOAD\tCONC\tTPUT/GPU\tOUT/GPU\tTTFT p50 ms\tTTFT p90 ms\tITL ms\tINTVTY\tHIT theor.\tHIT server"
	if multi {
		head = "RUN\t" + head
	}
	fmt.Fprintln(tw, head)
	num := func(v *float64, scale float64, prec int) string {
		if v == nil {
			return "-"
		}
		return strconv.FormatFloat(*v*scale, 'f', prec, 64)
	}
	for _, p := range rep.Agentic {
		if multi {
			fmt.Fprintf(tw, "%s\t", textCell(p.Run))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", textCell(p.HW), textCell(p.Framework), textCell(p.Precision),
			p.TP, p.EP, textCell(p.Offload), p.Conc, strconv.FormatFloat(p.TputPerGPU, 'f', 1, 64), strconv.FormatFloat(p.OutputTputPerGPU, 'f', 1, 64),
			num(p.MedianTTFT, 1000, 1), num(p.P90TTFT, 1000, 1), num(p.MedianITL, 1000, 2), num(p.Interactivity, 1, 1),
			pct(p.TheoreticalHit), pct(p.ServerHit))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return nil
}

// pct is a fraction as a percentage with one decimal, "-" when absent.
func pct(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(100**v, 'f', 1, 64) + "%"
}
