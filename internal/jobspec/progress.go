package jobspec

import (
	"encoding/json"
	"strings"
)

// Phases of a running job, in order.
const (
	PhaseStarting  = "starting-server"
	PhaseHealth    = "waiting-for-health"
	PhaseBenchmark = "benchmark"
	PhaseStopping  = "stopping"
	PhaseDone      = "done"
)

// ProgressPrefix starts every progress line; nothing else a job prints
// starts with it.
const ProgressPrefix = "@fleet-progress "

// MaxProgressLine bounds a progress line; longer lines are not progress.
const MaxProgressLine = 1024

// Progress is one progress report of a running job: a phase change, or
// during the benchmark the requests done so far.
type Progress struct {
	Phase        string  `json:"phase"`
	Port         int     `json:"port,omitempty"`  // the server's port, once chosen
	Done         int     `json:"done,omitempty"`  // requests finished (failed ones included)
	Total        int     `json:"total,omitempty"` // requests of the measured run
	Failed       int     `json:"failed,omitempty"`
	TokensPerSec float64 `json:"tok_s,omitempty"`     // output tokens per second, lately
	Elapsed      float64 `json:"elapsed_s,omitempty"` // seconds in this phase
	Code         int     `json:"code,omitempty"`      // the exit code, in phase done
}

// FormatProgress renders p as one line (without the line break):
// ProgressPrefix followed by p as compact JSON.
func FormatProgress(p Progress) string {
	b, _ := json.Marshal(p) // plain fields: cannot fail
	return ProgressPrefix + string(b)
}

// ParseProgress reads a progress line among other log lines; ok is false
// for anything else.
func ParseProgress(line string) (p Progress, ok bool) {
	line = strings.TrimRight(line, "\r\n")
	if len(line) > MaxProgressLine || !strings.HasPrefix(line, ProgressPrefix) {
		return Progress{}, false
	}
	if err := json.Unmarshal([]byte(line[len(ProgressPrefix):]), &p); err != nil || p.Phase == "" {
		return Progress{}, false
	}
	return p, true
}
