package benchflags

import "fmt"

// atLeast checks a whole-number flag against its least value.
func atLeast(name string, v, least int) error {
	if v < least {
		return fmt.Errorf("--%s %d: want %d or more", name, v, least)
	}
	return nil
}

// share checks a flag that is a share of something: 0..1, NaN not.
func share(name string, v float64) error {
	if !(v >= 0 && v <= 1) {
		return fmt.Errorf("--%s %v: want 0..1", name, v)
	}
	return nil
}
