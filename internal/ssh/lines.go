package ssh

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/charmbracelet/log"
)

// DefaultMaxLine bounds one emitted line; longer ones are split so a
// runaway line (a progress bar, a dumped tensor) cannot grow memory.
const DefaultMaxLine = 16 << 10

// Lines fans the output of many streams (nodes, jobs) into one logger and
// one file, one whole line at a time. It serialises every line itself:
// charmbracelet/log clones made by With each have their own lock, so
// streams logging through clones would interleave on the shared writer.
type Lines struct {
	mu      sync.Mutex
	logger  *log.Logger // nil: no logging
	file    io.Writer   // nil: no file
	level   log.Level
	MaxLine int // 0: DefaultMaxLine
}

// NewLines returns a sink writing each line to logger (at info level, with
// the stream's keyvals) and to file as "value value | line". Either may be
// nil.
func NewLines(logger *log.Logger, file io.Writer) *Lines {
	return &Lines{logger: logger, file: file, level: log.InfoLevel}
}

// Writer returns an io.WriteCloser for one stream whose lines carry
// keyvals, e.g. ("node", "h200-1", "job", "j3"). Close emits a final line
// that has no newline.
func (s *Lines) Writer(keyvals ...any) *LineWriter {
	var vals []string
	for i := 1; i < len(keyvals); i += 2 {
		vals = append(vals, fmt.Sprint(keyvals[i]))
	}
	max := s.MaxLine
	if max <= 0 {
		max = DefaultMaxLine
	}
	return &LineWriter{sink: s, keyvals: keyvals, prefix: strings.Join(vals, " ") + " | ", max: max}
}

func (s *Lines) emit(w *LineWriter, line string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logger != nil {
		s.logger.Log(s.level, line, w.keyvals...)
	}
	if s.file != nil {
		if _, err := io.WriteString(s.file, w.prefix+line+"\n"); err != nil {
			return fmt.Errorf("write output line: %w", err)
		}
	}
	return nil
}

// LineWriter splits a byte stream into lines for a Lines sink. A lone \r
// (progress bars) overwrites the line as a terminal would, so only what a
// terminal finally shows is emitted; \r\n ends a line like \n.
type LineWriter struct {
	sink    *Lines
	keyvals []any
	prefix  string
	max     int

	mu     sync.Mutex
	buf    []byte
	sawCR  bool // the previous byte was \r: decide on the next one
	closed bool
}

// Write never keeps bytes back beyond the current partial line.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range p {
		if w.sawCR {
			w.sawCR = false
			if b != '\n' {
				w.buf = w.buf[:0]
			}
		}
		switch b {
		case '\n':
			if err := w.flushLocked(); err != nil {
				return 0, err
			}
		case '\r':
			w.sawCR = true
		default:
			w.buf = append(w.buf, b)
			if len(w.buf) > w.max {
				if err := w.splitLocked(); err != nil {
					return 0, err
				}
			}
		}
	}
	return len(p), nil
}

// splitLocked emits the first max bytes of an over-long line, cut at a
// UTF-8 boundary so no character is broken in two.
// It runs when the buffer holds max+1 bytes.
func (w *LineWriter) splitLocked() error {
	cut := w.max
	for i := 0; i < utf8.UTFMax && cut > 0 && !utf8.RuneStart(w.buf[cut]); i++ {
		cut--
	}
	if cut == 0 || !utf8.RuneStart(w.buf[cut]) {
		// Not UTF-8 there: any cut is as good.
		cut = w.max
	}
	line := string(w.buf[:cut])
	w.buf = append(w.buf[:0], w.buf[cut:]...)
	return w.sink.emit(w, line)
}

func (w *LineWriter) flushLocked() error {
	line := string(w.buf)
	w.buf = w.buf[:0]
	return w.sink.emit(w, line)
}

// Close emits a last line without a newline, if any.
func (w *LineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.sawCR = false
	if len(w.buf) == 0 {
		return nil
	}
	return w.flushLocked()
}
