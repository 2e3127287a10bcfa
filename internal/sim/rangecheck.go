package sim

import "fmt"

// number is what the configuration's range checks compare: counts,
// durations (their %v is a duration's string) and ratios.
type number interface{ ~int | ~int64 | ~float64 }

// notNegative adds the error that name must not be negative to errs when
// v is.
func notNegative[T number](errs *[]error, name string, v T) {
	if v < 0 {
		*errs = append(*errs, fmt.Errorf("%s must not be negative, got %v", name, v))
	}
}

// withinUnit adds the error that name must be within [0, 1] to errs when
// v is outside (NaN is not: it compares false both ways).
func withinUnit(errs *[]error, name string, v float64) {
	if v < 0 || v > 1 {
		*errs = append(*errs, fmt.Errorf("%s must be within [0, 1], got %v", name, v))
	}
}
