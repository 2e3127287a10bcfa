package agentbin

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/target"
)

func TestFinderPicksTheBinaryForTheTargetPlatform(t *testing.T) {
	explicit, beside := t.TempDir(), t.TempDir()
	self := filepath.Join(beside, "fleet")
	write := func(p, body string) {
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(self, "self")
	write(filepath.Join(beside, "fleet-linux-arm64"), "arm")
	write(filepath.Join(explicit, "fleet-linux-riscv64"), "riscv")
	here := target.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
	for _, tc := range []struct {
		name     string
		platform target.Platform
		want     string
	}{
		{"own platform uses the running executable", here, "self"},
		{"other platform found beside the executable", target.Platform{OS: "linux", Arch: "arm64"}, "arm"},
		{"explicit directory searched first", target.Platform{OS: "linux", Arch: "riscv64"}, "riscv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.platform == (target.Platform{OS: "linux", Arch: "arm64"}) && here == tc.platform {
				t.Skip("this machine is linux/arm64")
			}
			f := &Finder{Explicit: explicit, Dirs: []string{beside}, Self: self}
			b, err := f.For(tc.platform)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(b.Path)
			if string(got) != tc.want || len(b.Digest) != 64 {
				t.Fatalf("got %q (digest %q), want %q", got, b.Digest, tc.want)
			}
		})
	}
	_, err := (&Finder{Self: self}).For(target.Platform{OS: "plan9", Arch: "mips"})
	if err == nil || !strings.Contains(err.Error(), "GOOS=plan9 GOARCH=mips") {
		t.Fatalf("missing binary error should say how to build one: %v", err)
	}
}
