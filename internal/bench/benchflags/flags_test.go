package benchflags

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/fleetbench/fleet/internal/bench"
)

func TestFlagsOverAPreparedConfig(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, f *Flags)
		err   string
	}{
		{name: "no flags keep the prepared values", check: func(t *testing.T, f *Flags) {
			if f.Config.Model != "m" || f.Config.NumPrompts != 40 || f.Config.BaseURL != "http://127.0.0.1:9000" || !math.IsInf(f.Config.RequestRate, 1) ||
				!slices.Equal(f.Config.MetricPercentiles, []float64{90, 99}) || f.MaxFailureRatio != 0.05 {
				t.Errorf("config changed: %+v", f)
			}
		}},
		{name: "named flags change only themselves", args: []string{"--seed", "7", "--max-failure-ratio", "0.5", "--request-rate", "4", "--metadata", "a=1", "b=2"}, check: func(t *testing.T, f *Flags) {
			if f.Config.Seed != 7 || f.MaxFailureRatio != 0.5 || f.Config.RequestRate != 4 || len(f.Config.Metadata) != 2 || f.Config.NumPrompts != 40 {
				t.Errorf("got %+v", f)
			}
		}},
		{name: "the client's limits have defaults far below bench_serving's 6h", check: func(t *testing.T, f *Flags) {
			if f.Config.RequestTimeout != bench.DefaultRequestTimeout || f.Config.RequestTimeout >= 6*time.Hour ||
				f.Config.ResponseHeaderTimeout != bench.DefaultResponseHeaderTimeout || f.Config.ResponseHeaderTimeout <= 0 {
				t.Errorf("request timeout %s, header timeout %s", f.Config.RequestTimeout, f.Config.ResponseHeaderTimeout)
			}
		}},
		{name: "the client's limits are flags", args: []string{"--request-timeout", "90s", "--response-header-timeout", "0"}, check: func(t *testing.T, f *Flags) {
			if f.Config.RequestTimeout != 90*time.Second || f.Config.ResponseHeaderTimeout != 0 {
				t.Errorf("request timeout %s, header timeout %s", f.Config.RequestTimeout, f.Config.ResponseHeaderTimeout)
			}
		}},
		{name: "a bad rate", args: []string{"--request-rate", "-1"}, err: "--request-rate"},
		{name: "a stray word", args: []string{"oops"}, err: `unexpected argument "oops"`},
		{name: "a bad failure ratio", args: []string{"--max-failure-ratio", "2"}, err: "--max-failure-ratio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Defaults()
			f.Config.Model, f.Config.NumPrompts, f.Config.BaseURL = "m", 40, "http://127.0.0.1:9000"
			f.MetricPercentiles = "90,99"
			fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
			f.Register(fs)
			err := fs.Parse(tt.args)
			if err == nil {
				err = f.Finish(fs, fs.Args())
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f)
		})
	}
}
