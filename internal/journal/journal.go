// Package journal is a run's record of truth: every job state change,
// appended as a JSON line and synced before the engine acts on it, read
// back by resume, status, the live board and the results store.
package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/fleetbench/fleet/internal/target"
)

// Job states as the journal records them.
const (
	StateQueued    = "queued"
	StatePreparing = "preparing"
	StateRunning   = "running"
	StateFetching  = "fetching"
	StateDone      = "done"
	StateFailed    = "failed"
	StateRetrying  = "retrying"
	StateCancelled = "cancelled"
)

// Entry is one line of a run's journal: a job state change, written and
// synced before the engine acts on it.
type Entry struct {
	Time    time.Time      `json:"time"`
	Job     string         `json:"job"`
	Config  string         `json:"config,omitempty"` // on queued entries: the job's config key
	GPU     string         `json:"gpu,omitempty"`    // on queued entries: the GPU type it asks for
	Attempt int            `json:"attempt,omitempty"`
	Node    string         `json:"node,omitempty"`
	State   string         `json:"state"`
	Handle  *target.Handle `json:"handle,omitempty"`
	Exit    *target.Exit   `json:"exit,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	Result  string         `json:"result,omitempty"` // aggregated row file, relative to the run dir
}

// Journal appends entries to a JSON-lines file.
type Journal struct {
	mu sync.Mutex
	f  *os.File
}

// Open opens (creating or appending to) path.
func Open(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	return &Journal{f: f}, nil
}

// Append writes e, and syncs the file unless e only marks progress
// (see durable).
func (j *Journal) Append(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if !durable(e.State) {
		return nil
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	return nil
}

// durable says whether an entry must be on the disk before fleet goes
// on. A written entry survives the controller's own death either way
// (it sits in the kernel's cache); a sync guards against the machine
// losing power, at a fraction of a millisecond to tens of them on a busy
// disk, in front of every job. Preparing and fetching only mark
// progress: without them a resumed run reads the entry before (queued,
// running) and acts the same (it starts the job afresh, or re-attaches
// to it with the running entry's handle), and the next synced entry
// flushes them anyway.
func durable(state string) bool {
	return state != StatePreparing && state != StateFetching
}

// Close closes the file.
func (j *Journal) Close() error { return j.f.Close() }

// MaxLine bounds one journal line. fleet's own entries are far smaller
// (reasons are capped before they are recorded); a longer line is damage
// or someone else's writing, and is skipped rather than failing the read.
const MaxLine = 1 << 20

// Read reads every entry of path. A torn last line (a controller killed
// mid-write), a line that is not an entry and a line over MaxLine are
// skipped: one bad line must not make a run unreadable.
func Read(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	var out []Entry
	r := bufio.NewReaderSize(f, 64*1024)
	var line []byte
	tooLong := false
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("read journal %s: %w", path, err)
		}
		if !tooLong {
			line = append(line, chunk...)
			tooLong = len(line) > MaxLine
		}
		if isPrefix {
			continue
		}
		var e Entry
		if !tooLong && json.Unmarshal(line, &e) == nil && e.Job != "" {
			out = append(out, e)
		}
		line, tooLong = line[:0], false
	}
	return out, nil
}
