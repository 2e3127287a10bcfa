// Package filetail reads the end of a file: logs written on nodes can be
// large, and only their end says how a job went (the last error, the last
// progress line), so readers take a bounded tail instead of the whole file.
package filetail

import (
	"io"
	"os"
)

// Read returns at most the last limit bytes of the file at path.
func Read(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(st.Size()-limit, 0)
	return io.ReadAll(io.NewSectionReader(f, off, limit))
}
