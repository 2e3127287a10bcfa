package jobrun

import (
	"testing"
	"time"
)

func TestBackoffDoublesUpToItsCap(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		max  time.Duration
		want []time.Duration
	}{
		{500 * ms, []time.Duration{20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 500 * ms, 500 * ms}},
		{time.Second, []time.Duration{20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second}},
		{10 * ms, []time.Duration{10 * ms, 10 * ms}},
	} {
		b := newBackoff(tc.max)
		for i, w := range tc.want {
			if got := b.pause(); got != w {
				t.Errorf("max %s: pause %d = %s, want %s", tc.max, i, got, w)
			}
		}
	}
}
