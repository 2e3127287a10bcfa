package sim

import (
	"math"
	"testing"
	"time"
)

// TestConfigRangeMessages pins the wording of the configuration's range
// errors, each out-of-range field alone and all of them at once (joined
// in the order they are checked).
func TestConfigRangeMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(c *Config)
		want string
	}{
		{"a negative count", func(c *Config) { c.MaxNumSeqs = -2 }, "max num seqs must not be negative, got -2"},
		{"a negative block size", func(c *Config) { c.KVBlockSize = -1 }, "kv block size must not be negative, got -1"},
		{"negative bytes per token", func(c *Config) { c.KVBytesPerToken = -3 }, "kv bytes per token must not be negative, got -3"},
		{"a negative duration", func(c *Config) { c.ITL = -time.Millisecond }, "itl must not be negative, got -1ms"},
		{"a ratio above 1", func(c *Config) { c.DropRatio = 1.5 }, "drop ratio must be within [0, 1], got 1.5"},
		{"a negative jitter", func(c *Config) { c.Jitter = -0.1 }, "jitter must be within [0, 1], got -0.1"},
		{"a NaN jitter passes, as it always has", func(c *Config) { c.Jitter = math.NaN() }, ""},
		{"several, in order", func(c *Config) {
			c.ExitAfter, c.KVBytesPerToken, c.StartupDelay, c.FailRatio, c.Jitter = -1, -1, -time.Second, -1, 2
		}, "exit after must not be negative, got -1\nkv bytes per token must not be negative, got -1\n" +
			"startup delay must not be negative, got -1s\nfail ratio must be within [0, 1], got -1\njitter must be within [0, 1], got 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Model: "m"}
			tc.set(&c)
			_, err := c.withDefaults()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}
}
