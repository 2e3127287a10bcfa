package sim

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// pacing is what a client saw of the fixed schedule.
type pacing struct {
	ttftLate []time.Duration // first chunk: arrival minus request start (TTFT is 0)
	gapErr   []time.Duration // each later chunk: gap since the previous one minus ITL
}

// benchStreams runs rounds of `streams` concurrent streaming requests of
// `tokens` tokens each against an in-process server on loopback.
func benchStreams(b *testing.B, streams, tokens int, itl time.Duration) pacing {
	s, err := New(Config{Timing: TimingFixed, ITL: itl})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer func() { hs.Close(); s.Close() }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams, MaxConnsPerHost: 0}}
	body := fmt.Sprintf(`{"prompt":[1,2,3],"max_tokens":%d,"ignore_eos":true,"stream":true}`, tokens)
	var mu sync.Mutex
	var seen pacing
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var wg sync.WaitGroup
		for range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				resp, err := client.Post(hs.URL+"/v1/completions", "application/json", strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				defer resp.Body.Close()
				r := bufio.NewReaderSize(resp.Body, 64<<10)
				var local pacing
				var prev time.Time
				chunks := 0
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						break
					}
					if !bytes.HasPrefix(line, []byte("data: {")) {
						continue
					}
					now := time.Now()
					if chunks == 0 {
						local.ttftLate = append(local.ttftLate, now.Sub(t0))
					} else {
						local.gapErr = append(local.gapErr, now.Sub(prev)-itl)
					}
					prev = now
					chunks++
				}
				if chunks != tokens {
					b.Errorf("got %d chunks, want %d", chunks, tokens)
				}
				mu.Lock()
				seen.ttftLate = append(seen.ttftLate, local.ttftLate...)
				seen.gapErr = append(seen.gapErr, local.gapErr...)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*streams*tokens)/elapsed.Seconds(), "tokens/s")
	return seen
}

func quantile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return float64(d[int(q*float64(len(d)-1))].Microseconds())
}

// BenchmarkStreamThroughput is how many streamed tokens per second the
// simulator (and a simple client in the same process) sustain with no
// modelled delay at all: the ceiling on a run's token rate.
func BenchmarkStreamThroughput(b *testing.B) {
	for _, streams := range []int{64, 512} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			benchStreams(b, streams, 256, 0)
		})
	}
}

// BenchmarkStreamPaced streams with TTFT 0 and a fixed ITL (10 ms for 64
// streams, 50 ms for 512: about 6,400 and 10,000 chunks/s) and reports the
// error a client in the same process measures: first-chunk latency
// (connection and request included) and each chunk gap minus the ITL, as
// median and p99 in microseconds.
func BenchmarkStreamPaced(b *testing.B) {
	for _, c := range []struct {
		streams, tokens int
		itl             time.Duration
	}{{64, 50, 10 * time.Millisecond}, {512, 20, 50 * time.Millisecond}} {
		b.Run(fmt.Sprintf("streams=%d/itl=%v", c.streams, c.itl), func(b *testing.B) {
			p := benchStreams(b, c.streams, c.tokens, c.itl)
			b.ReportMetric(quantile(p.ttftLate, 0.5), "ttft-p50-µs")
			b.ReportMetric(quantile(p.ttftLate, 0.99), "ttft-p99-µs")
			b.ReportMetric(quantile(p.gapErr, 0.5), "itl-err-p50-µs")
			b.ReportMetric(quantile(p.gapErr, 0.99), "itl-err-p99-µs")
		})
	}
}
