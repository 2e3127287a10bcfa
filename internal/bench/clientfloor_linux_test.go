package bench_test

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"
)

// BenchmarkClientCPUFloor measures what any client that times each
// streamed chunk must spend, against the same fixed-timing simulator as
// BenchmarkClientCPU (TTFT 50 ms, ITL 10 ms, 2 x streams requests of 256
// tokens, streams at a time): the loop below is no HTTP client at all.
// It writes a canned request on each of `streams` raw sockets, then one
// thread waits on all of them with epoll and reads each socket once per
// wake-up, reading the clock once a read and counting the chunks (no
// parsing, no allocation). Whatever it costs per chunk is the kernel's
// TCP receive, the wake-ups and the reads: the floor under fleet bench's
// figure and under the Python client's alike. It reports the floor's
// CPU-seconds per million chunks beside a fifth of the Python client's
// stated figure (the 5x target):
//
//	go test -run '^$' -bench ClientCPUFloor -benchtime 1x ./internal/bench/
func BenchmarkClientCPUFloor(b *testing.B) {
	const ttft, itl, outLen = 50 * time.Millisecond, 10 * time.Millisecond, 256
	for _, streams := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			base := startSimChild(b, ttft, itl)
			u, err := url.Parse(base)
			if err != nil {
				b.Fatal(err)
			}
			addr, err := net.ResolveTCPAddr("tcp4", u.Host)
			if err != nil {
				b.Fatal(err)
			}
			body := fmt.Sprintf(`{"model":"sim-model","prompt":"%s","max_tokens":%d,"ignore_eos":true,"stream":true}`,
				bytes.Repeat([]byte("hello "), 32), outLen)
			req := []byte(fmt.Sprintf("POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
				u.Host, len(body), body))
			floorRound(b, addr, req, 4) // warm the child
			var cpu time.Duration
			var chunks int
			for b.Loop() {
				u0, s0 := processCPU()
				for range 2 {
					chunks += floorRound(b, addr, req, streams)
				}
				u1, s1 := processCPU()
				cpu += u1 - u0 + s1 - s0
			}
			perM := cpu.Seconds() / float64(chunks) * 1e6
			b.ReportMetric(float64(chunks)/float64(b.N), "chunks/run")
			b.ReportMetric(perM, "floor-cpu-s/Mchunk")
			b.ReportMetric(pythonCPUPerMChunk[streams]/5, "target-cpu-s/Mchunk")
		})
	}
}

// floorRound streams one request on each of n raw sockets to the end and
// returns the chunks (SSE events) read.
func floorRound(b *testing.B, addr *net.TCPAddr, req []byte, n int) int {
	b.Helper()
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(ep)
	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	last := map[int32]byte{}
	for range n {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := syscall.Connect(fd, sa); err != nil {
			b.Fatal(err)
		}
		if _, err := syscall.Write(fd, req); err != nil {
			b.Fatal(err)
		}
		if err := syscall.SetNonblock(fd, true); err != nil {
			b.Fatal(err)
		}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			b.Fatal(err)
		}
		last[int32(fd)] = 0
	}
	buf := make([]byte, 64<<10)
	events := make([]syscall.EpollEvent, 256)
	sep := []byte("\n\n")
	chunks, open := 0, n
	var stamp time.Time
	for open > 0 {
		k, err := syscall.EpollWait(ep, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range events[:k] {
			fd := int(ev.Fd)
			r, err := syscall.Read(fd, buf)
			if err == syscall.EAGAIN {
				continue
			}
			stamp = time.Now() // a timing client reads the clock once a read
			if r <= 0 {
				syscall.Close(fd)
				open--
				continue
			}
			got := buf[:r]
			if last[ev.Fd] == '\n' && got[0] == '\n' {
				chunks++
			}
			chunks += bytes.Count(got, sep)
			last[ev.Fd] = got[r-1]
		}
	}
	_ = stamp
	// The stream's last event is [DONE], which is no token.
	return chunks - n
}
