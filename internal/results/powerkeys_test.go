package results

import (
	"slices"
	"testing"
)

// TestPowerKeys checks the list InferenceX's row export walks: each key
// once, the schema version and validity first (the export writes them
// apart from the figures), and a new slice per call.
func TestPowerKeys(t *testing.T) {
	keys := PowerKeys()
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("PowerKeys lists %q twice", k)
		}
		seen[k] = true
	}
	if len(keys) < 2 || keys[0] != KeyPowerSchemaVersion || keys[1] != KeyPowerValid {
		t.Errorf("PowerKeys starts %q, want the schema version and validity first", keys)
	}
	for _, k := range []string{KeyEnergyJ, KeyAvgPowerW, KeyAvgTotalPowerW, KeyJoulesPerQuery, KeyJoulesPerInTok,
		KeyJoulesPerOutTok, KeyJoulesPerTotalTok} {
		if !seen[k] {
			t.Errorf("PowerKeys lacks %q", k)
		}
	}
	keys[0] = "changed"
	if again := PowerKeys(); again[0] != KeyPowerSchemaVersion || slices.Equal(again, keys) {
		t.Errorf("PowerKeys shares its slice between calls: %q", again)
	}
}
