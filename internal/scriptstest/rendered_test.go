package scriptstest

import (
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/shellgolden"
)

// renderedDirs are the packages that render shell from Go and keep it in
// testdata/rendered: the walk must find each, or a moved directory would
// silently leave its scripts unchecked.
var renderedDirs = []string{"internal/nodes", "internal/slurm", "internal/ssh", "internal/target/shelltarget"}

// TestShellcheckRenderedScripts runs shellcheck over the shell that fleet
// renders from Go, as each package's golden test wrote it into its
// testdata/rendered (go test -update there rewrites them). Without
// shellcheck it fails, except under -short.
func TestShellcheckRenderedScripts(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if testing.Short() {
			t.Skip("shellcheck is not installed")
		}
		t.Fatal("shellcheck is not installed (apt-get install shellcheck)")
	}
	rendered := filepath.FromSlash(shellgolden.Dir)
	var files, found []string
	err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(filepath.Dir(p), string(filepath.Separator)+rendered) {
			return nil
		}
		rel, err := filepath.Rel(repo, p)
		if err != nil {
			return err
		}
		files = append(files, rel)
		pkg := filepath.ToSlash(strings.TrimSuffix(filepath.Dir(rel), string(filepath.Separator)+rendered))
		if !slices.Contains(found, pkg) {
			found = append(found, pkg)
		}
		return nil
	})
	must(t, err)
	for _, d := range renderedDirs {
		if !slices.Contains(found, d) {
			t.Errorf("no rendered scripts under %s/%s (found them in %v)", d, shellgolden.Dir, found)
		}
	}
	// Two checks are off for these files, for reasons that hold for all
	// of them:
	//   SC2016: the scripts carry values in single quotes precisely so
	//     that $, ` and $( ) in them arrive literally (internal/shellquote;
	//     the hostile renders hold such values on purpose), and the body
	//     of an sh -c '...' expands in the inner shell (the shell target's
	//     wrapper is rendered and checked on its own).
	//   SC1091: they source files that exist only on the node at run time
	//     (.fleet/env.sh, .fleet/secrets.env).
	cmd := exec.Command("shellcheck", append([]string{"--exclude=SC2016,SC1091"}, files...)...)
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
