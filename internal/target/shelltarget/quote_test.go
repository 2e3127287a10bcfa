package shelltarget

import (
	"os/exec"
	"strings"
	"testing"
)

// FuzzShellQuote checks that any string survives a round trip through a
// real /bin/sh: quoted, it arrives as exactly itself.
func FuzzShellQuote(f *testing.F) {
	for _, s := range []string{"", "plain", "it's", `"$(id)"`, "`id`", "a\nb", "$HOME", `\`, "'", "''", "-n", "a b\tc", "ünïcode"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			t.Skip("argv cannot carry NUL bytes")
		}
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+ShellQuote(s)).Output()
		if err != nil {
			t.Fatalf("sh failed for %q: %v", s, err)
		}
		if string(out) != s {
			t.Fatalf("quoted %q came back as %q", s, out)
		}
	})
}

func TestExportLinesRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "1A", "A-B", "A;rm -rf /", "A B", "$X"} {
		if _, err := exportLines(map[string]string{name: "v"}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	got, err := exportLines(map[string]string{"B": "x y", "A_1": "it's"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "export A_1='it'\\''s'\nexport B='x y'\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseUname(t *testing.T) {
	for in, want := range map[string]string{"Linux\nx86_64\n": "linux/amd64", "Linux\naarch64": "linux/arm64", "Darwin\narm64": "darwin/arm64"} {
		p, err := ParseUname(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseUname(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	if _, err := ParseUname("Linux\nsparc"); err == nil {
		t.Error("unsupported arch accepted")
	}
}
