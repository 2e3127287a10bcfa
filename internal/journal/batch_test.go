package journal

import (
	"path/filepath"
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
