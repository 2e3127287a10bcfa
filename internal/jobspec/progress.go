package jobspec

import (
	"encoding/json"
	"fmt"
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
	// Reason says why the job failed, in phase done (bounded by
	// MaxReason); a multi-node job's names the process and the node.
	Reason string `json:"reason,omitempty"`
}

// MaxReason bounds a progress line's reason, so that the line stays
// within MaxProgressLine whatever the reason quotes.
const MaxReason = 640

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

// String says in a few words where the job is, for boards and tables:
// "benchmark 120/640 req, 5123 tok/s, 2 failed", or the phase alone.
func (p Progress) String() string {
	if p.Phase != PhaseBenchmark || p.Total == 0 {
		return p.Phase
	}
	s := fmt.Sprintf("%s %d/%d req", p.Phase, p.Done, p.Total)
	if p.TokensPerSec > 0 {
		s += fmt.Sprintf(", %.0f tok/s", p.TokensPerSec)
	}
	if p.Failed > 0 {
		s += fmt.Sprintf(", %d failed", p.Failed)
	}
	return s
}

// LastProgress returns the last progress line in the end of a job's
// output (tail: the log's last bytes, which a caller reads from the end of
// the file so that a long log costs nothing).
func LastProgress(tail []byte) (Progress, bool) {
	lines := strings.Split(string(tail), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if p, ok := ParseProgress(lines[i]); ok {
			return p, true
		}
	}
	return Progress{}, false
}
