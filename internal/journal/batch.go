package journal

import (
	"encoding/json"
	"fmt"
)

// AppendAll writes es in order and syncs the file once: a sweep's queued
// entries, one per job, cost one sync instead of one each, which on a
// 1,000-job sweep is a second or more before the first job may start.
func (j *Journal) AppendAll(es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	var b []byte
	for _, e := range es {
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		b = append(append(b, line...), '\n')
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	return nil
}
