package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/fleetbench/fleet/internal/atomicfile"
)

// ReadRow reads an aggregated row file holding one row and checks it
// (Row.Check). A file of several rows (a multi-node job's) is refused:
// read it with ReadRows.
func ReadRow(path string) (*Row, error) {
	rows, err := ReadRows(path)
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("%s: holds %d rows, want one", path, len(rows))
	}
	return rows[0], nil
}

// ReadRows reads a job's row file: one row (a JSON object, as every
// single-node job writes it) or several (a JSON array, one row per
// concurrency of a multi-node job), each checked (Row.Check). A file
// without a row is an error: a job is done when its row file reads.
func ReadRows(path string) ([]*Row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rows, err := ParseRows(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// ParseRows decodes a row file's contents: one row or an array of them.
func ParseRows(b []byte) ([]*Row, error) {
	b = bytes.TrimSpace(b)
	if !bytes.HasPrefix(b, []byte("[")) {
		r, err := ParseRow(b)
		if err != nil {
			return nil, err
		}
		return []*Row{r}, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, errors.New("no rows")
	}
	rows := make([]*Row, 0, len(raws))
	for i, raw := range raws {
		r, err := ParseRow(raw)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// WriteRows writes a job's row file atomically: one row as an object, as
// single-node jobs always have, several as an array. It refuses no rows
// (a row file says its job is done) and a row that fails Row.Check.
func WriteRows(path string, rows []*Row) error {
	if len(rows) == 0 {
		return fmt.Errorf("write rows %s: no rows", path)
	}
	for _, r := range rows {
		if err := r.Check(); err != nil {
			return fmt.Errorf("write rows %s: conc %d: %w", path, r.Conc, err)
		}
	}
	var v any = rows
	if len(rows) == 1 {
		v = rows[0]
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write rows %s: %w", path, err)
	}
	return atomicfile.WriteBytes(path, append(b, '\n'), 0o644) // its error names path
}
