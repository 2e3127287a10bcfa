package main

import (
	"runtime/debug"
	"testing"
)

func TestLessGCRaisesTheTargetForTheCommandOnlyAndLeavesAUsersGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	restore := lessGC(func(string) string { return "" })
	if got := debug.SetGCPercent(planGCPercent); got != planGCPercent {
		t.Errorf("during the command the target is %d, want %d", got, planGCPercent)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after the command the target is %d, want 100 back", got)
	}
	restore = lessGC(func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set the target became %d, want it left at 100", got)
	}
	restore()
}
