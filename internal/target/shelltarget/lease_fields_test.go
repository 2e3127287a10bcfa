package shelltarget

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLeaseFieldsReadsAFileOnce checks the lease scripts' fields
// function, under each POSIX shell this machine has: the first line of a
// key wins, control characters are dropped, lines are cut at 256
// characters, keys a file lacks are empty, and a line without "=" or a
// key fleet does not know changes nothing.
func TestLeaseFieldsReadsAFileOnce(t *testing.T) {
	long := strings.Repeat("x", 400)
	file := strings.Join([]string{
		"junk line without an equals sign",
		"token=abc\x01d\te",
		"token=second",
		"devices=0,1",
		"colour=blue",
		"run=" + long,
		"pgid=",
		"start=12 34",
	}, "\n") + "\n"
	for _, sh := range []string{"/bin/sh", "/bin/dash", "/bin/bash"} {
		if _, err := os.Stat(sh); err != nil {
			continue
		}
		t.Run(filepath.Base(sh), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.lease")
			if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
				t.Fatal(err)
			}
			script := leaseFns + `fields "$1"
printf '%s|' "$f_token" "$f_devices" "${#f_run}" "$f_pgid" "$f_start" "$f_job" "$f_boot" "$f_expires"
`
			out, err := exec.Command(sh, "-c", script, "sh", p).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			// run= plus 252 x's is the line's 256 characters.
			want := "abcde|0,1|252||12 34||||"
			if string(out) != want {
				t.Errorf("fields read %q, want %q", out, want)
			}
		})
	}
}
