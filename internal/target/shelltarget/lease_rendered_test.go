package shelltarget

import (
	"testing"

	"github.com/fleetbench/fleet/internal/shellgolden"
	"github.com/fleetbench/fleet/internal/shellquote"
)

// The lease scripts, rendered for plain and hostile values into
// testdata/rendered, where the shellcheck test checks them.
func TestRenderedLeaseShellMatchesGolden(t *testing.T) {
	for _, tc := range []struct{ name, base, run, job string }{
		{"plain", "/home/bench/.cache/fleet/work", "20260101-120000", "sim70b_tp8_conc4"},
		{"hostile", "/tmp/fleet work/" + hostile, hostile, hostile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shellgolden.Check(t, *update, tc.name+"-lease-acquire.sh", shellgolden.Sh+acquireScript(tc.base, "gpu-0-1", "tok123", "0,1", tc.run, tc.job, 120, 1764000000000))
			shellgolden.Check(t, *update, tc.name+"-lease-renew.sh", shellgolden.Sh+renewScript(tc.base, "node", "tok123", 120))
			shellgolden.Check(t, *update, tc.name+"-lease-release.sh", shellgolden.Sh+releaseScript(tc.base, "node", "tok123"))
			shellgolden.Check(t, *update, tc.name+"-lease-list.sh", shellgolden.Sh+LeaseListScript(shellquote.Quote(tc.base)))
		})
	}
}
