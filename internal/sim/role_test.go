package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

type phase1Answer struct {
	ID      string `json:"id"`
	Choices []struct {
		Text string `json:"text"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	KV *kvParams `json:"kv_transfer_params"`
}

const phase1KV = `"kv_transfer_params":{"do_remote_decode":true,"do_remote_prefill":false,"remote_engine_id":null,"remote_block_ids":null,"remote_host":null,"remote_port":null}`

func phase1(t *testing.T, url string, prompt int) phase1Answer {
	t.Helper()
	status, body := postJSON(t, url+"/v1/completions", fmt.Sprintf(`{"prompt":%s,"max_tokens":1,"stream":false,%s}`, ids(prompt), phase1KV))
	if status != 200 {
		t.Fatalf("phase 1: %d %s", status, body)
	}
	var a phase1Answer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("phase 1 answer %s: %v", body, err)
	}
	return a
}

func TestPrefillHandsKVOverAndHoldsItUntilReleased(t *testing.T) {
	s, url, boot := startPrefill(t, pdCosts())
	a := phase1(t, url, 40)
	if a.Usage.PromptTokens != 40 || a.Usage.CompletionTokens != 1 || len(a.Choices) != 1 {
		t.Fatalf("phase 1 is not a one-token completion: %+v", a)
	}
	kv := a.KV
	if kv == nil || !kv.DoRemotePrefill || kv.DoRemoteDecode {
		t.Fatalf("kv_transfer_params %+v: want do_remote_prefill only", kv)
	}
	if kv.RemoteHost == nil || kv.RemotePort == nil || fmt.Sprintf("%s:%d", *kv.RemoteHost, *kv.RemotePort) != boot {
		t.Errorf("remote_host/port do not name the bootstrap endpoint %s: %+v", boot, kv)
	}
	if kv.RemoteEngineID == nil || *kv.RemoteEngineID == "" || kv.RemoteRequestID != a.ID {
		t.Errorf("engine id %v, request id %q (response id %q)", kv.RemoteEngineID, kv.RemoteRequestID, a.ID)
	}
	if len(kv.RemoteBlockIDs) != 3 { // 40 tokens in blocks of 16
		t.Errorf("remote_block_ids %v: want 3 blocks for 40 tokens", kv.RemoteBlockIDs)
	}
	if st := s.Stats(); st.KVHeld != 1 {
		t.Fatalf("the prefill holds %d requests' KV after phase 1, want 1", st.KVHeld)
	}

	kvc := &kvClient{hc: http.DefaultClient}
	ctx := t.Context()
	reply, err := kvc.call(ctx, boot, pathKVPull, kvPullRequest{ID: a.ID})
	if err != nil || reply.Tokens != 40 || reply.EngineID != *kv.RemoteEngineID {
		t.Fatalf("pull: %+v, %v", reply, err)
	}
	if _, err := kvc.call(ctx, boot, pathKVPull, kvPullRequest{ID: a.ID}); err == nil {
		t.Error("a second pull of the same KV succeeded")
	}
	if _, err := kvc.call(ctx, boot, pathKVRelease, kvPullRequest{ID: a.ID}); err != nil {
		t.Fatalf("release: %v", err)
	}
	if st := s.Stats(); st.KVHeld != 0 {
		t.Errorf("KV still held after release: %d", st.KVHeld)
	}
	if _, err := kvc.call(ctx, boot, pathKVPull, kvPullRequest{ID: a.ID}); err == nil {
		t.Error("released KV could still be pulled")
	}
}

func TestPrefillServesOrdinaryRequestsNormally(t *testing.T) {
	s, url, _ := startPrefill(t, pdCosts())
	status, body := postJSON(t, url+"/v1/completions", `{"prompt":[1,2,3],"max_tokens":5,"ignore_eos":true}`)
	if status != 200 || !strings.Contains(body, `"completion_tokens":5`) || !strings.Contains(body, `"kv_transfer_params":null`) {
		t.Fatalf("%d %s", status, body)
	}
	if s.Stats().KVHeld != 0 {
		t.Error("an ordinary request left KV held")
	}
}

func TestPrefillKVCapacityQueuesUntilADecodeReleases(t *testing.T) {
	cfg := pdCosts()
	cfg.KVCapacityTokens = 100
	s, url, boot := startPrefill(t, cfg)
	first := phase1(t, url, 60) // holds 61 tokens of KV
	var second phase1Answer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		second = phase1(t, url, 60)
	}()
	eventually(t, "the second prompt to wait for KV", func() bool { return s.Stats().Waiting == 1 })
	if s.Stats().KVHeld != 1 {
		t.Fatal("the second prompt was answered while the first one's KV fills the capacity")
	}
	kvc := &kvClient{hc: http.DefaultClient}
	if _, err := kvc.call(t.Context(), boot, pathKVRelease, kvPullRequest{ID: first.ID}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if second.KV == nil || s.Stats().KVUsedTokens != 61 {
		t.Errorf("after the release: second answer %+v, KV used %d (want 61)", second.KV, s.Stats().KVUsedTokens)
	}
	status, body := postJSON(t, url+"/v1/completions", fmt.Sprintf(`{"prompt":%s,"max_tokens":1,%s}`, ids(120), phase1KV))
	if status != 400 || !strings.Contains(body, "KV cache") {
		t.Errorf("a prompt over the KV capacity: %d %s, want 400", status, body)
	}
}

func TestPrefillFreesUnclaimedKVAfterTheAbortTimeout(t *testing.T) {
	cfg := pdCosts()
	cfg.KVCapacityTokens = 1000
	cfg.KVHoldTimeout = 20e6 // 20ms
	s, url, _ := startPrefill(t, cfg)
	phase1(t, url, 50)
	eventually(t, "the unclaimed KV to be freed", func() bool {
		st := s.Stats()
		return st.KVHeld == 0 && st.KVUsedTokens == 0
	})
}

func TestDecodePullsKVThenDecodesWithoutPrefillSteps(t *testing.T) {
	pre, purl, _ := startPrefill(t, pdCosts())
	var mu sync.Mutex
	var prefillTokens int
	dcfg := pdCosts()
	dcfg.Trace = func(st Step) {
		mu.Lock()
		prefillTokens += st.PrefillTokens
		mu.Unlock()
	}
	dec, durl := startDecode(t, dcfg)
	a := phase1(t, purl, 300)
	kv, _ := json.Marshal(a.KV)
	res := readStream(t, durl, fmt.Sprintf(`{"prompt":%s,"max_tokens":20,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true},"kv_transfer_params":%s}`, ids(300), kv))
	if res.status != 200 || !res.done || res.usage == nil || res.usage.CompletionTokens != 20 || res.usage.PromptTokens != 300 {
		t.Fatalf("decode stream: %+v", res)
	}
	st := dec.Stats()
	if st.Transfers != 1 || st.TransferBytes != 300*1000 {
		t.Errorf("decode moved %d bytes in %d transfers, want 300000 in 1", st.TransferBytes, st.Transfers)
	}
	mu.Lock()
	defer mu.Unlock()
	if prefillTokens != 0 {
		t.Errorf("the decode prefilled %d prompt tokens itself", prefillTokens)
	}
	if pre.Stats().KVHeld != 0 {
		t.Error("the prefill still holds the KV after the decode released it")
	}
}

func TestDecodeFailsTheRequestWhenThePrefillIsGone(t *testing.T) {
	_, durl := startDecode(t, pdCosts())
	tests := []struct{ name, kv string }{
		{"nobody listens", `{"do_remote_prefill":true,"remote_host":"127.0.0.1","remote_port":1,"remote_request_id":"cmpl-x","remote_block_ids":[0],"remote_engine_id":"e"}`},
	}
	_, _, boot := startPrefill(t, pdCosts())
	host, port, _ := strings.Cut(boot, ":")
	tests = append(tests, struct{ name, kv string }{"the prefill does not know the request",
		fmt.Sprintf(`{"do_remote_prefill":true,"remote_host":%q,"remote_port":%s,"remote_request_id":"cmpl-unknown","remote_block_ids":[0],"remote_engine_id":"e"}`, host, port)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := postJSON(t, durl+"/v1/completions", `{"prompt":[1,2],"max_tokens":3,"stream":true,"kv_transfer_params":`+tt.kv+`}`)
			if status != 500 || !strings.Contains(body, "KV transfer from the prefill") {
				t.Errorf("%d %s: want a 500 naming the failed transfer", status, body)
			}
		})
	}
	status, body := postJSON(t, durl+"/v1/completions", `{"prompt":[1,2],"max_tokens":3,"kv_transfer_params":{"do_remote_prefill":true}}`)
	if status != 400 {
		t.Errorf("kv_transfer_params without an address: %d %s, want 400", status, body)
	}
}

func TestRoleConfigIsChecked(t *testing.T) {
	for _, cfg := range []Config{
		{Role: RolePrefill}, // no bootstrap address
		{Role: RolePrefill, BootstrapAddr: "127.0.0.1:0"}, // no real port
		{Role: RoleDecode, Format: FormatTRT},             // no PD wire
		{Role: "mixer"},                                   // unknown
		{KVCapacityTokens: -1},                            // negative
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted a bad role config", cfg)
		}
	}
}
