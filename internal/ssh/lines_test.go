package ssh

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/charmbracelet/log"
)

func TestLineWriterSplitsStreamsIntoLines(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		max    int
		want   []string
	}{
		{"whole lines in one write", []string{"a\nb\n"}, 0, []string{"a", "b"}},
		{"a line split across writes", []string{"hel", "lo wor", "ld\n"}, 0, []string{"hello world"}},
		{"a last line without newline is emitted on close", []string{"a\nno newline"}, 0, []string{"a", "no newline"}},
		{"empty lines are kept", []string{"\n\na\n"}, 0, []string{"", "", "a"}},
		{"crlf ends a line", []string{"a\r\nb\r\n"}, 0, []string{"a", "b"}},
		{"crlf split across writes ends a line", []string{"a\r", "\nb\n"}, 0, []string{"a", "b"}},
		{"a lone cr overwrites like a terminal", []string{"10%\r50%\r100%\n"}, 0, []string{"100%"}},
		{"a cr at the end of a write then more text overwrites", []string{"10%\r", "20%\n"}, 0, []string{"20%"}},
		{"a trailing cr at close keeps the text before it", []string{"done\r"}, 0, []string{"done"}},
		{"long lines are split at the limit", []string{"abcdefghij\n"}, 4, []string{"abcd", "efgh", "ij"}},
		{"a split never cuts a character in two", []string{"ab日本\n"}, 4, []string{"ab", "日", "本"}},
		{"a line exactly at the limit is one line", []string{"abcd\n"}, 4, []string{"abcd"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var file bytes.Buffer
			sink := NewLines(nil, &file)
			sink.MaxLine = tc.max
			w := sink.Writer("node", "n1")
			for _, c := range tc.chunks {
				n, err := w.Write([]byte(c))
				if err != nil || n != len(c) {
					t.Fatalf("Write(%q) = %d, %v", c, n, err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			var want strings.Builder
			for _, l := range tc.want {
				want.WriteString("n1 | " + l + "\n")
			}
			if file.String() != want.String() {
				t.Errorf("file got\n%q\nwant\n%q", file.String(), want.String())
			}
		})
	}
}

func TestLineWriterLogsWithKeyvals(t *testing.T) {
	var logbuf bytes.Buffer
	logger := log.NewWithOptions(&logbuf, log.Options{Formatter: log.LogfmtFormatter})
	sink := NewLines(logger, nil)
	w := sink.Writer("node", "h200-1", "job", "j3")
	fmt.Fprint(w, "server ready on :8000\n")
	w.Close()
	got := logbuf.String()
	for _, want := range []string{`msg="server ready on :8000"`, "node=h200-1", "job=j3"} {
		if !strings.Contains(got, want) {
			t.Errorf("log line %q lacks %q", got, want)
		}
	}
}

// Many streams writing at once through one sink: every line arrives whole,
// in order per stream, never interleaved mid-line (run with -race).
func TestLinesSerialisesManyStreams(t *testing.T) {
	var file bytes.Buffer
	var logbuf bytes.Buffer
	logger := log.NewWithOptions(&logbuf, log.Options{Formatter: log.LogfmtFormatter})
	sink := NewLines(logger, &file)
	const streams, lines = 16, 200
	var wg sync.WaitGroup
	for s := 0; s < streams; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := sink.Writer("node", fmt.Sprintf("n%02d", s))
			for i := 0; i < lines; i++ {
				// Odd chunking so lines span writes.
				msg := fmt.Sprintf("line %04d of stream %02d\n", i, s)
				w.Write([]byte(msg[:5]))
				w.Write([]byte(msg[5:]))
			}
			w.Close()
		}()
	}
	wg.Wait()
	next := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(file.String(), "\n"), "\n") {
		var node string
		var i, s int
		if _, err := fmt.Sscanf(l, "%s | line %d of stream %d", &node, &i, &s); err != nil {
			t.Fatalf("mangled line %q: %v", l, err)
		}
		if node != fmt.Sprintf("n%02d", s) || i != next[node] {
			t.Fatalf("line %q out of order (want line %d)", l, next[node])
		}
		next[node]++
	}
	if len(next) != streams {
		t.Fatalf("%d streams seen, want %d", len(next), streams)
	}
	if n := strings.Count(logbuf.String(), "\n"); n != streams*lines {
		t.Errorf("%d log lines, want %d", n, streams*lines)
	}
}

func TestLineWriterSplitsInvalidUTF8Anywhere(t *testing.T) {
	var file bytes.Buffer
	sink := NewLines(nil, &file)
	sink.MaxLine = 3
	w := sink.Writer("n", "x")
	w.Write([]byte("\x80\x80\x80\x80\x80\n"))
	w.Close()
	lines := strings.Split(strings.TrimSuffix(file.String(), "\n"), "\n")
	if len(lines) != 2 || lines[0] != "x | \x80\x80\x80" || lines[1] != "x | \x80\x80" {
		t.Errorf("got %q", lines)
	}
	if utf8.ValidString(lines[0]) {
		t.Error("expected the raw bytes through")
	}
}
