// Package report turns results into what people read: the summary table,
// Pareto frontiers of throughput against interactivity, charts (PNG, SVG),
// a self-contained HTML report, success rates, and run-to-run comparisons.
package report

import (
	"math"
	"sort"
)

// Point is a configuration's place in a trade-off where more is better on
// both axes; Index refers back to the caller's data.
type Point struct {
	X, Y  float64
	Index int
}

// dominates reports whether a is at least as good as b on both axes and
// better on one.
func dominates(a, b Point) bool {
	return a.X >= b.X && a.Y >= b.Y && (a.X > b.X || a.Y > b.Y)
}

// ParetoFrontier returns the points no other point dominates (more is better on
// both axes), sorted by X ascending: along it Y falls as X rises. Points
// with a NaN or infinite coordinate are left out; identical points are all
// kept, since neither dominates the other.
func ParetoFrontier(pts []Point) []Point {
	var cand []Point
	for _, p := range pts {
		if !math.IsNaN(p.X) && !math.IsNaN(p.Y) && !math.IsInf(p.X, 0) && !math.IsInf(p.Y, 0) {
			cand = append(cand, p)
		}
	}
	// Best X first, best Y first within equal X: a point is dominated when
	// a point of greater X has a Y at least as high, or a point of equal X
	// has a higher Y.
	sort.SliceStable(cand, func(i, j int) bool {
		if cand[i].X != cand[j].X {
			return cand[i].X > cand[j].X
		}
		return cand[i].Y > cand[j].Y
	})
	var out []Point
	bestY := math.Inf(-1) // best Y among points of strictly greater X
	for i := 0; i < len(cand); {
		j := i
		top := cand[i].Y
		for j < len(cand) && cand[j].X == cand[i].X {
			if p := cand[j]; p.Y == top && p.Y > bestY {
				out = append(out, p)
			}
			j++
		}
		bestY = math.Max(bestY, top)
		i = j
	}
	// Ascending X; ties (identical points) keep the input order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].X < out[j].X })
	return out
}
