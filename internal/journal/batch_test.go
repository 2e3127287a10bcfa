package journal

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestAppendAllWritesEveryEntryInOrderAfterEarlierOnes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Append(Entry{Job: "a", State: StateQueued}); err != nil {
		t.Fatal(err)
	}
	if err := j.AppendAll(nil); err != nil {
		t.Fatal(err)
	}
	if err := j.AppendAll([]Entry{{Job: "b", State: StateQueued}, {Job: "c", State: StateQueued, Reason: "x\ny"}}); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, e := range got {
		jobs = append(jobs, e.Job)
	}
	if len(got) != 3 || jobs[0] != "a" || jobs[1] != "b" || jobs[2] != "c" || got[2].Reason != "x\ny" {
		t.Errorf("read back %+v, want a, b, c", got)
	}
}

// Jobs append at once: every entry is written whole, once, whichever
// append's sync covers it.
func TestConcurrentAppendsAllLandWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const writers, each = 16, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := j.Append(Entry{Job: fmt.Sprintf("w%d-%d", w, i), State: StateRunning, Reason: strings.Repeat("x", 100*i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range got {
		seen[e.Job] = true
	}
	if len(got) != writers*each || len(seen) != writers*each {
		t.Errorf("read back %d entries, %d distinct, want %d", len(got), len(seen), writers*each)
	}
}
