package run

import (
	"runtime"
	"sync"

	"github.com/fleetbench/fleet/internal/results"
)

// readRowFiles reads the row files at paths on every core: parsing them
// is most of loading a large run (a 1,000-job run's import). An entry is
// nil where the file could not be read or parsed.
func readRowFiles(paths []string) [][]*results.Row {
	out := make([][]*results.Row, len(paths))
	workers := min(runtime.GOMAXPROCS(0), len(paths))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(paths); i += workers {
				if rows, err := results.ReadRows(paths[i]); err == nil {
					out[i] = rows
				}
			}
		}()
	}
	wg.Wait()
	return out
}
