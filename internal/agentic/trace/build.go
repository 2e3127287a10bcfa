package trace

import (
	"encoding/binary"
	"hash/fnv"
	"strconv"
)

// request is one recorded request as the builders need it.
type request struct {
	T, APITime float64
	In, Out    int
	HashIDs    []int64
}

// convBuilder turns one conversation's requests, in order, into turns
// (agentic.md section 2.5). It keeps the message history the replay will
// have sent so far, to re-emit it truncated when the context was edited.
//
//   - Turn 0: a system message of the declared tools+system prefix in
//     whole blocks (none when undeclared), then one user message.
//   - Turn k, L = LCP(previous hash ids, these): when L is the whole
//     previous list, a clean append of the new blocks; otherwise a Reset
//     whose Add is the history cut after block L. Either way the first
//     min(ceil(previous out/BlockSize), new blocks) new blocks are an
//     assistant message (the recorded answer) and the rest a user one.
//   - The context's last block is a Unique partial block when In does not
//     fill it. It stays so in the history: when the next request extends
//     it under the same id the shared text is the partial block's; when
//     the recording gave the completed block a new id, L stops before it
//     and the turn is a Reset that drops it, so the server's cache sees
//     exactly the recorded sharing either way.
//
// Messages of different turns share backing arrays (a truncated history
// re-uses the blocks of the messages it keeps), so a Reset costs one
// Message per kept message rather than a copy of every block; a Tree is
// therefore read-only once built.
type convBuilder struct {
	treeID, convID string
	bs             int
	hist           []Message
	prev           *request
}

// turn builds the k-th turn. sysTokens is the declared tools+system
// prefix of the conversation; whole blocks of it (rounded down, and never
// the whole context) become turn 0's system message.
func (b *convBuilder) turn(r request, k, sysTokens int) Turn {
	t := Turn{T: r.T, APITime: r.APITime, In: r.In, Out: r.Out, HashIDs: r.HashIDs}
	defer func() { b.prev = &r }()
	ids := r.HashIDs
	if b.prev == nil {
		sys := min(sysTokens/b.bs, len(ids)-1)
		if sys > 0 {
			t.Add = append(t.Add, Message{Role: "system", Blocks: b.blocks(r, k, 0, sys)})
		}
		t.Add = append(t.Add, Message{Role: "user", Blocks: b.blocks(r, k, max(sys, 0), len(ids))})
		b.hist = append([]Message(nil), t.Add...)
		return t
	}
	p := b.prev
	l := lcp(p.HashIDs, ids)
	if l < len(p.HashIDs) {
		// The recorded context was edited or compacted: the history is
		// re-sent cut at the last shared block.
		t.Reset = true
		t.Add = truncate(b.hist, l)
		if l == len(ids) && l > 0 {
			t.Add = b.retail(t.Add, r, k)
		}
	}
	// The first new blocks, as many as the previous answer covered, are
	// that answer (the recorded one, block-aligned); the rest is the
	// user's text or the tool results that followed it.
	a := min(ceilDiv(p.Out, b.bs), len(ids)-l)
	if a > 0 {
		t.Add = append(t.Add, Message{Role: "assistant", Blocks: b.blocks(r, k, l, l+a)})
	}
	if l+a < len(ids) {
		t.Add = append(t.Add, Message{Role: "user", Blocks: b.blocks(r, k, l+a, len(ids))})
	}
	if t.Reset {
		b.hist = b.hist[:0]
	}
	b.hist = append(b.hist, t.Add...)
	return t
}

// blocks are r's blocks [from, to): full ones, except that the context's
// last block is a Unique partial one when In does not fill it.
func (b *convBuilder) blocks(r request, k, from, to int) []Block {
	out := make([]Block, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, Block{ID: r.HashIDs[i], Tokens: b.bs})
	}
	if to == len(r.HashIDs) && to > from {
		out[len(out)-1] = b.tail(r, k)
	}
	return out
}

// tail is the last block of r's context.
func (b *convBuilder) tail(r request, k int) Block {
	n := len(r.HashIDs)
	tok := r.In - b.bs*(n-1)
	if tok >= b.bs {
		return Block{ID: r.HashIDs[n-1], Tokens: b.bs}
	}
	return Block{ID: r.HashIDs[n-1], Tokens: tok, Unique: true, Key: tailKey(b.treeID, b.convID, k)}
}

// retail gives a history that r's context ends inside (no new blocks)
// r's own last block, partial when r's In says so.
func (b *convBuilder) retail(msgs []Message, r request, k int) []Message {
	last := &msgs[len(msgs)-1]
	blocks := append([]Block(nil), last.Blocks...)
	blocks[len(blocks)-1] = b.tail(r, k)
	last.Blocks = blocks
	return msgs
}

// truncate is a copy of the message list cut after n blocks; messages
// left empty are dropped. Kept blocks share the originals' arrays.
func truncate(msgs []Message, n int) []Message {
	var out []Message
	for _, m := range msgs {
		if n <= 0 {
			break
		}
		k := min(n, len(m.Blocks))
		out = append(out, Message{Role: m.Role, Blocks: m.Blocks[:k:k]})
		n -= k
	}
	return out
}

// lcp is the length of the longest common prefix of a and b.
func lcp(a, b []int64) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// tailKey keys the filler of a partial last block by where it is sent
// (tree, conversation, turn), so no other request shares it, as AIPerf
// seeds a partial tail by session and turn.
func tailKey(tree, conv string, turn int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(tree))
	h.Write([]byte{0})
	h.Write([]byte(conv))
	h.Write([]byte{0})
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(turn)))
	return h.Sum64()
}

// ccTreeBuilder assembles a cc trace's conversations: the root's, then
// every subagent's after its parent's (agentic.md section 2.6).
type ccTreeBuilder struct {
	tr      *ccTrace
	tree    *Tree
	convIDs map[string]bool
	dropped int
}

// buildCCTree builds a checked trace; it also returns how many subagent
// entries it dropped (no parent turn before them, or no requests; the
// subagents nested in a dropped one go with it uncounted).
func buildCCTree(tr *ccTrace) (*Tree, int) {
	b := &ccTreeBuilder{
		tr:      tr,
		tree:    &Tree{ID: tr.ID, BlockSize: tr.BlockSize},
		convIDs: map[string]bool{},
	}
	b.conv(tr.ID, -1, -1, -1, 0, tr.ToolTokens+tr.SystemTokens, tr.Requests)
	return b.tree, b.dropped
}

// conv adds a conversation from its request list and then its children;
// shift is added to the list's t values (0 when they are absolute). It
// returns the conversation's index.
func (b *ccTreeBuilder) conv(id string, parent, after, before int, shift float64, sys int, list []ccEntry) int {
	idx := len(b.tree.Convs)
	b.convIDs[id] = true
	b.tree.Convs = append(b.tree.Convs, Conv{ID: id, Parent: parent, SpawnAfter: after, JoinBefore: before})
	cb := convBuilder{treeID: b.tr.ID, convID: id, bs: b.tr.BlockSize}
	var turns []Turn
	type spawn struct {
		e     *ccEntry
		after int
	}
	var spawns []spawn
	for i := range list {
		e := &list[i]
		if !e.isRequest() {
			spawns = append(spawns, spawn{e, len(turns) - 1})
			continue
		}
		r := request{T: e.T + shift, APITime: e.APITime, In: e.In, Out: e.Out, HashIDs: e.HashIDs}
		turns = append(turns, cb.turn(r, len(turns), sys))
	}
	b.tree.Convs[idx].Turns = turns
	for _, s := range spawns {
		first := firstRequest(s.e.Requests)
		if s.after < 0 || first == nil {
			b.dropped++
			continue
		}
		// Siblings between the same two parent turns get the same
		// anchors: one multi-child spawn.
		join := s.after + 1
		if join >= len(turns) {
			join = -1 // background: nobody waits
		}
		// Inner times are absolute root times; a list that starts before
		// its spawn is relative to it.
		spawnAt := s.e.T + shift
		var childShift float64
		if first.T < spawnAt {
			childShift = spawnAt
		}
		c := b.conv(b.childID(s.e.AgentID), idx, s.after, join, childShift,
			s.e.ToolTokens+s.e.SystemTokens, s.e.Requests)
		from := turns[s.after]
		b.tree.Convs[c].Offset = max(0, b.tree.Convs[c].Turns[0].T-(from.T+from.APITime))
	}
	return idx
}

// childID is "<trace>::sa:<agent_id>", with "#2", "#3"... appended when
// the agent id was seen before (a resumed agent is replayed as a new
// conversation) or "#n" alone when the entry has none.
func (b *ccTreeBuilder) childID(agent string) string {
	base := b.tr.ID + "::sa:" + agent
	if agent != "" && !b.convIDs[base] {
		return base
	}
	for n := 2; ; n++ {
		id := base + "#" + strconv.Itoa(n)
		if !b.convIDs[id] {
			return id
		}
	}
}

func firstRequest(list []ccEntry) *ccEntry {
	for i := range list {
		if list[i].isRequest() {
			return &list[i]
		}
	}
	return nil
}
