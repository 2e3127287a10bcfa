package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeWorker records what a router sends it and answers as told.
type fakeWorker struct {
	name string
	url  string

	mu     sync.Mutex
	bodies []map[string]json.RawMessage
	health int
	answer func(w http.ResponseWriter, r *http.Request)
}

func newFakeWorker(t *testing.T, name string, answer func(w http.ResponseWriter, r *http.Request)) *fakeWorker {
	t.Helper()
	f := &fakeWorker{name: name, health: 200, answer: answer}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			f.mu.Lock()
			code := f.health
			f.mu.Unlock()
			w.WriteHeader(code)
			return
		}
		var body map[string]json.RawMessage
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.mu.Unlock()
		f.answer(w, r)
	}))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	f.url = hs.URL
	return f
}

func (f *fakeWorker) hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies)
}

func (f *fakeWorker) body(i int) map[string]json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[i]
}

const fakeKV = `{"do_remote_prefill":true,"do_remote_decode":false,"remote_block_ids":[7],"remote_engine_id":"eng","remote_host":"10.0.0.1","remote_port":7200,"remote_request_id":"cmpl-1"}`

func fakePrefill(t *testing.T, name string) *fakeWorker {
	return newFakeWorker(t, name, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, []byte(`{"id":"cmpl-1","choices":[{"text":" x"}],"kv_transfer_params":`+fakeKV+`}`))
	})
}

// fakeStream is what the fake decode streams, byte for byte.
const fakeStream = "data: {\"choices\":[{\"text\":\" a\"}]}\n\ndata: {\"choices\":[{\"text\":\" b\"}]}\n\ndata: [DONE]\n\n"

func fakeDecode(t *testing.T, name string) *fakeWorker {
	return newFakeWorker(t, name, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		_, _ = io.WriteString(w, fakeStream)
	})
}

func TestRouterRunsTheTwoPhaseFlow(t *testing.T) {
	p, d := fakePrefill(t, "p"), fakeDecode(t, "d")
	url := startRouter(t, RouterConfig{Prefill: []string{p.url}, Decode: []string{d.url}})
	for _, path := range []string{"/v1/completions", "/v1/chat/completions"} {
		t.Run(path, func(t *testing.T) {
			before := p.hits()
			body := `{"model":"m","prompt":[1,2,3],"messages":[{"role":"user","content":"hi"}],"max_tokens":50,"max_completion_tokens":50,"min_tokens":10,"stream":true,"stream_options":{"include_usage":true}}`
			status, got := postJSON(t, url+path, body)
			if status != 200 || got != fakeStream {
				t.Fatalf("client got %d %q, want the decode's stream byte for byte", status, got)
			}
			p1 := p.body(before)
			for k, want := range map[string]string{"max_tokens": "1", "max_completion_tokens": "1", "stream": "false", "model": `"m"`} {
				if string(p1[k]) != want {
					t.Errorf("phase 1 %s = %s, want %s", k, p1[k], want)
				}
			}
			for _, k := range []string{"stream_options", "min_tokens"} {
				if _, ok := p1[k]; ok {
					t.Errorf("phase 1 still has %s", k)
				}
			}
			var kv map[string]any
			if err := json.Unmarshal(p1["kv_transfer_params"], &kv); err != nil || kv["do_remote_decode"] != true || kv["do_remote_prefill"] != false {
				t.Errorf("phase 1 kv_transfer_params %s", p1["kv_transfer_params"])
			}
			p2 := d.body(before)
			if string(p2["kv_transfer_params"]) != fakeKV {
				t.Errorf("phase 2 kv_transfer_params %s, want the prefill's %s", p2["kv_transfer_params"], fakeKV)
			}
			for k, want := range map[string]string{"max_tokens": "50", "min_tokens": "10", "stream": "true", "stream_options": `{"include_usage":true}`} {
				if string(p2[k]) != want {
					t.Errorf("phase 2 %s = %s, want the client's %s", k, p2[k], want)
				}
			}
		})
	}
}

func TestRouterPolicies(t *testing.T) {
	newPools := func() ([]*fakeWorker, []*fakeWorker, []string, []string) {
		ps := []*fakeWorker{fakePrefill(t, "p0"), fakePrefill(t, "p1")}
		ds := []*fakeWorker{fakeDecode(t, "d0"), fakeDecode(t, "d1"), fakeDecode(t, "d2")}
		return ps, ds, []string{ps[0].url, ps[1].url}, []string{ds[0].url, ds[1].url, ds[2].url}
	}
	t.Run("round robin alternates", func(t *testing.T) {
		ps, ds, pu, du := newPools()
		url := startRouter(t, RouterConfig{Prefill: pu, Decode: du, Policy: PolicyRoundRobin})
		for i := range 6 {
			postJSON(t, url+"/v1/completions", `{"prompt":[1],"max_tokens":2}`)
			if got, want := ps[i%2].hits(), i/2+1; got != want {
				t.Fatalf("after %d requests prefill %d has %d, want %d", i+1, i%2, got, want)
			}
			if got, want := ds[i%3].hits(), i/3+1; got != want {
				t.Fatalf("after %d requests decode %d has %d, want %d", i+1, i%3, got, want)
			}
		}
	})
	t.Run("session pins by header", func(t *testing.T) {
		ps, ds, pu, du := newPools()
		url := startRouter(t, RouterConfig{Prefill: pu, Decode: du, Policy: PolicySession})
		for _, h := range SessionHeaders {
			for session := range 8 {
				before := [2]int{ps[0].hits(), ps[1].hits()}
				beforeD := [3]int{ds[0].hits(), ds[1].hits(), ds[2].hits()}
				for range 3 {
					postJSON(t, url+"/v1/completions", `{"prompt":[1],"max_tokens":2}`, h, fmt.Sprint("conv-", session))
				}
				moved := 0
				for i, w := range ps {
					if w.hits() != before[i] {
						moved++
					}
				}
				for i, w := range ds {
					if w.hits() != beforeD[i] {
						moved++
					}
				}
				if moved != 2 {
					t.Fatalf("%s conv-%d: its 3 requests went to %d workers, want one prefill and one decode", h, session, moved)
				}
			}
		}
		if ps[0].hits() == 0 || ps[1].hits() == 0 {
			t.Errorf("24 sessions all pinned to one prefill (%d, %d)", ps[0].hits(), ps[1].hits())
		}
	})
	t.Run("random uses every worker", func(t *testing.T) {
		ps, _, pu, du := newPools()
		url := startRouter(t, RouterConfig{Prefill: pu, Decode: du, Policy: PolicyRandom, Seed: 1})
		for range 40 {
			postJSON(t, url+"/v1/completions", `{"prompt":[1],"max_tokens":2}`)
		}
		if ps[0].hits() == 0 || ps[1].hits() == 0 {
			t.Errorf("random policy used one prefill only (%d, %d)", ps[0].hits(), ps[1].hits())
		}
	})
}

// deadURL is an address nobody listens on.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestRouterAnswers502WhenAWorkerIsDown(t *testing.T) {
	p, d := fakePrefill(t, "p"), fakeDecode(t, "d")
	for _, tt := range []struct {
		name            string
		prefill, decode string
	}{
		{"prefill down", deadURL(t), d.url},
		{"decode down", p.url, deadURL(t)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := startRouter(t, RouterConfig{Prefill: []string{tt.prefill}, Decode: []string{tt.decode}})
			status, body := postJSON(t, url+"/v1/completions", `{"prompt":[1],"max_tokens":2,"stream":true}`)
			var e struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
					Code    int    `json:"code"`
				} `json:"error"`
			}
			if status != 502 || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != 502 || e.Error.Message == "" {
				t.Errorf("%d %s: want an OpenAI-shaped 502", status, body)
			}
		})
	}
}

func TestRouterRelaysAPrefillRefusal(t *testing.T) {
	p := newFakeWorker(t, "p", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 400, []byte(`{"error":{"message":"too long","type":"BadRequestError","param":null,"code":400}}`))
	})
	d := fakeDecode(t, "d")
	url := startRouter(t, RouterConfig{Prefill: []string{p.url}, Decode: []string{d.url}})
	status, body := postJSON(t, url+"/v1/completions", `{"prompt":[1],"max_tokens":2}`)
	if status != 400 || !strings.Contains(body, "too long") || d.hits() != 0 {
		t.Errorf("%d %s (decode hits %d): want the prefill's 400 and no phase 2", status, body, d.hits())
	}
}

func TestRouterHealthAggregatesWorkers(t *testing.T) {
	p, d, a := fakePrefill(t, "p"), fakeDecode(t, "d"), fakeDecode(t, "a")
	url := startRouter(t, RouterConfig{Prefill: []string{p.url}, Decode: []string{d.url}, Agg: []string{a.url}})
	get := func() (int, []instance) {
		resp, err := http.Get(url + "/health")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h struct {
			Status    string     `json:"status"`
			Instances []instance `json:"instances"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, h.Instances
	}
	status, inst := get()
	if status != 200 || len(inst) != 3 {
		t.Fatalf("all healthy: %d %+v", status, inst)
	}
	for i, want := range []string{"prefill", "decode", "backend"} {
		if inst[i].Component != want || inst[i].Endpoint != "generate" {
			t.Errorf("instance %d: %+v, want component %s endpoint generate", i, inst[i], want)
		}
	}
	d.mu.Lock()
	d.health = 503
	d.mu.Unlock()
	if status, inst := get(); status != 503 || len(inst) != 2 {
		t.Errorf("one decode unhealthy: %d %+v, want 503 listing the two healthy ones", status, inst)
	}
	url = startRouter(t, RouterConfig{Prefill: []string{p.url}, Decode: []string{deadURL(t)}})
	if resp, err := http.Get(url + "/health"); err != nil || resp.StatusCode != 503 {
		t.Errorf("a dead decode: %v %v, want 503", resp, err)
	} else {
		resp.Body.Close()
	}
}

func TestRouterPassesClientCancellationUpstream(t *testing.T) {
	p := fakePrefill(t, "p")
	cancelled := make(chan struct{})
	d := newFakeWorker(t, "d", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(cancelled)
	})
	url := startRouter(t, RouterConfig{Prefill: []string{p.url}, Decode: []string{d.url}})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := post(ctx, url+"/v1/completions", `{"prompt":[1],"max_tokens":2,"stream":true}`)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("first event: %v", err)
	}
	cancel()
	resp.Body.Close()
	<-cancelled // the decode's request ended: the test would hang otherwise
}

func TestRouterBoundsWorkerLines(t *testing.T) {
	p := fakePrefill(t, "p")
	d := newFakeWorker(t, "d", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: "+strings.Repeat("x", maxRelayLine+10)+"\n\n")
	})
	url := startRouter(t, RouterConfig{Prefill: []string{p.url}, Decode: []string{d.url}})
	resp, err := post(context.Background(), url+"/v1/completions", `{"prompt":[1],"max_tokens":2,"stream":true}`)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n > maxRelayLine {
		t.Errorf("relayed %d bytes of an over-long line, ending with %v: want the stream cut", n, err)
	}
}

func TestRouterConfigIsChecked(t *testing.T) {
	for _, rc := range []RouterConfig{
		{},
		{Prefill: []string{"http://a:1"}},
		{Decode: []string{"http://a:1"}},
		{Agg: []string{"a:1"}},
		{Agg: []string{"http://a:1"}, Policy: "fastest"},
		{Agg: []string{"http://a:1"}, Format: FormatTRT},
	} {
		if _, err := NewRouter(rc); err == nil {
			t.Errorf("NewRouter(%+v) accepted a bad config", rc)
		}
	}
}

func TestSGLangPairSendFailsWhenThePrefillIsDown(t *testing.T) {
	// The decode waits for its room, as a real one does, until the router
	// gives up on the request.
	d := newFakeWorker(t, "d", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	url := startRouter(t, RouterConfig{Prefill: []string{deadURL(t)}, Decode: []string{d.url}, Format: FormatSGLang, PrefillBootstrapPorts: []int{1}})
	status, body := postJSON(t, url+"/v1/completions", `{"prompt":[1],"max_tokens":2}`)
	if status != 502 || !strings.Contains(body, `"code":502`) {
		t.Errorf("%d %s: want an OpenAI-shaped 502", status, body)
	}
}
