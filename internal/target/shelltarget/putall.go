package shelltarget

import (
	"context"
	"fmt"
	"sync"

	"github.com/fleetbench/fleet/internal/target"
)

// putConcurrency is how many of a job's files are pushed at once: a job
// has some twenty small scripts, and one at a time their round trips
// were a good part of a short job's overhead.
const putConcurrency = 8

// putAll pushes files[i] to dsts[i], putConcurrency at a time, and
// returns the first error (the pushes still under way finish first).
func (t *Target) putAll(ctx context.Context, files []target.File, dsts []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, putConcurrency)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := range files {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(f target.File, dst string) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := t.host.Put(ctx, f, dst); err != nil {
				once.Do(func() {
					first = fmt.Errorf("%s: push %s: %w", t.Name(), f.Path, err)
					cancel()
				})
			}
		}(files[i], dsts[i])
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return fmt.Errorf("%s: push files: %w", t.Name(), ctx.Err())
	}
	return first
}
