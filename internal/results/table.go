package results

import (
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
// precision, tp, then concurrency.
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
		if a.TP != b.TP {
			return a.TP < b.TP
		}
		return a.Conc < b.Conc
	})
}

// WriteTable prints InferenceMAX's summary table: hardware, framework,
// precision, TP, concurrency, median TTFT, TPOT and E2EL, throughput per
// GPU and interactivity.
func WriteTable(w io.Writer, rows []*Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "HW\tFRAMEWORK\tPRECISION\tISL/OSL\tTP\tEP\tCONC\tTTFT ms\tTPOT ms\tE2EL s\tTPUT/GPU\tINTVTY\tFAILED\t")
	// A row's text may come from an imported file or a copied run
	// directory: one sanitised line per cell.
	cell := func(s string) string { return termtext.Line(s, maxCell) }
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t\n",
			cell(r.HW), cell(r.Framework), cell(r.Precision), r.ISL, r.OSL, r.TP, r.EP, r.Conc,
			metric(r, "median_ttft", 1000, 1), metric(r, "median_tpot", 1000, 2),
			metric(r, "median_e2el", 1, 2), fmtFloat(r.TputPerGPU, 1),
			metric(r, "median_intvty", 1, 1), r.Failed)
	}
	return tw.Flush()
}

func metric(r *Row, key string, scale float64, prec int) string {
	v, ok := r.Metrics[key]
	if !ok {
		return "-"
	}
	return fmtFloat(v*scale, prec)
}

func fmtFloat(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
