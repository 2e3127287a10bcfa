// Package sse reads the server-sent event streams that OpenAI-compatible
// inference servers (vLLM, SGLang, TensorRT-LLM) send for streamed
// completions, and extracts from each event the few fields a benchmark
// needs without allocating per event.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxLine bounds one line of the stream. Servers put a whole JSON
// chunk on one line, and a chunk can be large (logprobs, long texts, token
// id lists), so the limit is far above bufio.Scanner's 64 KiB, which made
// other clients fail on long contexts; a streamed chunk carries one or a
// few tokens, so 1 MiB is still hundreds of times what one needs, while a
// server that never ends its line costs each request at most that much.
const DefaultMaxLine = 1 << 20

// ErrLineTooLong is returned when a line exceeds the reader's limit.
var ErrLineTooLong = errors.New("sse: line too long")

// ErrTooManyLines is returned when the stream has more lines than the
// reader's limit (SetMaxLines).
var ErrTooManyLines = errors.New("sse: too many lines")

// Reader splits a text/event-stream body into the payloads of its data
// lines. Each "data:" line is one payload, as bench_serving reads them
// (servers send exactly one data line per event); blank lines, comments
// (":" lines) and other fields (event, id, retry) are skipped.
type Reader struct {
	rd      io.Reader
	buf     []byte
	r, w    int // buf[r:w] is read but not yet consumed
	err     error
	maxLine int
	// lines counts the lines read, skipped ones included, against
	// maxLines (0: no limit): comments and blank lines cost no memory, but
	// a server that sends nothing else would keep a request busy forever.
	lines, maxLines int
}

// NewReader returns a Reader on rd. buf, when not nil, is used as the
// initial buffer so a caller can reuse one across requests; it grows
// (up to DefaultMaxLine) when a line does not fit.
func NewReader(rd io.Reader, buf []byte) *Reader {
	if len(buf) < 512 {
		buf = make([]byte, 32<<10)
	}
	return &Reader{rd: rd, buf: buf[:cap(buf)], maxLine: DefaultMaxLine}
}

// Reset makes the reader read from rd, keeping its buffer.
func (r *Reader) Reset(rd io.Reader) {
	r.rd, r.r, r.w, r.err, r.lines = rd, 0, 0, nil, 0
}

// SetMaxLine changes the line length limit (for tests and tight memory).
func (r *Reader) SetMaxLine(n int) { r.maxLine = n }

// SetMaxLines limits how many lines Next reads in all, skipped lines
// included; past it Next returns ErrTooManyLines. 0 means no limit.
func (r *Reader) SetMaxLines(n int) { r.maxLines = n }

// Buffer returns the reader's current buffer, to hand to the next Reader.
func (r *Reader) Buffer() []byte { return r.buf }

// Next returns the payload of the next data line: the text after "data:"
// and one optional space, without the line end and trailing blanks (one
// server writes a stray space after the JSON). The slice is valid until the
// next call. At the end of the stream Next returns io.EOF; a line cut off
// by the end of the stream is still returned first. Any other error comes
// from the underlying reader, unchanged so callers can classify it.
func (r *Reader) Next() ([]byte, error) {
	for {
		line, err := r.line()
		if err != nil {
			return nil, err
		}
		r.lines++
		if r.maxLines > 0 && r.lines > r.maxLines {
			return nil, fmt.Errorf("%w (over %d)", ErrTooManyLines, r.maxLines)
		}
		if len(line) == 0 || line[0] == ':' {
			continue
		}
		name, value := line, []byte(nil)
		if c := bytes.IndexByte(line, ':'); c >= 0 {
			name, value = line[:c], line[c+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		if string(name) != "data" {
			continue
		}
		value = trimRightBlank(value)
		if len(value) == 0 {
			continue
		}
		return value, nil
	}
}

// line returns the next line without its end ("\n" or "\r\n").
func (r *Reader) line() ([]byte, error) {
	scanned := 0 // bytes of buf[r:w] known to hold no newline
	for {
		if i := bytes.IndexByte(r.buf[r.r+scanned:r.w], '\n'); i >= 0 {
			end := r.r + scanned + i
			line := r.buf[r.r:end]
			r.r = end + 1
			return trimCR(line), nil
		}
		scanned = r.w - r.r
		if r.err != nil {
			// A last line without a newline counts only at a clean end: after
			// a broken connection it is a fragment.
			if r.err == io.EOF && r.r < r.w {
				line := r.buf[r.r:r.w]
				r.r = r.w
				return trimCR(line), nil
			}
			return nil, r.err
		}
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more into the buffer, compacting or growing it first.
func (r *Reader) fill() error {
	if r.r > 0 {
		n := copy(r.buf, r.buf[r.r:r.w])
		r.r, r.w = 0, n
	}
	if r.w == len(r.buf) {
		if len(r.buf) >= r.maxLine {
			return fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, r.maxLine)
		}
		size := min(2*len(r.buf), r.maxLine)
		nb := make([]byte, size)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	// A reader may return 0, nil; loop a bounded number of times as bufio does.
	for range 100 {
		n, err := r.rd.Read(r.buf[r.w:])
		r.w += n
		if err != nil {
			r.err = err
			return nil
		}
		if n > 0 {
			return nil
		}
	}
	r.err = io.ErrNoProgress
	return nil
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

func trimRightBlank(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case ' ', '\t', '\r':
			b = b[:len(b)-1]
		default:
			return b
		}
	}
	return b
}
