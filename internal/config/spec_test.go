package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// specSweep is a one-config sweep of framework fw with configKeys in the
// config and band in its search block (after tp and conc).
func specSweep(fw, configKeys, band string) string {
	image := ""
	if fw != "sim" {
		image = `image = "img"`
	}
	return fmt.Sprintf(`
config "c" {
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = %q
  %s
  runner       = "local"
  %s
  scenario "1k1k" {
    isl = 1024
    osl = 1024
    search {
      tp   = 1
      conc = [4, 8]
      %s
    }
  }
}
`, fw, image, configKeys, band)
}

func TestSpecSettingsOfBands(t *testing.T) {
	tests := []struct {
		name             string
		fw, config, band string
		want             []Spec
		jobs             int // what the loader counts
	}{
		{name: "no spec anywhere: no setting, jobs as before", fw: "sim", want: nil, jobs: 2},
		{name: "one method, default size", fw: "sim", band: `spec = "mtp"`,
			want: []Spec{{Method: "mtp", Tokens: DefaultSpecTokens}}, jobs: 2},
		{name: "a list sweeps it like conc", fw: "vllm", band: `spec = ["none", "mtp"]` + "\n spec_tokens = 2",
			want: []Spec{{Method: "none"}, {Method: "mtp", Tokens: 2}}, jobs: 4},
		{name: "the config's keys are the band's default", fw: "sglang",
			config: `spec = ["none", "eagle3"]` + "\n draft_model = \"d/eagle\"\n spec_tokens = 4\n spec_accept_length = 2.5",
			want:   []Spec{{Method: "none"}, {Method: "eagle3", Tokens: 4, DraftModel: "d/eagle", AcceptLength: 2.5}}, jobs: 4},
		{name: "a band's key wins over the config's", fw: "trt", config: `spec = "mtp"` + "\n spec_tokens = 4", band: "spec_tokens = 1",
			want: []Spec{{Method: "mtp", Tokens: 1}}, jobs: 2},
		{name: "a band turns its config's spec off", fw: "sim", config: `spec = "mtp"` + "\n spec_tokens = 4", band: `spec = "none"`,
			want: []Spec{{Method: "none"}}, jobs: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoader(nil)
			sw := mustSweep(t, l, writeFile(t, "s.hcl", specSweep(tt.fw, tt.config, tt.band)), nil)
			s := sw.Configs[0].Scenarios[0].Search[0]
			if !reflect.DeepEqual(s.Spec, tt.want) {
				t.Errorf("spec settings\n got %+v\nwant %+v", s.Spec, tt.want)
			}
			n := 0
			for range SpecsOf(s) {
				n += len(s.Conc)
			}
			if n != tt.jobs {
				t.Errorf("%d jobs, want %d", n, tt.jobs)
			}
		})
	}
}

func TestSpecMistakesAreReportedWhereTheyAre(t *testing.T) {
	tests := []struct {
		name             string
		fw, config, band string
		line             int    // where the diagnostic points (the file's line)
		want             string // in its text
	}{
		{name: "a misspelt method", fw: "sim", band: `spec = "mpt"`, line: 16, want: `"mpt" is not a speculative decoding method; valid values: none, mtp, eagle3, draft_model. Did you mean "mtp"?`},
		{name: "a method twice", fw: "sim", band: `spec = ["mtp", "mtp"]`, line: 16, want: `spec lists "mtp" twice`},
		{name: "an empty list", fw: "sim", band: `spec = []`, line: 16, want: "spec must name at least one method"},
		{name: "a size without a method", fw: "sim", band: `spec_tokens = 3`, line: 16, want: "no spec names a method here or in the config"},
		{name: "zero draft tokens", fw: "sim", band: "spec = \"mtp\"\n spec_tokens = 0", line: 17, want: "spec_tokens must be at least 1"},
		{name: "EAGLE-3 without its head", fw: "sglang", band: `spec = "eagle3"`, line: 16, want: `spec "eagle3" needs the drafter to load: set draft_model`},
		{name: "a drafter mtp does not load", fw: "sglang", band: "spec = \"mtp\"\n draft_model = \"x\"", line: 17, want: "draft_model is loaded only by spec"},
		{name: "a size with spec none", fw: "sim", band: "spec = \"none\"\n spec_tokens = 2", line: 17, want: `spec_tokens has no effect with spec = "none"`},
		{name: "a framework without spec flags", fw: "torch-smoke", band: `spec = "mtp"`, line: 16, want: `Framework "torch-smoke" has no speculative decoding`},
		{name: "an acceptance above k+1", fw: "sim", band: "spec = \"mtp\"\n spec_tokens = 2\n spec_accept_length = 3.5", line: 18, want: "more than spec_tokens + 1 = 3"},
		{name: "vLLM cannot pin the acceptance", fw: "vllm", band: "spec = \"mtp\"\n spec_accept_length = 2", line: 17, want: "vLLM has no setting that pins the acceptance length"},
		{name: "TensorRT-LLM forces whole counts", fw: "trt", band: "spec = \"mtp\"\n spec_accept_length = 2.5", line: 17, want: "must be a whole number for trt"},
		{name: "a drafter with a quote", fw: "vllm", band: "spec = \"draft_model\"\n draft_model = \"a\\\"b\"", line: 17, want: "holds a quote, backslash or line break"},
		{name: "a drafter that reads as an option", fw: "vllm", band: "spec = \"draft_model\"\n draft_model = \"--x\"", line: 17, want: "starts with '-'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "s.hcl", specSweep(tt.fw, tt.config, tt.band))
			_, diags := NewLoader(nil).Sweep(path, nil)
			got := diagLines(diags)
			want := fmt.Sprintf("%s:%d:", path, tt.line)
			found := false
			for _, l := range strings.Split(got, "\n") {
				found = found || strings.HasPrefix(l, want) && strings.Contains(l, tt.want)
			}
			if !found {
				t.Errorf("no diagnostic at %s saying %q; got:\n%s", filepath.Base(want), tt.want, got)
			}
		})
	}
}

func TestSpecOnMultiNodeBandsIsRefused(t *testing.T) {
	src := `
config "pd" {
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"
  scenario "1k1k" {
    isl = 1024
    osl = 1024
    search {
      spec = "mtp"
      prefill {
        workers = 1
        tp      = 1
      }
      conc = [1]
    }
  }
}
`
	_, diags := NewLoader(nil).Sweep(writeFile(t, "s.hcl", src), nil)
	if got := diagLines(diags); !strings.Contains(got, "Speculative decoding on a multi-node band is not supported") {
		t.Errorf("diagnostics:\n%s", got)
	}
}

func TestTwoBandsOfOneMethodAreDuplicates(t *testing.T) {
	src := strings.Replace(specSweep("sim", "", `spec = ["none", "mtp"]`), "  }\n}\n", `    search {
      tp   = 1
      conc = [8]
      spec = "mtp"
      spec_tokens = 1
    }
  }
}
`, 1)
	_, diags := NewLoader(nil).Sweep(writeFile(t, "s.hcl", src), nil)
	if got := diagLines(diags); !strings.Contains(got, "conc=8 spec=mtp from the search at") {
		t.Errorf("diagnostics:\n%s", got)
	}
}
