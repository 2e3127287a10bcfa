package trace

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// render writes a message as "role id id ...": a partial block as
// "id/tokens", a Unique one with "*" (and "!key" when its Key is not the
// one of its conversation and turn), a mooncake answer id as "Ak.j"
// (block j of the answer to turn k).
func render(tree, conv string, bs, turn int, m Message) string {
	parts := []string{m.Role}
	for _, b := range m.Blocks {
		s := strconv.FormatInt(b.ID, 10)
		if b.ID < 0 {
			s = answerName(conv, b.ID)
		}
		if b.Tokens != bs {
			s += "/" + strconv.Itoa(b.Tokens)
		}
		if b.Unique {
			s += "*"
			if b.Key != tailKey(tree, conv, turn) {
				s += "!key"
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func answerName(conv string, id int64) string {
	for k := range 16 {
		for j := range 16 {
			if answerID(conv, k, j) == id {
				return fmt.Sprintf("A%d.%d", k, j)
			}
		}
	}
	return "?" + strconv.FormatInt(id, 10)
}

func renderAdd(tree *Tree, conv string, turn int, add []Message) []string {
	var out []string
	for _, m := range add {
		out = append(out, render(tree.ID, conv, tree.BlockSize, turn, m))
	}
	return out
}

// checkTree asserts what every loaded tree must satisfy, whatever the
// input: the spawn edges point backwards, and replaying each
// conversation's messages gives, block for block, the turn's recorded
// hash ids, with only Unique blocks partial.
func checkTree(t *testing.T, tr *Tree) {
	t.Helper()
	if tr.BlockSize <= 0 || len(tr.Convs) == 0 {
		t.Fatalf("tree %q: block size %d, %d convs", tr.ID, tr.BlockSize, len(tr.Convs))
	}
	ids := map[string]bool{}
	for i, c := range tr.Convs {
		if ids[c.ID] {
			t.Errorf("tree %q: conv id %q twice", tr.ID, c.ID)
		}
		ids[c.ID] = true
		if len(c.Turns) == 0 {
			t.Errorf("conv %q: no turns", c.ID)
		}
		if i == 0 {
			if c.Parent != -1 || c.SpawnAfter != -1 || c.JoinBefore != -1 {
				t.Errorf("root %q: parent %d spawn %d join %d", c.ID, c.Parent, c.SpawnAfter, c.JoinBefore)
			}
		} else {
			if c.Parent < 0 || c.Parent >= i {
				t.Fatalf("conv %q: parent %d at index %d", c.ID, c.Parent, i)
			}
			p := tr.Convs[c.Parent]
			if c.SpawnAfter < 0 || c.SpawnAfter >= len(p.Turns) {
				t.Errorf("conv %q: spawn after %d of %d parent turns", c.ID, c.SpawnAfter, len(p.Turns))
			}
			if c.JoinBefore != -1 && (c.JoinBefore <= c.SpawnAfter || c.JoinBefore >= len(p.Turns)) {
				t.Errorf("conv %q: join before %d, spawn after %d", c.ID, c.JoinBefore, c.SpawnAfter)
			}
			if c.Offset < 0 {
				t.Errorf("conv %q: offset %g", c.ID, c.Offset)
			}
		}
		var hist []Message
		for k, turn := range c.Turns {
			if k == 0 && turn.Reset {
				t.Errorf("conv %q: turn 0 resets", c.ID)
			}
			if turn.Reset {
				hist = nil
			}
			hist = append(hist, turn.Add...)
			var got []int64
			for _, m := range hist {
				for _, b := range m.Blocks {
					got = append(got, b.ID)
					if b.Tokens <= 0 || b.Tokens > tr.BlockSize || b.Tokens < tr.BlockSize && !b.Unique {
						t.Errorf("conv %q turn %d: block %+v", c.ID, k, b)
					}
				}
			}
			if !slices.Equal(got, turn.HashIDs) {
				t.Errorf("conv %q turn %d: history ids %v, recorded %v", c.ID, k, got, turn.HashIDs)
			}
			if n := len(turn.HashIDs); len(turn.Add) > 0 && n > 0 {
				last := hist[len(hist)-1].Blocks
				if tok := last[len(last)-1].Tokens; tok != turn.In-tr.BlockSize*(n-1) {
					t.Errorf("conv %q turn %d: last block %d tokens, in %d", c.ID, k, tok, turn.In)
				}
			}
		}
	}
}
