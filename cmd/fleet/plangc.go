package main

import "runtime/debug"

// planGCPercent is the garbage collector's target while fleet plan runs.
// Reading a large sweep allocates several times the memory it keeps (HCL
// evaluates every dynamic block's expressions into short-lived values):
// on the full matrix the default target of 100 spends about a quarter of
// the command's CPU collecting, for some 10 MB less peak memory.
const planGCPercent = 400

// lessGC raises the collector's target for a short command and returns
// what puts it back; a GOGC the user set is left alone.
func lessGC(getenv func(string) string) (restore func()) {
	if getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(planGCPercent)
	return func() { debug.SetGCPercent(old) }
}
