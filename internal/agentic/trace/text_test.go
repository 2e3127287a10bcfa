package trace

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestWordsAreDistinctThreeLetterWords(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range words {
		if len(w) != 3 || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" || seen[w] {
			t.Errorf("word %q: want 3 lowercase letters, once", w)
		}
		seen[w] = true
	}
}

func TestAppendBlockText(t *testing.T) {
	text := func(tree string, b Block) string { return string(AppendBlockText(nil, tree, b)) }
	full := Block{ID: 7, Tokens: 64}
	a := text("t", full)

	// fleet sim counts a string at one token per 4 bytes, rounded up.
	if len(a) != 4*64 || (len(a)+3)/4 != 64 {
		t.Errorf("%d bytes for 64 tokens", len(a))
	}
	if !regexp.MustCompile(`^( [a-z]{3}){64}$`).MatchString(a) {
		t.Errorf("not 64 space-led words: %q", a)
	}
	if text("t", full) != a {
		t.Error("the same block gave different text")
	}
	if got := string(AppendBlockText([]byte("head"), "t", full)); got != "head"+a {
		t.Errorf("does not append to dst: %q", got[:8])
	}
	if text("t", Block{ID: 7, Tokens: 5}) != a[:20] {
		t.Error("a partial block is not a prefix of its full block")
	}
	for name, other := range map[string]string{
		"another id":                      text("t", Block{ID: 8, Tokens: 64}),
		"another tree":                    text("u", full),
		"a Unique block with the same id": text("t", Block{ID: 7, Tokens: 64, Unique: true, Key: 7}),
	} {
		if other == a {
			t.Errorf("%s gave the same text", name)
		}
	}
	// A Unique block is keyed by Key alone.
	u1 := text("t", Block{ID: 1, Tokens: 10, Unique: true, Key: 42})
	u2 := text("t", Block{ID: 2, Tokens: 10, Unique: true, Key: 42})
	u3 := text("t", Block{ID: 1, Tokens: 10, Unique: true, Key: 43})
	if u1 != u2 || u1 == u3 {
		t.Error("Unique text does not follow Key")
	}
	if text("t", Block{ID: 7}) != "" {
		t.Error("a zero-token block has text")
	}
}

func TestBlockTextOfAConversationSharesExactlyItsSharedBlocks(t *testing.T) {
	// Two prompts of the alpha trace: turn 1 and turn 3 (after the
	// compaction) share blocks 0 1 2 and nothing after.
	trees, err := LoadCCTraces("testdata/cc")
	if err != nil {
		t.Fatal(err)
	}
	alpha := trees[0]
	prompt := func(upTo int) []byte {
		var hist []Message
		for _, turn := range alpha.Convs[0].Turns[:upTo+1] {
			if turn.Reset {
				hist = nil
			}
			hist = append(hist, turn.Add...)
		}
		var out []byte
		for _, m := range hist {
			for _, b := range m.Blocks {
				out = AppendBlockText(out, alpha.ID, b)
			}
		}
		return out
	}
	p1, p3 := prompt(1), prompt(3)
	shared := 0
	for shared < min(len(p1), len(p3)) && p1[shared] == p3[shared] {
		shared++
	}
	// 3 blocks of 64 words of 4 bytes; the next words both start with a
	// space and may share a letter or two by chance, not all 4 bytes.
	if shared < 3*64*4 || shared >= 3*64*4+4 {
		t.Errorf("prompts share %d bytes, want %d (+ at most 3 of the next word)", shared, 3*64*4)
	}
	if !bytes.HasPrefix(p3, prompt(0)[:3*64*4]) {
		t.Error("turn 3 does not start with turn 0's first 3 blocks")
	}
}

func TestAppendBlockTokenIDs(t *testing.T) {
	b := Block{ID: 3, Tokens: 64}
	ids := AppendBlockTokenIDs(nil, "t", b, 1000)
	if len(ids) != 64 {
		t.Fatalf("%d ids", len(ids))
	}
	for _, id := range ids {
		if id < 125 || id >= 750 {
			t.Errorf("id %d outside [125, 750)", id)
		}
	}
	if !slices.Equal(ids, AppendBlockTokenIDs(nil, "t", b, 1000)) {
		t.Error("the same block gave different ids")
	}
	if slices.Equal(ids, AppendBlockTokenIDs(nil, "t", Block{ID: 4, Tokens: 64}, 1000)) {
		t.Error("two blocks gave the same ids")
	}
	if !slices.Equal(ids[:7], AppendBlockTokenIDs(nil, "t", Block{ID: 3, Tokens: 7}, 1000)) {
		t.Error("a partial block is not a prefix of its full block")
	}
	got := AppendBlockTokenIDs([]int{-1}, "t", Block{ID: 3, Tokens: 9}, 4)
	if got[0] != -1 || len(got) != 10 {
		t.Fatalf("does not append: %v", got)
	}
	for _, id := range got[1:] {
		if id < 0 || id >= 4 {
			t.Errorf("tiny vocab: id %d outside [0, 4)", id)
		}
	}
}

func TestBustMarker(t *testing.T) {
	m := BustMarker("run1", 3, 0, "alpha")
	if !regexp.MustCompile(`^\[rid:[0-9a-f]{12}\]\n\n$`).MatchString(m) {
		t.Fatalf("marker %q", m)
	}
	if BustMarker("run1", 3, 0, "alpha") != m {
		t.Error("the same play gave another marker")
	}
	for name, other := range map[string]string{
		"another run":   BustMarker("run2", 3, 0, "alpha"),
		"another lane":  BustMarker("run1", 4, 0, "alpha"),
		"another pass":  BustMarker("run1", 3, 1, "alpha"),
		"another trace": BustMarker("run1", 3, 0, "beta"),
		"shifted field": BustMarker("run13", 0, 0, "alpha"),
	} {
		if other == m {
			t.Errorf("%s gave the same marker", name)
		}
	}
}
