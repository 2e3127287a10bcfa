package jobrun

import (
	"bytes"
	"context"
	"io"
	"os"
	"time"
)

// maxForwardLine bounds one forwarded line; the log file keeps it whole.
const maxForwardLine = 4 << 10

// forwardLog copies the lines a process appends to its log file into the
// job's output, each prefixed, until ctx ends (then what is left, once).
// It reads the file rather than the process's pipe, so a launcher's
// children that keep the pipe open can never hold the job up.
func (r *runner) forwardLog(ctx context.Context, path, prefix string, every time.Duration) {
	var off int64
	var partial []byte
	flush := func(final bool) {
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := f.ReadAt(buf, off)
			if n > 0 {
				off += int64(n)
				partial = append(partial, buf[:n]...)
				for {
					i := bytes.IndexByte(partial, '\n')
					if i < 0 {
						break
					}
					r.forwardLine(prefix, partial[:i])
					partial = partial[i+1:]
				}
				if len(partial) > maxForwardLine {
					r.forwardLine(prefix, partial)
					partial = partial[:0]
				}
			}
			if err == io.EOF || n == 0 || err != nil {
				break
			}
		}
		if final && len(partial) > 0 {
			r.forwardLine(prefix, partial)
			partial = nil
		}
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			flush(true)
			return
		case <-tick.C:
			flush(false)
		}
	}
}

func (r *runner) forwardLine(prefix string, line []byte) {
	line = bytes.TrimRight(line, "\r")
	if len(line) > maxForwardLine {
		line = append(line[:maxForwardLine:maxForwardLine], "..."...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.o.Out.Write(append(append([]byte(prefix), line...), '\n'))
}
