package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// pdDeployment is one prefill and one decode sim behind a router.
type pdDeployment struct {
	prefill, decode *Server
	router          string
}

func startPD(t *testing.T, f Format, pcfg, dcfg Config) pdDeployment {
	t.Helper()
	pcfg.Format, dcfg.Format = f, f
	pre, purl, _ := startPrefill(t, pcfg)
	dec, durl := startDecode(t, dcfg)
	return pdDeployment{pre, dec, startRouter(t, RouterConfig{Prefill: []string{purl}, Decode: []string{durl}, Format: f})}
}

func TestPDThroughTheRouter(t *testing.T) {
	for _, f := range []Format{FormatVLLM, FormatSGLang} {
		t.Run(string(f), func(t *testing.T) {
			pd := startPD(t, f, pdCosts(), pdCosts())
			res := readStream(t, pd.router, `{"prompt":`+ids(100)+`,"max_tokens":12,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}`)
			if res.status != 200 || !res.done || res.usage == nil || res.usage.CompletionTokens != 12 || res.usage.PromptTokens != 100 || res.tokensText != 12 {
				t.Fatalf("streamed completion through the router: %+v", res)
			}
			status, body := postJSON(t, pd.router+"/v1/chat/completions", `{"messages":[{"role":"user","content":"hello there"}],"max_tokens":7,"ignore_eos":true}`)
			if status != 200 || !strings.Contains(body, `"completion_tokens":7`) || !strings.Contains(body, `"chat.completion"`) {
				t.Fatalf("chat through the router: %d %s", status, body)
			}
			status, body = postJSON(t, pd.router+"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"ignore_eos":true,"stream":true}`)
			if status != 200 || strings.Count(body, "data: ") != 5 || !strings.HasSuffix(body, "data: [DONE]\n\n") {
				t.Fatalf("streamed chat through the router: %d %s", status, body)
			}
			ds := pd.decode.Stats()
			if ds.Transfers != 3 || ds.Completed != 3 {
				t.Errorf("decode: %d transfers, %d completed, want 3 each", ds.Transfers, ds.Completed)
			}
			if ps := pd.prefill.Stats(); ps.Completed != 3 || ps.KVHeld != 0 || ps.OutputTokens != 3 {
				t.Errorf("prefill: %+v: want 3 one-token answers and no KV left held", ps)
			}
			resp, err := http.Get(pd.router + "/v1/models")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET /v1/models through the router: %v %v", resp, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), `"object":"list"`) {
				t.Errorf("models: %s", b)
			}
		})
	}
}

func TestRouterProxiesAggregatedWorkers(t *testing.T) {
	s, url := startServer(t, pdCosts())
	router := startRouter(t, RouterConfig{Agg: []string{url}})
	res := readStream(t, router, `{"prompt":[1,2,3],"max_tokens":9,"ignore_eos":true,"stream":true,"stream_options":{}}`)
	if res.status != 200 || res.usage == nil || res.usage.CompletionTokens != 9 || s.Stats().Completed != 1 {
		t.Fatalf("aggregated through the router: %+v", res)
	}
}

func TestSGLangPairSendCarriesTheBootstrapFields(t *testing.T) {
	pre, purl, boot := startPrefill(t, Config{Format: FormatSGLang, Timing: TimingEngine})
	var seen []map[string]json.RawMessage
	d := newFakeWorker(t, "d", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, fakeStream)
	})
	router := startRouter(t, RouterConfig{Prefill: []string{purl}, Decode: []string{d.url}, Format: FormatSGLang})
	status, body := postJSON(t, router+"/v1/completions", `{"prompt":[1,2,3],"max_tokens":5,"stream":true}`)
	if status != 200 || body != fakeStream {
		t.Fatalf("%d %q", status, body)
	}
	seen = append(seen, d.body(0))
	var room uint64
	var port int
	if json.Unmarshal(seen[0]["bootstrap_room"], &room) != nil || json.Unmarshal(seen[0]["bootstrap_port"], &port) != nil {
		t.Fatalf("decode body lacks the bootstrap fields: %v", seen[0])
	}
	if fmt.Sprintf("127.0.0.1:%d", port) != boot || string(seen[0]["bootstrap_host"]) != `"127.0.0.1"` {
		t.Errorf("bootstrap %s:%d, want the prefill's %s", seen[0]["bootstrap_host"], port, boot)
	}
	// The fake decode never pulls: the prefill holds the room's KV.
	eventually(t, "the prefill to hold the room's KV", func() bool { return pre.Stats().KVHeld == 1 })
	if !pre.holder.release((&bootstrapInfo{Room: room}).key()) {
		t.Error("the prefill's KV is not filed under the router's room")
	}
}
