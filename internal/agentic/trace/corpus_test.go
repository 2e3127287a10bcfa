package trace

import (
	"reflect"
	"slices"
	"testing"
)

// wantTurn is a turn as the corpus tests expect it; Add is rendered by
// render ("role ids", "id/tokens*" a Unique partial tail).
type wantTurn struct {
	T, APITime float64
	In, Out    int
	Reset      bool
	Add        []string
}

type wantConv struct {
	ID                  string
	Parent, Spawn, Join int
	Offset              float64
	Turns               []wantTurn
}

type wantTree struct {
	ID    string
	Convs []wantConv
	Stats TreeStats
}

// ccCorpus is testdata/cc (and the same two traces in testdata/cc.jsonl),
// worked by hand. Block size 64 throughout.
var ccCorpus = []wantTree{{
	// alpha: tools+system = 100+28 = 128 tokens = 2 whole blocks, the
	// system message of turn 0.
	ID: "alpha",
	Convs: []wantConv{{
		ID: "alpha", Parent: -1, Spawn: -1, Join: -1,
		Turns: []wantTurn{
			// in 300 = 4*64 + 44: ids 0..4, block 4 a 44-token tail.
			{T: 0, APITime: 2, In: 300, Out: 100, Add: []string{"system 0 1", "user 2 3 4/44*"}},
			// LCP 5 = all of turn 0: clean append of 5..8. The previous
			// answer (out 100) covers ceil(100/64) = 2 blocks: 5 6 are
			// the assistant's; 7 8 the tool result, 8 a tail of
			// 520-8*64 = 8 tokens. Gap 5-(0+2) = 3 s.
			{T: 5, APITime: 3, In: 520, Out: 50, Add: []string{"assistant 5 6", "user 7 8/8*"}},
			// Clean append of 9 10; ceil(50/64) = 1 assistant block;
			// in 704 = 11*64 leaves no partial tail. Gap 20-(5+3) =
			// 12 s, over the 10 s system idle cap.
			{T: 20, APITime: 1, In: 704, Out: 64, Add: []string{"assistant 9", "user 10"}},
			// Compaction: [0 1 2 11 12 13] shares 3 blocks with the 11
			// before, so the history is re-sent cut after block 2 (the
			// system message and the first user block), then 11 (one
			// block answers out 64) and 12 13, 13 a 330-5*64 = 10-token
			// tail. Gap 400-(20+1) = 379 s, over the 300 s tree cap.
			{T: 400, APITime: 4, In: 330, Out: 80, Reset: true,
				Add: []string{"system 0 1", "user 2", "assistant 11", "user 12 13/10*"}},
			// Clean append of 14 15 16: ceil(80/64) = 2 answer blocks,
			// 16 a 540-8*64 = 28-token tail. 13 stays the 10-token tail
			// it was when sent.
			{T: 410, APITime: 1, In: 540, Out: 10, Add: []string{"assistant 14 15", "user 16/28*"}},
		},
	}},
	// Hits (leading run of ids already sent): 0, 5, 9, 3 (0 1 2), 6
	// (0 1 2 11 12 13) = 23 of 5+9+11+6+9 = 40 blocks.
	Stats: TreeStats{Convs: 1, RootTurns: 5, Requests: 5, Blocks: 40, HitBlocks: 23},
}, {
	// beta: no system prefix. Its first entry, subagent "early", has no
	// parent turn before it and is dropped.
	ID: "beta",
	Convs: []wantConv{{
		ID: "beta", Parent: -1, Spawn: -1, Join: -1,
		Turns: []wantTurn{
			{T: 1, APITime: 2, In: 128, Out: 30, Add: []string{"user 0 1"}},
			// Joins a1 and a2. ceil(30/64) = 1 answer block; 3 is a
			// 200-3*64 = 8-token tail.
			{T: 12, APITime: 2, In: 200, Out: 40, Add: []string{"assistant 2", "user 3/8*"}},
			// The recording completed block 3 under new ids (5 6): LCP
			// 3 < 4, a reset cut after block 2, then 5 (ceil(40/64) = 1)
			// and 6, a 260-4*64 = 4-token tail.
			{T: 15, APITime: 1, In: 260, Out: 20, Reset: true,
				Add: []string{"user 0 1", "assistant 2", "assistant 5", "user 6/4*"}},
		},
	}, {
		// a1 and a2 sit between root turns 0 and 1: one two-child spawn.
		// a1's times (0.5, 6.0) are before its spawn at 3.5, so
		// relative: 4.0 and 9.5. Offset 4.0 - (1+2) = 1.0. tool_tokens
		// 64 = one system block.
		ID: "beta::sa:a1", Parent: 0, Spawn: 0, Join: 1, Offset: 1,
		Turns: []wantTurn{
			{T: 4, APITime: 1, In: 150, Out: 20, Add: []string{"system 50", "user 51 52/22*"}},
			{T: 9.5, APITime: 1, In: 300, Out: 5, Add: []string{"assistant 53", "user 54/44*"}},
		},
	}, {
		// Absolute time 4.5: offset 4.5 - 3 = 1.5.
		ID: "beta::sa:a2", Parent: 0, Spawn: 0, Join: 1, Offset: 1.5,
		Turns: []wantTurn{{T: 4.5, APITime: 2, In: 64, Out: 8, Add: []string{"user 0"}}},
	}, {
		// After the last root turn: background. Offset 17 - (15+1) = 1.
		ID: "beta::sa:bg1", Parent: 0, Spawn: 2, Join: -1, Offset: 1,
		Turns: []wantTurn{{T: 17, APITime: 1, In: 64, Out: 4, Add: []string{"user 30"}}},
	}},
	// In start order: root 0 [0 1] 0 hits; a1.0 [50 51 52] 0; a2.0 [0]
	// 1 (the parent sent 0); a1.1 [50..54] 3; root 1 [0 1 2 3] 2; root 2
	// [0 1 2 5 6] 3 (2 was sent by root 1); bg1 [30] 0. 9 of
	// 2+3+1+5+4+5+1 = 21 blocks.
	Stats: TreeStats{Convs: 4, RootTurns: 3, Requests: 7, Blocks: 21, HitBlocks: 9},
}}

// mooncakeCorpus is testdata/mooncake.jsonl at block size 16.
var mooncakeCorpus = []wantTree{{
	ID: "mooncake",
	Convs: []wantConv{{
		ID: "mooncake::s:s1", Parent: -1, Spawn: -1, Join: -1,
		Turns: []wantTurn{
			// 40 = 2*16 + 8.
			{T: 0, In: 40, Out: 20, Add: []string{"user 1 2 3/8*"}},
			// The answer to turn 0 (20 tokens) is ceil(20/16) = 2
			// synthetic blocks, then the new input 4. Context 1 2 3 A A
			// 4: In 5*16 + 16 = 96. T = 0 + delay 12 s.
			{T: 12, In: 96, Out: 10, Add: []string{"assistant A0.0 A0.1", "user 4"}},
			// One answer block (10 tokens), then 5 6 with a 20-16 = 4
			// token tail: 9 blocks, In 8*16 + 4 = 132. Delay 400 s.
			{T: 412, In: 132, Out: 3, Add: []string{"assistant A1.0", "user 5 6/4*"}},
		},
	}},
	// Hits 0, 3, 6 of 3+6+9 = 18.
	Stats: TreeStats{Convs: 1, RootTurns: 3, Requests: 3, Blocks: 18, HitBlocks: 9},
}, {
	ID: "mooncake",
	Convs: []wantConv{{
		ID: "mooncake::line:2", Parent: -1, Spawn: -1, Join: -1,
		Turns: []wantTurn{{T: 0, In: 32, Out: 5, Add: []string{"user 1 2"}}},
	}},
	Stats: TreeStats{Convs: 1, RootTurns: 1, Requests: 1, Blocks: 2},
}, {
	// Session 7 (a number) starts on line 5, after a blank line 4.
	ID: "mooncake",
	Convs: []wantConv{{
		ID: "mooncake::s:7", Parent: -1, Spawn: -1, Join: -1,
		Turns: []wantTurn{
			{T: 0, In: 48, Out: 7, Add: []string{"user 1 2 9"}},
			// No delay: T stays 0. Context 1 2 9 A 10: In 4*16+16 = 80.
			{T: 0, In: 80, Out: 0, Add: []string{"assistant A0.0", "user 10"}},
		},
	}},
	// Hits 0, 3 of 3+5 = 8.
	Stats: TreeStats{Convs: 1, RootTurns: 2, Requests: 2, Blocks: 8, HitBlocks: 3},
}}

func compareTrees(t *testing.T, got []*Tree, want []wantTree) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d trees, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		checkTree(t, g)
		if g.ID != w.ID || len(g.Convs) != len(w.Convs) {
			t.Fatalf("tree %d: id %q with %d convs, want %q with %d", i, g.ID, len(g.Convs), w.ID, len(w.Convs))
		}
		for c, wc := range w.Convs {
			gc := g.Convs[c]
			if gc.ID != wc.ID || gc.Parent != wc.Parent || gc.SpawnAfter != wc.Spawn ||
				gc.JoinBefore != wc.Join || gc.Offset != wc.Offset || len(gc.Turns) != len(wc.Turns) {
				t.Fatalf("conv %d of %q: %q parent %d spawn %d join %d offset %g, %d turns; want %+v",
					c, g.ID, gc.ID, gc.Parent, gc.SpawnAfter, gc.JoinBefore, gc.Offset, len(gc.Turns), wc)
			}
			for k, wt := range wc.Turns {
				gt := gc.Turns[k]
				add := renderAdd(g, gc.ID, k, gt.Add)
				if gt.T != wt.T || gt.APITime != wt.APITime || gt.In != wt.In || gt.Out != wt.Out ||
					gt.Reset != wt.Reset || !slices.Equal(add, wt.Add) {
					t.Errorf("%s turn %d: T %g api %g in %d out %d reset %v add %q; want %+v",
						gc.ID, k, gt.T, gt.APITime, gt.In, gt.Out, gt.Reset, add, wt)
				}
			}
		}
		if st := g.Stats(); st != w.Stats {
			t.Errorf("tree %d (%s) stats %+v, want %+v", i, w.Convs[0].ID, st, w.Stats)
		}
	}
}

func TestLoadCCTracesCorpus(t *testing.T) {
	for _, path := range []string{"testdata/cc", "testdata/cc.jsonl"} {
		t.Run(path, func(t *testing.T) {
			trees, dropped, err := loadCC(path, defaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			compareTrees(t, trees, ccCorpus)
			if dropped != 1 {
				t.Errorf("%d subagents dropped, want 1 (beta's \"early\")", dropped)
			}
		})
	}
}

func TestDirectoryAndJSONLGiveTheSameTrees(t *testing.T) {
	dir, err := LoadCCTraces("testdata/cc")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := LoadCCTraces("testdata/cc.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	one, err := LoadCCTraces("testdata/cc/beta.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dir, lines) || !reflect.DeepEqual(one[0], dir[1]) {
		t.Error("the directory, the JSONL file and a single file disagree")
	}
}

func TestLoadMooncakeCorpus(t *testing.T) {
	trees, err := LoadMooncake("testdata/mooncake.jsonl", 16)
	if err != nil {
		t.Fatal(err)
	}
	compareTrees(t, trees, mooncakeCorpus)
}

func TestMooncakeIDsAreGlobal(t *testing.T) {
	trees, err := LoadMooncake("testdata/mooncake.jsonl", 16)
	if err != nil {
		t.Fatal(err)
	}
	// Block 1 opens all three sessions: the same text in each, because
	// they share a namespace.
	var texts []string
	for _, tr := range trees {
		b := tr.Convs[0].Turns[0].Add[0].Blocks[0]
		texts = append(texts, string(AppendBlockText(nil, tr.ID, b)))
	}
	if texts[0] != texts[1] || texts[1] != texts[2] {
		t.Errorf("block 1 differs between sessions: %q", texts)
	}
	// Answers are private to their session: s1's and 7's first answers
	// have different ids.
	a1 := trees[0].Convs[0].Turns[1].Add[0].Blocks[0].ID
	a7 := trees[2].Convs[0].Turns[1].Add[0].Blocks[0].ID
	if a1 >= 0 || a7 >= 0 || a1 == a7 {
		t.Errorf("answer ids %d and %d: want negative and different", a1, a7)
	}
}
