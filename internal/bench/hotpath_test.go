package bench

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

func tokenStream(n int) []byte {
	var b strings.Builder
	for range n {
		b.WriteString(`data: {"id":"cmpl-1","object":"text_completion","created":1760000000,"model":"m","choices":[{"index":0,"text":" tok\u00e9","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}` + "\n\n")
	}
	b.WriteString(`data: {"id":"cmpl-1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":` + strconv.Itoa(n) + `}}` + "\n\ndata: [DONE]\n\n")
	return []byte(b.String())
}

// TestReadingAStreamAllocatesNothingPerToken checks the hot path: reading
// 2000 tokens must cost no more allocations than reading 20.
func TestReadingAStreamAllocatesNothingPerToken(t *testing.T) {
	q := &requester{t0: time.Now(), onChunk: func(int) {}}
	bufs := &reqBuffers{}
	allocs := func(n int) float64 {
		body := tokenStream(n)
		rd := bytes.NewReader(body)
		return testing.AllocsPerRun(20, func() {
			rd.Reset(body)
			res := RequestResult{OutputLen: n, ChunkAt: make([]time.Duration, 0, n+2), ChunkTokens: make([]int32, 0, n+2)}
			q.readStream(context.Background(), rd, bufs, 0, &res)
			if !res.OK || len(res.ChunkAt) != n {
				t.Fatalf("stream of %d: ok=%v err=%q chunks=%d", n, res.OK, res.Err, len(res.ChunkAt))
			}
		})
	}
	few, many := allocs(20), allocs(2000)
	if many > few {
		t.Errorf("%v allocations for 2000 tokens, %v for 20: something allocates per token", many, few)
	}
}

func BenchmarkReadStream(b *testing.B) {
	const n = 1000
	body := tokenStream(n)
	q := &requester{t0: time.Now()}
	bufs := &reqBuffers{}
	rd := bytes.NewReader(body)
	res := RequestResult{OutputLen: n, ChunkAt: make([]time.Duration, 0, n+2), ChunkTokens: make([]int32, 0, n+2)}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rd.Reset(body)
		res.ChunkAt, res.ChunkTokens = res.ChunkAt[:0], res.ChunkTokens[:0]
		q.readStream(context.Background(), rd, bufs, 0, &res)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/token")
}
