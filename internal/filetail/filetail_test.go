package filetail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadReturnsTheBoundedEnd(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	os.WriteFile(p, []byte(strings.Repeat("x", 100)+"the end\n"), 0o644)
	for _, tc := range []struct {
		max  int64
		want string
	}{
		{8, "the end\n"},
		{1000, strings.Repeat("x", 100) + "the end\n"},
		{0, ""},
	} {
		got, err := Read(p, tc.max)
		if err != nil || string(got) != tc.want {
			t.Errorf("Read(%d) = %q, %v; want %q", tc.max, got, err, tc.want)
		}
	}
	if _, err := Read(filepath.Join(t.TempDir(), "none"), 8); err == nil {
		t.Error("a missing file read without error")
	}
}
