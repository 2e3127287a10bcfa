package ssh

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The node-side check behind a skipped upload, run here under /bin/sh: a
// cached file counts as "the same" only when it is a regular file of the
// connecting user's that nobody else may write.
func TestSumCommandTrustsOnlyFilesNobodyElseCouldWrite(t *testing.T) {
	body := []byte("#!/bin/sh\necho real\n")
	s := sha256.Sum256(body)
	want := hex.EncodeToString(s[:])
	for _, tc := range []struct {
		name    string
		plant   func(t *testing.T, p string)
		trusted bool
	}{
		{"ours, 0755", func(t *testing.T, p string) { os.WriteFile(p, body, 0o755) }, true},
		{"ours, group-writable", func(t *testing.T, p string) { os.WriteFile(p, body, 0o775); os.Chmod(p, 0o775) }, false},
		{"ours, world-writable", func(t *testing.T, p string) { os.WriteFile(p, body, 0o757); os.Chmod(p, 0o757) }, false},
		{"another user's", func(t *testing.T, p string) {
			if os.Getuid() != 0 {
				t.Skip("chown needs root")
			}
			os.WriteFile(p, body, 0o755)
			os.Chown(p, 65534, 65534)
		}, false},
		{"a link to ours", func(t *testing.T, p string) {
			o := p + ".real"
			os.WriteFile(o, body, 0o755)
			os.Symlink(o, p)
		}, false},
		{"missing", func(t *testing.T, p string) {}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "it's a $(dir)", "abcd-fleet")
			os.MkdirAll(filepath.Dir(p), 0o700)
			tc.plant(t, p)
			out, _ := exec.Command("/bin/sh", "-c", sumCommand(p)).Output()
			got, _, _ := strings.Cut(string(out), " ")
			if (got == want) != tc.trusted {
				t.Errorf("sum printed %q; trusted = %v, want %v", out, got == want, tc.trusted)
			}
		})
	}
}
