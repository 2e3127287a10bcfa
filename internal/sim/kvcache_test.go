package sim

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestPseudoTokensMatchTheTokenCounts(t *testing.T) {
	long := strings.Repeat("the quick brown fox ", 50)
	tests := []struct {
		name string
		ep   endpoint
		body string
	}{
		{"text", endpointCompletions, `{"prompt":"hello world, this is a prompt"}`},
		{"text of a whole number of words", endpointCompletions, `{"prompt":"abcdefgh"}`},
		{"empty text", endpointCompletions, `{"prompt":""}`},
		{"long text", endpointCompletions, `{"prompt":"` + long + `"}`},
		{"token ids", endpointCompletions, `{"prompt":[1,2,3,4,5,6,7]}`},
		{"several texts", endpointCompletions, `{"prompt":["a","bcdefgh"]}`},
		{"several id lists", endpointCompletions, `{"prompt":[[1,2],[3,4,5]]}`},
		{"chat", endpointChat, `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}]}`},
		{"chat with parts and a null", endpointChat, `{"messages":[{"role":"user","content":[{"type":"text","text":"abc"},{"type":"text","text":"defgh"}]},{"role":"assistant","content":null}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, aerr := decodeRequest([]byte(tt.body), tt.ep, FormatVLLM)
			if aerr != nil {
				t.Fatal(aerr)
			}
			if len(req.sources) != len(req.prompts) {
				t.Fatalf("%d sources for %d prompts", len(req.sources), len(req.prompts))
			}
			for i := range req.prompts {
				if got := len(req.sources[i].tokens()); got != req.prompts[i] {
					t.Errorf("prompt %d: %d pseudo-tokens, but it counts %d tokens", i, got, req.prompts[i])
				}
			}
		})
	}
}

// keysOf decodes a request and returns its first prompt's block keys.
func keysOf(t *testing.T, ep endpoint, body string, size int) []uint64 {
	t.Helper()
	req, aerr := decodeRequest([]byte(body), ep, FormatVLLM)
	if aerr != nil {
		t.Fatal(aerr)
	}
	return blockKeys(req.sources[0].tokens(), size)
}

// sharedLead is how many leading keys two lists share.
func sharedLead(a, b []uint64) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func TestBlockKeysShareExactlyTheCommonPrefix(t *testing.T) {
	// Text: BOS plus 4 bytes a token, so 4k shared bytes are 1+k shared
	// tokens; with 4-token blocks, a 4-byte word per token.
	word := func(i int) string { return string(rune('a'+i%26)) + "xyz" }
	var base strings.Builder
	for i := range 40 {
		base.WriteString(word(i))
	}
	a := base.String()
	b := a[:4*22] + "QQQQ" + a[4*23:] // differs in the 23rd word: token 23
	ka := keysOf(t, endpointCompletions, `{"prompt":"`+a+`"}`, 4)
	kb := keysOf(t, endpointCompletions, `{"prompt":"`+b+`"}`, 4)
	if len(ka) != 10 || len(kb) != 10 { // 41 tokens: 10 full blocks of 4
		t.Fatalf("got %d and %d keys, want 10 full blocks each", len(ka), len(kb))
	}
	// Tokens 0..22 are equal: blocks 0-4 (tokens 0-19) are shared, block 5
	// (tokens 20-23) holds the difference.
	if got := sharedLead(ka, kb); got != 5 {
		t.Errorf("texts sharing 23 tokens share %d blocks of 4, want 5", got)
	}
	// Chain hashing: every block after the difference differs too, even
	// where its own tokens are equal.
	for i := 5; i < 10; i++ {
		if ka[i] == kb[i] {
			t.Errorf("block %d has the same key after a different prefix", i)
		}
	}

	// Token ids: the same block content after different prefixes.
	x := blockKeys([]uint64{1, 2, 3, 4, 9, 9, 9, 9}, 4)
	y := blockKeys([]uint64{5, 6, 7, 8, 9, 9, 9, 9}, 4)
	if x[1] == y[1] {
		t.Error("equal blocks after different prefixes got the same key")
	}
	if got := blockKeys([]uint64{1, 2, 3, 4, 5, 6}, 4); len(got) != 1 {
		t.Errorf("6 tokens in blocks of 4 gave %d keys, want 1 (the partial block has none)", len(got))
	}
}

func TestChatTurnsSharePrefixBlocks(t *testing.T) {
	history := `{"role":"system","content":"` + strings.Repeat("rules ", 40) + `"},{"role":"user","content":"` + strings.Repeat("question ", 30) + `"}`
	turn1 := `{"messages":[` + history + `]}`
	turn2 := `{"messages":[` + history + `,{"role":"assistant","content":" tok1 tok2 tok3"},{"role":"user","content":"and then?"}]}`
	k1 := keysOf(t, endpointChat, turn1, 16)
	k2 := keysOf(t, endpointChat, turn2, 16)
	// Turn 1 is 1 + (4+60) + (4+68) + 3 = 140 tokens; everything but the
	// 3-token assistant header is shared: 137 tokens, 8 full blocks.
	if got := sharedLead(k1, k2); got != 8 {
		t.Errorf("the next turn shares %d blocks of its history, want 8", got)
	}
}

// fill admits a sequence with the given prompt keys and tokens, registers
// its prompt as computed and returns its allocation.
func fill(t *testing.T, c *prefixCache, keys []uint64, tokens int) *kvAlloc {
	t.Helper()
	a, ok := c.admit(keys, tokens)
	if !ok {
		t.Fatalf("admit of %d tokens refused", tokens)
	}
	c.register(a, keys)
	return a
}

func seqKeys(prefix uint64, n int) []uint64 {
	toks := make([]uint64, n*4)
	for i := range toks {
		toks[i] = prefix<<32 | uint64(i)
	}
	return blockKeys(toks, 4)
}

func TestPrefixCacheHitsTheSharedPrefix(t *testing.T) {
	c := newPrefixCache(4, 0, 0)
	a := seqKeys(1, 4)
	c.release(fill(t, c, a, 16))
	b := append(append([]uint64{}, a[:2]...), seqKeys(2, 2)...)
	got, ok := c.admit(b, 16)
	if !ok {
		t.Fatal("admit refused with unlimited capacity")
	}
	if got.hitGPU != 2 || got.hitCPU != 0 {
		t.Errorf("hits gpu %d cpu %d, want 2 GPU blocks (the shared prefix)", got.hitGPU, got.hitCPU)
	}
	if got.private != 2 {
		t.Errorf("%d private blocks, want 2 for the uncached half", got.private)
	}
	// The miss after the prefix ends the run: a later block equal by key
	// (impossible with chain keys, forced here) is not a hit.
	c2 := newPrefixCache(4, 0, 0)
	c2.release(fill(t, c2, []uint64{10, 11, 12}, 12))
	if run, gpu := c2.lookup([]uint64{10, 99, 12}); gpu != 1 || len(run) != 1 {
		t.Errorf("lookup past a miss: run %d gpu %d, want 1 (the leading run only)", len(run), gpu)
	}
}

func TestPrefixCacheEvictsLeastRecentlyFreedTailFirst(t *testing.T) {
	c := newPrefixCache(4, 16, 0) // 4 blocks
	x, y := seqKeys(1, 2), seqKeys(2, 2)
	c.release(fill(t, c, x, 8))
	c.release(fill(t, c, y, 8))
	// One fresh block: the least recently freed is x's, and of x the tail
	// went back first.
	z := fill(t, c, seqKeys(3, 1), 4)
	if run, _ := c.lookup(x); len(run) != 1 {
		t.Errorf("x keeps %d leading blocks, want 1: its tail block goes first", len(run))
	}
	if run, _ := c.lookup(y); len(run) != 2 {
		t.Errorf("y keeps %d blocks, want both: it was freed later", len(run))
	}
	c.release(z)
	// Two more: x's head, then y's tail (z was freed last).
	fill(t, c, seqKeys(4, 2), 8)
	if run, _ := c.lookup(x); len(run) != 0 {
		t.Errorf("x keeps %d blocks, want 0", len(run))
	}
	if run, _ := c.lookup(y); len(run) != 1 {
		t.Errorf("y keeps %d blocks, want 1 (its tail evicted after x)", len(run))
	}
}

func TestPrefixCacheNeverEvictsPinnedBlocks(t *testing.T) {
	c := newPrefixCache(4, 16, 0) // 4 blocks
	running := fill(t, c, seqKeys(1, 2), 8)
	c.release(fill(t, c, seqKeys(2, 2), 8))
	if _, ok := c.admit(seqKeys(3, 3), 12); ok {
		t.Fatal("admitted 3 blocks with 2 evictable and 2 pinned by a running sequence")
	}
	if run, _ := c.lookup(seqKeys(2, 2)); len(run) != 2 {
		t.Errorf("a refused admission evicted blocks: %d of 2 left", len(run))
	}
	fill(t, c, seqKeys(3, 2), 8)
	if run, gpu := c.lookup(seqKeys(1, 2)); gpu != 2 || len(run) != 2 {
		t.Errorf("the running sequence's blocks: %d on the GPU, want 2", gpu)
	}
	if running.private != 0 || len(running.pinned) != 2 {
		t.Errorf("running sequence holds %d pinned, %d private; want 2, 0", len(running.pinned), running.private)
	}
	if got := c.inUse(); got != 4 {
		t.Errorf("%d blocks in use, want 4", got)
	}
}

func TestPrefixCacheOffloadsToTheCPUTier(t *testing.T) {
	c := newPrefixCache(4, 8, 12) // 2 GPU blocks, 3 CPU blocks
	x := seqKeys(1, 2)
	c.release(fill(t, c, x, 8))
	c.release(fill(t, c, seqKeys(2, 2), 8)) // evicts x to the CPU
	if c.offloaded != 2 || c.cpuUsed != 2 {
		t.Fatalf("offloaded %d, cpu used %d; want x's 2 blocks copied", c.offloaded, c.cpuUsed)
	}
	a, ok := c.admit(x, 8)
	if !ok {
		t.Fatal("admit refused")
	}
	if a.hitGPU != 0 || a.hitCPU != 2 {
		t.Errorf("hits gpu %d cpu %d, want x's 2 blocks from the CPU", a.hitGPU, a.hitCPU)
	}
	c.register(a, x)
	if a.private != 0 {
		t.Errorf("%d private blocks after loading every prompt block, want 0", a.private)
	}
	// Making room for the load copied seq 2's 2 blocks to the CPU, which
	// holds 3: the oldest copy went (one of x's, resident again anyway).
	if c.cpuUsed != 3 {
		t.Errorf("cpu used %d, want its capacity 3", c.cpuUsed)
	}
	if run, gpu := c.lookup(x); gpu != 2 || len(run) != 2 {
		t.Errorf("x after the load: %d on the GPU, want 2", gpu)
	}
	// Without a CPU tier the same sequence of events loses x.
	d := newPrefixCache(4, 8, 0)
	d.release(fill(t, d, x, 8))
	d.release(fill(t, d, seqKeys(2, 2), 8))
	if run, _ := d.lookup(x); len(run) != 0 {
		t.Errorf("without a CPU tier %d blocks of x survive eviction", len(run))
	}
}

// checkCache verifies the cache's bookkeeping against its blocks and the
// allocations alive.
func checkCache(t *testing.T, c *prefixCache, live []*kvAlloc) {
	t.Helper()
	gpu, cpu, private := 0, 0, 0
	refs := map[*kvBlock]int{}
	for _, a := range live {
		private += a.private
		for _, b := range a.pinned {
			refs[b]++
		}
	}
	for k, b := range c.blocks {
		if b.key != k || (!b.gpu && !b.cpu) {
			t.Fatalf("block %x filed under %x, gpu %v cpu %v", b.key, k, b.gpu, b.cpu)
		}
		if b.gpu {
			gpu++
		}
		if b.cpu {
			cpu++
		}
		if b.refs != refs[b] {
			t.Fatalf("block %x has %d refs, %d allocations use it", k, b.refs, refs[b])
		}
		if (b.refs == 0 && b.gpu) != (b.gpuElem != nil) {
			t.Fatalf("block %x: refs %d gpu %v, but in the free list: %v", k, b.refs, b.gpu, b.gpuElem != nil)
		}
	}
	if c.gpuUsed != gpu+private {
		t.Fatalf("gpu used %d, but %d cached + %d private blocks", c.gpuUsed, gpu, private)
	}
	if c.gpuCap > 0 && c.gpuUsed > c.gpuCap {
		t.Fatalf("gpu used %d over capacity %d", c.gpuUsed, c.gpuCap)
	}
	if c.cpuUsed != cpu || c.cpuUsed != c.cpuLRU.Len() || (c.cpuCap > 0 && cpu > c.cpuCap) {
		t.Fatalf("cpu used %d, %d blocks on the CPU, LRU of %d, capacity %d", c.cpuUsed, cpu, c.cpuLRU.Len(), c.cpuCap)
	}
}

func TestPrefixCacheBookkeepingUnderRandomUse(t *testing.T) {
	for _, caps := range [][2]int{{0, 0}, {64 * 4, 0}, {64 * 4, 128 * 4}, {20 * 4, 8 * 4}} {
		c := newPrefixCache(4, caps[0], caps[1])
		rng := rand.New(rand.NewPCG(1, uint64(caps[0]+caps[1])))
		var live []*kvAlloc
		for range 5000 {
			if len(live) > 0 && rng.IntN(3) == 0 {
				i := rng.IntN(len(live))
				c.release(live[i])
				live = append(live[:i], live[i+1:]...)
			} else {
				// A conversation (of 6) at some length: shared prefixes.
				keys := seqKeys(uint64(rng.IntN(6)), 1+rng.IntN(12))
				tokens := len(keys)*4 + rng.IntN(12)
				usable := keys[:rng.IntN(len(keys)+1)]
				if a, ok := c.admit(usable, tokens); ok {
					if rng.IntN(4) > 0 { // some never finish their prompt before the release
						c.register(a, keys)
					}
					live = append(live, a)
				}
			}
			checkCache(t, c, live)
		}
	}
}
