package config

import (
	"os"
	"path/filepath"
	"testing"
)

// seedFuzz adds the broken and good files of testdata as seeds.
func seedFuzz(f *testing.F, patterns ...string) {
	for _, pat := range patterns {
		files, _ := filepath.Glob(pat)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

// FuzzInventory: any input either decodes to an inventory with the local
// node, or yields error diagnostics; it never panics.
func FuzzInventory(f *testing.F) {
	seedFuzz(f, "testdata/fleet.hcl", "testdata/broken/inventory_*.hcl", "../../inventory.hcl")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		path := filepath.Join(dir, "inv.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		inv, diags := NewLoader(nil).Inventory(path, true)
		if diags.HasErrors() != (inv == nil) {
			t.Fatalf("inventory %v with errors %v", inv, diags.HasErrors())
		}
		if inv != nil && inv.Node(LocalNode) == nil {
			t.Fatal("no local node")
		}
	})
}

// FuzzSweep: any input either decodes to a sweep whose bands all have
// positive tp and concurrencies, or yields error diagnostics.
func FuzzSweep(f *testing.F) {
	seedFuzz(f, "testdata/broken/sweep_*.hcl", "../../sweeps/*.hcl")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		path := filepath.Join(dir, "sweep.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		l := NewLoader(nil)
		inv, _ := l.Inventory(filepath.Join(dir, "none.hcl"), false)
		sw, diags := l.Sweep(path, inv)
		if diags.HasErrors() != (sw == nil) {
			t.Fatalf("sweep %v with errors %v", sw, diags.HasErrors())
		}
		if sw == nil {
			return
		}
		for _, c := range sw.Configs {
			for _, sc := range c.Scenarios {
				for _, s := range sc.Search {
					if s.TP < 1 || s.EP < 1 || s.PP < 1 || len(s.Conc) == 0 {
						t.Fatalf("config %s: bad band %+v", c.Key, s)
					}
					for _, conc := range s.Conc {
						if conc < 1 {
							t.Fatalf("config %s: conc %d", c.Key, conc)
						}
					}
				}
			}
		}
	})
}
