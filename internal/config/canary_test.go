package config

import (
	"strings"
	"testing"
	"time"
)

// canarySweep is a one-config sweep whose settings block holds settings.
func canarySweep(settings string) string {
	return `
settings {
` + settings + `
}
config "a" {
  image        = ""
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"
  scenario "s" {
    isl = 10
    osl = 10
    search {
      tp   = 1
      conc = [1]
    }
  }
}
`
}

func TestCanaryAndFailFastSettings(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		want     Canary
		failFast bool
	}{
		{"none", `retries = 1`, DefaultCanary(), false},
		{"an empty block turns it on", `canary {}`, Canary{Enabled: true, Prompts: 2, Conc: 1, Timeout: 10 * time.Minute}, false},
		{"every attribute", `
  fail_fast = true
  canary {
    enabled = true
    prompts = 5
    conc    = 2
    timeout = "3m"
  }`, Canary{Enabled: true, Prompts: 5, Conc: 2, Timeout: 3 * time.Minute}, true},
		{"turned off", `canary { enabled = false }`, Canary{Prompts: 2, Conc: 1, Timeout: 10 * time.Minute}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw := mustSweep(t, NewLoader(nil), writeFile(t, "s.hcl", canarySweep(tt.settings)), nil)
			if sw.Canary != tt.want || sw.FailFast != tt.failFast {
				t.Errorf("canary %+v fail_fast %v, want %+v %v", sw.Canary, sw.FailFast, tt.want, tt.failFast)
			}
		})
	}
}

func TestBadCanarySettingsAreDiagnosed(t *testing.T) {
	tests := []struct{ settings, want string }{
		{`canary { prompts = 0 }`, "prompts must be at least 1"},
		{`canary { conc = -1 }`, "conc must be at least 1"},
		{`canary { timeout = "soon" }`, "Invalid duration"},
		{`canary { promts = 2 }`, "promts"},
		{"canary {}\ncanary {}", "canary"},
		{`fail_fast = "yes"`, "fail_fast"},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			_, diags := NewLoader(nil).Sweep(writeFile(t, "s.hcl", canarySweep(tt.settings)), nil)
			if !diags.HasErrors() {
				t.Fatalf("no error for %s", tt.settings)
			}
			if got := diagLines(diags); !strings.Contains(got, tt.want) {
				t.Errorf("diagnostics %q do not mention %q", got, tt.want)
			}
		})
	}
}
