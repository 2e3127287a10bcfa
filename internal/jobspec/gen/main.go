// Command gen writes scripts/lib/exitcodes.sh and the exit code table of
// scripts/README.md from internal/jobspec's table (go generate).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fleetbench/fleet/internal/jobspec"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	if err := os.WriteFile(filepath.Join(root, "scripts", "lib", "exitcodes.sh"), jobspec.ShellFile(), 0o644); err != nil {
		return err
	}
	readme := filepath.Join(root, "scripts", "README.md")
	b, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	out, err := jobspec.ReplaceREADMETable(b)
	if err != nil {
		return fmt.Errorf("%s: %w", readme, err)
	}
	return os.WriteFile(readme, out, 0o644)
}
