package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSkipsDamagedAndOversizedLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	j.Append(Entry{Job: "a", State: StateQueued})
	j.Close()
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0o644)
	f.WriteString(`{"job":"big","state":"failed","reason":"` + strings.Repeat("x", 20<<20) + "\"}\n")
	f.WriteString("not json\n")
	f.WriteString(`{"job":"b","state":"done"}` + "\n")
	f.WriteString(`{"job":"c","sta`) // torn by a killed controller
	f.Close()
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Job != "a" || got[1].Job != "b" {
		t.Fatalf("entries = %+v, want a and b", got)
	}
}

func TestReadOfAMissingJournalIsEmpty(t *testing.T) {
	got, err := Read(filepath.Join(t.TempDir(), "none.jsonl"))
	if err != nil || len(got) != 0 {
		t.Fatalf("%v, %v", got, err)
	}
}
