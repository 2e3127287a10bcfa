package journal

import "testing"

// TestDurableStates pins which entries are synced before fleet goes on:
// every state a resumed run acts on (a handle to re-attach to, a result,
// a failure, a retry) but not the progress marks in between.
func TestDurableStates(t *testing.T) {
	for _, tt := range []struct {
		state string
		want  bool
	}{
		{StateQueued, true},
		{StatePreparing, false},
		{StateRunning, true},
		{StateFetching, false},
		{StateDone, true},
		{StateFailed, true},
		{StateRetrying, true},
		{StateCancelled, true},
	} {
		if got := durable(tt.state); got != tt.want {
			t.Errorf("durable(%q) = %v, want %v", tt.state, got, tt.want)
		}
	}
}
