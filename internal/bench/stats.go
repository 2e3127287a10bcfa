package bench

// Quantile is numpy's default percentile of sorted xs (linear
// interpolation between the two closest ranks); 0 for an empty list. It
// is exported so that other clients (the agentic replay) report
// percentiles exactly as this one does.
func Quantile(sorted []float64, p float64) float64 { return quantileSorted(sorted, p) }

// MeanStd is the mean and the population standard deviation (numpy's
// default, ddof=0) of xs; zeros for an empty list.
func MeanStd(xs []float64) (mean_, std float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	return mean(xs), stdPopulation(xs)
}
