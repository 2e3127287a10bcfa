package results

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/fleetbench/fleet/internal/termtext"
)

// maxCell bounds a text cell of a table, in bytes.
const maxCell = 128

// SortRows orders rows as people read them: by hardware, framework,
// precision, lengths, multi-node shape, tp, then concurrency.
func SortRows(rows []*Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.HW != b.HW {
			return a.HW < b.HW
		}
		if a.Framework != b.Framework {
			return a.Framework < b.Framework
		}
		if a.Precision != b.Precision {
			return a.Precision < b.Precision
		}
		if a.ISL != b.ISL || a.OSL != b.OSL {
			return a.ISL < b.ISL || a.ISL == b.ISL && a.OSL < b.OSL
		}
		if sa, sb := a.Shape(), b.Shape(); sa != sb {
			return sa < sb // single-node rows ("") first, then each deployment
		}
		if a.TP != b.TP {
			return a.TP < b.TP
		}
		return a.Conc < b.Conc
	})
}

// WriteTable prints InferenceMAX's summary table: hardware, framework,
// precision, TP, concurrency, median TTFT, TPOT and E2EL, throughput per
// GPU and interactivity.
//
// A SPEC column (speculative decoding) appears when a row has one, as
// InferenceX's rows do: an MTP row is not comparable with one without;
// with it an ACCEPT column, the acceptance length the client measured
// (tokens per drafting step), when a row has one.
// A SHAPE column appears when a row is multi-node (Row.Shape: "p1x8/d1x8",
// "agg 2x8"; "-" for a single-node row), so that disaggregated and
// aggregated points of equal tp read apart. A REUSED FROM column appears
// when a row was taken from an earlier run (Row.ReusedFrom) rather than
// measured, naming that run. J/OUT-TOK and W/GPU columns (joules per
// output token, average power per GPU) appear when a row has a valid
// energy measurement; "-" marks a row without one.
func WriteTable(w io.Writer, rows []*Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	withSpec, withAccept, withShape, withReused := false, false, false, false
	for _, r := range rows {
		withSpec = withSpec || r.Spec() != ""
		_, ok := r.SpecAcceptLength()
		withAccept = withAccept || ok
		withShape = withShape || r.MultiNode()
		withReused = withReused || r.ReusedFrom() != nil
	}
	withEnergy := anyPowerValid(rows)
	specHead, shapeHead, reusedHead := "", "", ""
	if withReused {
		reusedHead = "REUSED FROM\t"
	}
	if withSpec {
		specHead = "SPEC\t"
		if withAccept {
			specHead += "ACCEPT\t"
		}
	}
	if withShape {
		shapeHead = "SHAPE\t"
	}
	fmt.Fprintln(tw, "HW\tFRAMEWORK\tPRECISION\t"+specHead+"ISL/OSL\t"+shapeHead+"TP\tEP\tCONC\tTTFT ms\tTPOT ms\tE2EL s\tTPUT/GPU\tINTVTY\t"+energyHead(withEnergy)+"FAILED\t"+reusedHead)
	// A row's text may come from an imported file or a copied run
	// directory: one sanitised line per cell.
	cell := func(s string) string { return termtext.Line(s, maxCell) }
	for _, r := range rows {
		spec := ""
		if withSpec {
			spec = cell(r.Spec())
			if spec == "" {
				spec = "none"
			}
			spec += "\t"
			if withAccept {
				if a, ok := r.SpecAcceptLength(); ok {
					spec += fmtFloat(a, 2) + "\t"
				} else {
					spec += "-\t"
				}
			}
		}
		shape := ""
		if withShape {
			shape = first(r.Shape(), "-") + "\t"
		}
		reused := ""
		if withReused {
			reused = "-\t"
			if u := r.ReusedFrom(); u != nil {
				reused = cell(u.Run) + "\t"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s%d/%d\t%s%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s%d\t%s\n",
			cell(r.HW), cell(r.Framework), cell(r.Precision), spec, r.ISL, r.OSL, shape, r.TP, r.EP, r.Conc,
			metric(r, "median_ttft", 1000, 1), metric(r, "median_tpot", 1000, 2),
			metric(r, "median_e2el", 1, 2), fmtFloat(r.TputPerGPU, 1),
			metric(r, "median_intvty", 1, 1), energyCells(r, withEnergy), r.Failed, reused)
	}
	return tw.Flush()
}

// Spec is the row's speculative decoding method as InferenceX's rows
// carry it (spec_decoding), "" when the row says nothing of it.
func (r *Row) Spec() string {
	var s string
	if json.Unmarshal(r.Extra["spec_decoding"], &s) != nil {
		return ""
	}
	return s
}

func metric(r *Row, key string, scale float64, prec int) string {
	v, ok := r.Metrics[key]
	if !ok {
		return "-"
	}
	return fmtFloat(v*scale, prec)
}

// first is s, or def when s is empty.
func first(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func fmtFloat(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
