package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll collects every payload from r, as strings.
func readAll(t testing.TB, r *Reader) ([]string, error) {
	t.Helper()
	var out []string
	for {
		p, err := r.Next()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out = append(out, string(p))
	}
}

func TestReaderSplitsDataLines(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // far over bufio.Scanner's 64 KiB
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"data lines with a space after the colon", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []string{`{"a":1}`, "[DONE]"}},
		{"data lines without a space", "data:{\"a\":1}\n\ndata:[DONE]\n\n", []string{`{"a":1}`, "[DONE]"}},
		{"only one leading space is removed", "data:  x\n\n", []string{" x"}},
		{"CRLF line ends", "data: a\r\n\r\ndata: b\r\n\r\n", []string{"a", "b"}},
		{"comments and other fields are skipped", ": ping\n\nevent: message\nid: 7\nretry: 10\ndata: a\n\n:\n\n", []string{"a"}},
		{"blank lines everywhere", "\n\n\ndata: a\n\n\n\n\ndata: b\n", []string{"a", "b"}},
		{"a stray space after the JSON and on the blank line", "data: {\"x\":1} \n \n\ndata: [DONE]\n\n", []string{`{"x":1}`, "[DONE]"}},
		{"a last line without a newline", "data: a\n\ndata: [DONE]", []string{"a", "[DONE]"}},
		{"empty data is skipped", "data:\n\ndata: \n\ndata: a\n\n", []string{"a"}},
		{"a line longer than 64 KiB", "data: " + long + "\n\ndata: b\n\n", []string{long, "b"}},
		{"lines without data", "foo\nbar: baz\n", nil},
		{"empty stream", "", nil},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"half reads", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				r := NewReader(rd.wrap(strings.NewReader(tt.in)), make([]byte, 512))
				got, err := readAll(t, r)
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				if !equalStrings(got, tt.want) {
					t.Errorf("payloads: got %q, want %q", clip(got), clip(tt.want))
				}
			})
		}
	}
}

func TestReaderReportsABrokenConnection(t *testing.T) {
	boom := errors.New("connection reset by peer")
	in := io.MultiReader(strings.NewReader("data: a\n\ndata: {\"cut"), iotest.ErrReader(boom))
	r := NewReader(in, nil)
	got, err := readAll(t, r)
	if !errors.Is(err, boom) {
		t.Fatalf("error: got %v, want %v", err, boom)
	}
	if !equalStrings(got, []string{"a"}) {
		t.Errorf("payloads before the break: got %q, want [a] (the cut fragment must not be returned)", got)
	}
}

func TestReaderLimitsLineLength(t *testing.T) {
	r := NewReader(strings.NewReader("data: "+strings.Repeat("y", 5000)+"\n"), make([]byte, 512))
	r.SetMaxLine(4096)
	_, err := r.Next()
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("got %v, want ErrLineTooLong", err)
	}
}

func TestReaderResetReusesTheBuffer(t *testing.T) {
	r := NewReader(strings.NewReader("data: a\n"), nil)
	if _, err := readAll(t, r); err != nil {
		t.Fatal(err)
	}
	buf := r.Buffer()
	r.Reset(strings.NewReader("data: b\n"))
	got, err := readAll(t, r)
	if err != nil || !equalStrings(got, []string{"b"}) {
		t.Fatalf("after Reset: got %q, %v", got, err)
	}
	if &r.Buffer()[0] != &buf[0] {
		t.Error("Reset allocated a new buffer")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func clip(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		out[i] = v
	}
	return out
}

// FuzzReader checks that the reader never panics and that how the bytes
// are split across reads never changes the payloads.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"data: {\"a\":1}\n\ndata: [DONE]\n\n",
		"data:x\r\n\r\n: c\r\n",
		"event: e\ndata: y",
		"\n\n\n",
		"data: " + strings.Repeat("z", 3000) + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole, err1 := readAll(t, NewReader(bytes.NewReader(in), make([]byte, 512)))
		bytewise, err2 := readAll(t, NewReader(iotest.OneByteReader(bytes.NewReader(in)), make([]byte, 512)))
		if err1 != nil || err2 != nil {
			t.Fatalf("errors: %v, %v", err1, err2)
		}
		if !equalStrings(whole, bytewise) {
			t.Fatalf("split reads changed payloads: %q vs %q", whole, bytewise)
		}
		for _, p := range whole {
			if strings.ContainsAny(p, "\n") || p == "" {
				t.Fatalf("payload %q holds a newline or is empty", p)
			}
		}
	})
}

func TestReaderLimitsLinesSkippedOnesIncluded(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // payloads before the error
	}{
		{"a flood of comments", "data: a\n" + strings.Repeat(": keep-alive\n", 10), []string{"a"}},
		{"a flood of blank lines", "data: a\n" + strings.Repeat("\n", 10), []string{"a"}},
		{"a flood of payloads", strings.Repeat("data: a\n", 10), []string{"a", "a", "a", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), nil)
			r.SetMaxLines(4)
			got, err := readAll(t, r)
			if !errors.Is(err, ErrTooManyLines) {
				t.Fatalf("got %v, want ErrTooManyLines", err)
			}
			if !equalStrings(got, tt.want) {
				t.Errorf("payloads before the limit: got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("a stream within the limit reads whole", func(t *testing.T) {
		r := NewReader(strings.NewReader("data: a\n\ndata: b\n\n"), nil)
		r.SetMaxLines(4)
		got, err := readAll(t, r)
		if err != nil || !equalStrings(got, []string{"a", "b"}) {
			t.Fatalf("got %q, %v", got, err)
		}
	})
}
