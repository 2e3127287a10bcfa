package results

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestRowFingerprintAndReuse(t *testing.T) {
	r, err := Aggregate(Meta{RunID: "r1", JobID: "j", HW: "h200", TP: 8, Conc: 64, Fingerprint: "abc"}, []byte(clientResult))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Fingerprint(); got != "abc" {
		t.Fatalf("Fingerprint = %q, want abc", got)
	}
	if r.ReusedFrom() != nil {
		t.Fatalf("a measured row says it is reused")
	}
	started := time.Date(2026, 11, 29, 10, 15, 0, 0, time.UTC)
	r.MarkReused(Reuse{Run: "20261129-101500-full", Job: "j", Started: started})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"recipe_fingerprint":"abc"`)) || !bytes.Contains(b, []byte(`"reused_from":{"run":"20261129-101500-full"`)) {
		t.Errorf("row JSON lacks the fingerprint or the reuse: %s", b)
	}
	var back Row
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	u := back.ReusedFrom()
	if back.Fingerprint() != "abc" || u == nil || u.Run != "20261129-101500-full" || !u.Started.Equal(started) {
		t.Errorf("read back: fingerprint %q, reuse %+v", back.Fingerprint(), u)
	}

	// An InferenceX row without a fingerprint writes ""; no fingerprint
	// leaves a row without the key.
	ix := &Row{Extra: map[string]json.RawMessage{FingerprintKey: json.RawMessage(`""`)}}
	plain, _ := Aggregate(Meta{TP: 1, Conc: 1}, []byte(clientResult))
	if ix.Fingerprint() != "" || plain.Fingerprint() != "" || plain.Extra[FingerprintKey] != nil {
		t.Errorf("rows without a fingerprint: %q, %q %s", ix.Fingerprint(), plain.Fingerprint(), plain.Extra[FingerprintKey])
	}

	var tab bytes.Buffer
	if err := WriteTable(&tab, []*Row{plain, &back}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(tab.String()), "\n")
	if !strings.Contains(lines[0], "REUSED FROM") || !strings.HasSuffix(strings.TrimSpace(lines[1]), "-") ||
		!strings.HasSuffix(strings.TrimSpace(lines[2]), "20261129-101500-full") {
		t.Errorf("table does not say which rows are reused:\n%s", tab.String())
	}
	tab.Reset()
	WriteTable(&tab, []*Row{plain})
	if strings.Contains(tab.String(), "REUSED") {
		t.Errorf("table of measured rows has a REUSED column:\n%s", tab.String())
	}
}
