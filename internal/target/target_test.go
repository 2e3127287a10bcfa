package target

import (
	"encoding/json"
	"testing"
)

// A handle journalled by an older fleet (no start time, no boot id) still
// reads, with its identity empty: targets treat that as "cannot verify".
func TestHandlesOfOlderJournalsStillRead(t *testing.T) {
	var h Handle
	if err := json.Unmarshal([]byte(`{"target":"n1","job_id":"j","attempt":2,"work_dir":"/w/r/j/2","ref":"4242"}`), &h); err != nil {
		t.Fatal(err)
	}
	if h.Ref != "4242" || h.WorkDir != "/w/r/j/2" || h.Start != "" || h.Boot != "" {
		t.Fatalf("%+v", h)
	}
	h.Start, h.Boot = "123456", "0b5e7c1d-2f3a-4b5c-8d9e-0f1a2b3c4d5e"
	data, _ := json.Marshal(h)
	var back Handle
	if err := json.Unmarshal(data, &back); err != nil || back != h {
		t.Fatalf("round trip: %+v, %v (%s)", back, err, data)
	}
}
