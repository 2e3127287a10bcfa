package trace

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"testing"
)

var updateDemo = flag.Bool("update-demo", false, "rewrite sweeps/traces/demo.jsonl from its generator")

// demoPath is the synthetic corpus the README's agentic examples and
// sweeps/agentic-sim.hcl replay.
const demoPath = "../../../sweeps/traces/demo.jsonl"

// demoCorpus writes a synthetic cc-traces corpus: sessions of coding-
// agent turns whose context grows by the previous answer and a tool
// result each turn, over a per-session tools and system prefix, with
// think times of a few seconds and one subagent in every other session.
// Its numbers are synthetic; only the shape (block sharing, growth,
// gaps) follows recorded sessions.
func demoCorpus(sessions, turns int, seed int64) []byte {
	rng := rand.New(rand.NewSource(seed))
	var out bytes.Buffer
	type req struct {
		Type     string  `json:"type"`
		T        float64 `json:"t"`
		Model    string  `json:"model"`
		In       int     `json:"in"`
		Out      int     `json:"out"`
		HashIDs  []int64 `json:"hash_ids"`
		APITime  float64 `json:"api_time"`
		Think    float64 `json:"think_time"`
		AgentID  string  `json:"agent_id,omitempty"`
		Requests []req   `json:"requests,omitempty"`
	}
	const bs = 64
	for s := 0; s < sessions; s++ {
		next := int64(0)
		newIDs := func(n int) []int64 {
			ids := make([]int64, n)
			for i := range ids {
				ids[i] = next
				next++
			}
			return ids
		}
		prefix := 20 + rng.Intn(20) // blocks of tools and system prompt
		ctx := newIDs(prefix + 2 + rng.Intn(4))
		t := 0.0
		var reqs []req
		for k := 0; k < turns; k++ {
			in := len(ctx) * bs
			outTok := 40 + rng.Intn(200)
			api := 1 + rng.Float64()*3
			think := 0.5 + rng.Float64()*4
			reqs = append(reqs, req{Type: "s", T: round(t), Model: "demo-model", In: in, Out: outTok,
				HashIDs: append([]int64(nil), ctx...), APITime: round(api), Think: round(think)})
			if s%2 == 1 && k == turns/2 {
				// A subagent explores on a fresh context of its own.
				sub := newIDs(8 + rng.Intn(8))
				st := t + api + 0.5
				var inner []req
				for i := 0; i < 3; i++ {
					inner = append(inner, req{Type: "n", T: round(st), Model: "demo-model", In: len(sub) * bs, Out: 30 + rng.Intn(60),
						HashIDs: append([]int64(nil), sub...), APITime: 1, Think: 0.5})
					st += 1.5
					sub = append(sub, newIDs(1+rng.Intn(3))...)
				}
				reqs = append(reqs, req{Type: "subagent", T: round(t + api + 0.2), AgentID: fmt.Sprintf("explore-%d", s), Requests: inner})
				t = st
			}
			t += api + think
			// The answer (as blocks), then a tool result.
			ctx = append(ctx, newIDs((outTok+bs-1)/bs+1+rng.Intn(6))...)
		}
		b, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("demo-%02d", s), "models": []string{"demo-model"}, "block_size": bs,
			"hash_id_scope": "local", "tool_tokens": prefix * bs, "system_tokens": 0, "requests": reqs})
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func round(f float64) float64 { return float64(int(f*100)) / 100 }

// The committed demo corpus is exactly what its generator writes, and
// loads: sessions of 24 turns growing to thousands of tokens that share
// most of their context turn to turn.
func TestDemoCorpus(t *testing.T) {
	want := demoCorpus(16, 24, 7)
	if *updateDemo {
		if err := os.WriteFile(demoPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(demoPath)
	if err != nil {
		t.Fatalf("%v (regenerate with go test ./internal/agentic/trace -run TestDemoCorpus -update-demo)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from its generator: regenerate with -update-demo", demoPath)
	}
	trees, err := LoadCCTraces(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(trees) != 16 {
		t.Fatalf("%d trees, want 16", len(trees))
	}
	var blocks, hits int
	for _, tr := range trees {
		st := tr.Stats()
		blocks += st.Blocks
		hits += st.HitBlocks
	}
	if rate := float64(hits) / float64(blocks); rate < 0.8 || rate > 0.99 {
		t.Errorf("theoretical hit rate %.3f: want the high reuse of agent sessions (0.8-0.99)", rate)
	}
}
