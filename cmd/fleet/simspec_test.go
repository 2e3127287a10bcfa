package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/sim"
	"github.com/spf13/pflag"
)

func TestSimSpecFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want sim.SpecDecode
	}{
		{"off by default", nil, sim.SpecDecode{}},
		{"off with none, whatever else is given", []string{"--spec-method", "none", "--spec-tokens", "5"}, sim.SpecDecode{}},
		{"a method with the default acceptance", []string{"--spec-method", "mtp"},
			sim.SpecDecode{Method: "mtp", Tokens: 3, Acceptance: []float64{0.7}, DraftCost: 0.05}},
		{"one acceptance per position", []string{"--spec-method", "eagle3", "--spec-tokens", "3", "--spec-acceptance", "0.8, 0.6,0.4"},
			sim.SpecDecode{Method: "eagle3", Tokens: 3, Acceptance: []float64{0.8, 0.6, 0.4}, DraftCost: 0.05}},
		{"the golden mode", []string{"--spec-method", "mtp", "--spec-tokens", "2", "--spec-accept-length", "2.5", "--spec-draft-cost", "0.1"},
			sim.SpecDecode{Method: "mtp", Tokens: 2, Acceptance: []float64{0.7}, AcceptLength: 2.5, DraftCost: 0.1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := simConfigOf(t, tt.args...).Spec; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("spec\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	sf := &simFlags{v: sim.DefaultConfig()}
	fs := pflag.NewFlagSet("sim", pflag.ContinueOnError)
	sf.register(fs)
	if err := fs.Parse([]string{"--spec-method", "mtp", "--spec-acceptance", "high"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sf.config(fs, nil); err == nil || !strings.Contains(err.Error(), "--spec-acceptance") {
		t.Errorf("a bad --spec-acceptance: %v", err)
	}
}
