package nodes

import (
	"flag"
	"testing"

	"github.com/fleetbench/fleet/internal/shellgolden"
)

var update = flag.Bool("update", false, "rewrite the rendered scripts in testdata/rendered")

// The probe of fleet nodes check, for each runtime and for plain, home-
// relative and hostile paths, rendered into testdata/rendered where the
// shellcheck test (internal/scriptstest) checks them too.
func TestRenderedShellMatchesGolden(t *testing.T) {
	hostile := "/data/it's \"$(touch /tmp/pwned)\" `id` $HOME\nline2 \\ %"
	for _, tc := range []struct{ name, runtime, workDir, hfCache string }{
		{"probe-docker", "docker", DefaultWorkDir, ""},
		{"probe-enroot-home", "enroot", "~/fleet work", "~"},
		{"probe-none-hostile", "none", hostile, "~/" + hostile},
	} {
		shellgolden.Check(t, *update, tc.name+".sh", shellgolden.Sh+probeScript(tc.runtime, tc.workDir, tc.hfCache))
	}
}
