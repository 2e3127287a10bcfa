package agentic

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/agentic/trace"
)

// benchFirstChunk is the fast server's delay before its first chunk; what
// the client measures beyond it is the client's (and the loopback's) own.
const benchFirstChunk = 2 * time.Millisecond

// fastServer streams tokens chunks at once after benchFirstChunk, each
// flushed, then usage and [DONE].
func fastServer(tokens int) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		time.Sleep(benchFirstChunk)
		f := w.(http.Flusher)
		for range tokens {
			io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" tok\"}}]}\n\n")
			f.Flush()
		}
		fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":%d,\"prompt_tokens_details\":{\"cached_tokens\":64}}}\n\ndata: [DONE]\n\n", tokens)
	}))
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReplay measures the replay rate the client sustains on one
// core (GOMAXPROCS=1, shared with the in-process server, so the figures
// are a floor for the client alone), as wall-clock rates and per CPU-second
// (the rate of one dedicated core on a shared machine): sessions of 40 turns with no think
// time, 16 output tokens a turn, contexts growing by 64 tokens (256
// bytes of text) a turn. Run it with -benchtime=1x: each iteration is a
// replay of -replay.seconds.
//
//	go test -run '^$' -bench BenchmarkReplay -benchtime=1x ./internal/agentic/
func BenchmarkReplay(b *testing.B) {
	const tokens, turns = 16, 40
	var trees []*trace.Tree
	for i := range 64 {
		var ts []tt
		for k := range turns {
			ts = append(ts, tt{T: float64(k), API: 1, Out: tokens})
		}
		tr := tree(fmt.Sprintf("t%d", i), conv(fmt.Sprintf("t%d", i), -1, 0, -1, 0, 0, ts...))
		for k := range tr.Convs[0].Turns {
			for m := range tr.Convs[0].Turns[k].Add {
				for j := range tr.Convs[0].Turns[k].Add[m].Blocks {
					tr.Convs[0].Turns[k].Add[m].Blocks[j].Tokens = 64
				}
			}
		}
		trees = append(trees, tr)
	}
	for _, sessions := range []int{1, 256, 1024} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			srv := fastServer(tokens)
			defer srv.Close()
			prev := runtime.GOMAXPROCS(1)
			defer runtime.GOMAXPROCS(prev)
			cfg := baseConfig(sessions, 5*time.Second)
			cfg.BaseURL, cfg.RunID, cfg.RequestTimeout = srv.URL, "bench", time.Minute
			var reqs, toks float64
			var added []float64
			var elapsed, cpu time.Duration
			for b.Loop() {
				start, cpu0 := time.Now(), cpuTime()
				res, err := Run(context.Background(), cfg, trees)
				if err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				cpu += cpuTime() - cpu0
				reqs += float64(res.Stats.Successful)
				toks += float64(res.Stats.OutputTokens)
				for _, r := range res.Records {
					if r.OK() {
						added = append(added, (r.TTFT - benchFirstChunk).Seconds())
					}
				}
				if res.Stats.Errors > 0 {
					b.Fatalf("%d failed requests: %v", res.Stats.Errors, res.Stats.ErrorCategories)
				}
			}
			d := newDist(added)
			b.ReportMetric(reqs/elapsed.Seconds(), "req/s")
			b.ReportMetric(toks/elapsed.Seconds(), "tok/s")
			// Per CPU-second of the process (client and server): the rate one
			// dedicated core gives, whatever else the machine runs.
			b.ReportMetric(reqs/cpu.Seconds(), "req/cpu-s")
			b.ReportMetric(toks/cpu.Seconds(), "tok/cpu-s")
			b.ReportMetric(1000*d.P50, "added-ttft-p50-ms")
			b.ReportMetric(1000*d.P99, "added-ttft-p99-ms")
		})
	}
}
