package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestInferenceXBlock(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    *InferenceXSource
		wantErr string
	}{
		{
			name: "defaults: the checkout's client, both kinds of node, the generator's eval marking",
			src:  `inferencex { dir = "~/src/InferenceX" }`,
			want: &InferenceXSource{Dir: "~/src/InferenceX", Client: "inferencex", Nodes: "both", Evals: "default"},
		},
		{
			name: "every attribute",
			src: `inferencex {
  dir           = "ix"
  config_files  = ["configs/nvidia-master.yaml"]
  runner_config = "configs/runners.yaml"
  client        = "fleet"
  config_keys   = ["dsr1-*"]
  nodes         = "single"
  evals         = "none"
}`,
			want: &InferenceXSource{Dir: "ix", ConfigFiles: []string{"configs/nvidia-master.yaml"}, RunnerConfig: "configs/runners.yaml",
				Client: "fleet", ConfigKeys: []string{"dsr1-*"}, Nodes: "single", Evals: "none"},
		},
		{name: "a bad client", src: `inferencex {
  dir    = "ix"
  client = "python"
}`, wantErr: `sweep.hcl:3:12: error: Invalid value: "python" is not a valid client; valid values: inferencex, fleet.`},
		{name: "evals spelled as the generator's flag", src: `inferencex {
  dir   = "ix"
  evals = "evals-only"
}`, wantErr: `"evals-only" is not a valid evals; valid values: default, none, only, all.`},
		{name: "no dir", src: `inferencex {}`, wantErr: `Missing required argument: The argument "dir" is required`},
		{name: "an unknown attribute", src: `inferencex {
  dir  = "ix"
  keys = ["x"]
}`, wantErr: `sweep.hcl:3:3: error: Unsupported argument: An argument named "keys" is not expected here.`},
		{name: "two blocks", src: "inferencex { dir = \"a\" }\ninferencex { dir = \"b\" }", wantErr: "Duplicate inferencex block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sweep.hcl")
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			sw, diags := NewLoader(nil).Sweep(path, nil)
			got := strings.ReplaceAll(diagLines(diags), filepath.Dir(path)+"/", "")
			if tt.wantErr != "" {
				if !strings.Contains(got, tt.wantErr) {
					t.Fatalf("diagnostics:\n%s\nwant %q", got, tt.wantErr)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("diagnostics:\n%s", got)
			}
			src := *sw.InferenceX
			src.Range = tt.want.Range
			if !reflect.DeepEqual(&src, tt.want) || len(sw.Configs) != 0 {
				t.Errorf("got %+v, want %+v", src, *tt.want)
			}
		})
	}
}
