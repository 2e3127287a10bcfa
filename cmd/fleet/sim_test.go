package main

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/sim"
	"github.com/spf13/pflag"
)

// simConfigOf parses fleet sim's flags and returns the configuration.
func simConfigOf(t *testing.T, args ...string) sim.Config {
	t.Helper()
	sf := &simFlags{v: sim.DefaultConfig()}
	fs := pflag.NewFlagSet("sim", pflag.ContinueOnError)
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	cfg, err := sf.config(fs, nil)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return cfg
}

func TestSimPrefixCachingFlags(t *testing.T) {
	tests := []struct {
		args  []string
		check func(sim.Config) bool
		want  string
	}{
		{nil, func(c sim.Config) bool { return !c.PrefixCaching }, "prefix caching off by default"},
		{[]string{"--enable-prefix-caching"}, func(c sim.Config) bool {
			return c.PrefixCaching && c.KVCacheTokens == 0 && c.KVBlockSize == 16
		}, "on, unlimited, blocks of 16"},
		{[]string{"--kv-cache-tokens", "4096"}, func(c sim.Config) bool { return c.PrefixCaching && c.KVCacheTokens == 4096 }, "--kv-cache-tokens turns it on"},
		{[]string{"--kv-cpu-cache-tokens", "8192", "--kv-h2d-bandwidth", "10", "--kv-d2h-bandwidth", "5", "--kv-load-latency", "2ms"}, func(c sim.Config) bool {
			return c.PrefixCaching && c.KVCPUCacheTokens == 8192 && c.KVH2DBandwidth == 10e9 && c.KVD2HBandwidth == 5e9 && c.KVLoadLatency == 2*time.Millisecond
		}, "the CPU tier's flags, bandwidths in GB/s"},
		{[]string{"--kv-cache-tokens", "4096", "--no-enable-prefix-caching"}, func(c sim.Config) bool { return !c.PrefixCaching }, "--no-enable-prefix-caching wins"},
		{[]string{"--block-size", "32"}, func(c sim.Config) bool { return c.KVBlockSize == 32 }, "vLLM's --block-size"},
		{[]string{"--kv-block-size", "64"}, func(c sim.Config) bool { return c.KVBlockSize == 64 }, "--kv-block-size"},
		{[]string{"--profile", "h200-llama70b-tp8", "--enable-prefix-caching"}, func(c sim.Config) bool {
			return c.PrefixCaching && c.KVCacheTokens == 5_700_000
		}, "the profile's synthetic KV capacity"},
		{[]string{"--profile", "h200-llama70b-tp8", "--kv-cache-tokens", "1000"}, func(c sim.Config) bool { return c.KVCacheTokens == 1000 }, "the flag over the profile"},
		{[]string{"--prefill-per-kcontext", "3us"}, func(c sim.Config) bool { return c.PrefillPerKContext == 3*time.Microsecond }, "the prefill attention term"},
	}
	for _, tt := range tests {
		if cfg := simConfigOf(t, tt.args...); !tt.check(cfg) {
			t.Errorf("fleet sim %s: want %s; got caching %v, gpu %d, cpu %d, block %d", strings.Join(tt.args, " "), tt.want,
				cfg.PrefixCaching, cfg.KVCacheTokens, cfg.KVCPUCacheTokens, cfg.KVBlockSize)
		}
	}
}

func TestSimHelpDescribesPrefixCaching(t *testing.T) {
	code, stdout, _ := runFleet(t, nil, "sim", "--help")
	if code != 0 {
		t.Fatalf("fleet sim --help: exit %d", code)
	}
	for _, want := range []string{"--kv-cache-tokens", "--kv-cpu-cache-tokens", "--kv-h2d-bandwidth", "--enable-prefix-caching", "cached_tokens", "vllm:prefix_cache_queries_total"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("fleet sim --help does not mention %s", want)
		}
	}
}

func TestGroupThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 5_700_000: "5,700,000", 123456789: "123,456,789"} {
		if got := groupThousands(n); got != want {
			t.Errorf("groupThousands(%d) = %q, want %q", n, got, want)
		}
	}
}
