package shelltarget

import "testing"

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
