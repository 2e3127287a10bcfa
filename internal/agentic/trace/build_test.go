package trace

import (
	"testing"
)

// sub is a subagent entry at t with the given requests.
func sub(t float64, agent, reqs string) string {
	return `{"type":"subagent","t":` + ftoa(t) + `,"agent_id":"` + agent + `","requests":[` + reqs + `]}`
}

func TestBuildEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		trace   string
		want    wantTree
		dropped int
	}{{
		name: "a system prefix longer than the context leaves one user block",
		// 130 tokens = 2 whole blocks (rounded down), but the context is
		// 2 blocks: the system message gets 1.
		trace: `{"id":"x","block_size":64,"tool_tokens":100,"system_tokens":30,"requests":[` + req(0, 128, "0,1") + `]}`,
		want: wantTree{ID: "x", Convs: []wantConv{{ID: "x", Parent: -1, Spawn: -1, Join: -1,
			Turns: []wantTurn{{T: 0, APITime: 1, In: 128, Out: 10, Add: []string{"system 0", "user 1"}}}}},
			Stats: TreeStats{Convs: 1, RootTurns: 1, Requests: 1, Blocks: 2}},
	}, {
		name: "an unchanged context adds nothing; a shrunk one is re-sent with its own tail",
		// Turn 1 repeats turn 0 (LCP 3 = all): no message. Turn 2 is a
		// prefix (LCP 2 < 3): the history cut after 2 blocks, whose last
		// is now a 100-64 = 36-token tail.
		trace: `{"id":"x","block_size":64,"requests":[` + req(0, 192, "0,1,2") + `,` + req(2, 192, "0,1,2") + `,` + req(4, 100, "0,1") + `]}`,
		want: wantTree{ID: "x", Convs: []wantConv{{ID: "x", Parent: -1, Spawn: -1, Join: -1,
			Turns: []wantTurn{
				{T: 0, APITime: 1, In: 192, Out: 10, Add: []string{"user 0 1 2"}},
				{T: 2, APITime: 1, In: 192, Out: 10},
				{T: 4, APITime: 1, In: 100, Out: 10, Reset: true, Add: []string{"user 0 1/36*"}},
			}}},
			// Hits 0, 3, 2 of 3+3+2.
			Stats: TreeStats{Convs: 1, RootTurns: 3, Requests: 3, Blocks: 8, HitBlocks: 5}},
	}, {
		name: "a context that shares nothing is a reset to the new blocks",
		// LCP 0: nothing kept; ceil(10/64) = 1 answer block, then the rest.
		trace: `{"id":"x","block_size":64,"requests":[` + req(0, 64, "0") + `,` + req(1, 128, "5,6") + `]}`,
		want: wantTree{ID: "x", Convs: []wantConv{{ID: "x", Parent: -1, Spawn: -1, Join: -1,
			Turns: []wantTurn{
				{T: 0, APITime: 1, In: 64, Out: 10, Add: []string{"user 0"}},
				{T: 1, APITime: 1, In: 128, Out: 10, Reset: true, Add: []string{"assistant 5", "user 6"}},
			}}},
			Stats: TreeStats{Convs: 1, RootTurns: 2, Requests: 2, Blocks: 3}},
	}, {
		name: "nested, resumed, empty and early subagents",
		// Root turns at 0 and 10 (api 1). Entries: "e" before any root
		// turn (dropped); "n" with no requests (dropped); "a" (absolute
		// times 2, 3) which itself spawns "b" after its turn 0 (b at
		// 2.5, before a's turn 0 ends at 3: offset clamped to 0); "a"
		// again (resumed: a#2). Children come after their parents,
		// depth first: x, a, b, a#2.
		trace: `{"id":"x","block_size":64,"requests":[` +
			sub(0, "e", req(0, 64, "9")) + `,` + req(0, 64, "0") + `,` + sub(1, "n", "") + `,` +
			sub(1, "a", req(2, 64, "0")+`,`+sub(2.2, "b", req(2.5, 64, "7"))+`,`+req(4, 128, "0,1")) + `,` +
			sub(1, "a", req(5, 64, "8")) + `,` + req(10, 128, "0,1") + `]}`,
		want: wantTree{ID: "x", Convs: []wantConv{
			{ID: "x", Parent: -1, Spawn: -1, Join: -1, Turns: []wantTurn{
				{T: 0, APITime: 1, In: 64, Out: 10, Add: []string{"user 0"}},
				{T: 10, APITime: 1, In: 128, Out: 10, Add: []string{"assistant 1"}},
			}},
			{ID: "x::sa:a", Parent: 0, Spawn: 0, Join: 1, Offset: 1, Turns: []wantTurn{
				{T: 2, APITime: 1, In: 64, Out: 10, Add: []string{"user 0"}},
				{T: 4, APITime: 1, In: 128, Out: 10, Add: []string{"assistant 1"}},
			}},
			{ID: "x::sa:b", Parent: 1, Spawn: 0, Join: 1, Offset: 0, Turns: []wantTurn{
				{T: 2.5, APITime: 1, In: 64, Out: 10, Add: []string{"user 7"}},
			}},
			{ID: "x::sa:a#2", Parent: 0, Spawn: 0, Join: 1, Offset: 4, Turns: []wantTurn{
				{T: 5, APITime: 1, In: 64, Out: 10, Add: []string{"user 8"}},
			}},
		},
			// Start order x0 [0], a0 [0] (hit 1), b0 [7], a1 [0 1] (hit
			// 1), a#2 [8], x1 [0 1] (hit 2): 4 of 1+1+1+2+1+2 = 8.
			Stats: TreeStats{Convs: 4, RootTurns: 2, Requests: 6, Blocks: 8, HitBlocks: 4}},
		dropped: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trees, dropped, err := loadCC(writeFile(t, "t.json", tt.trace), defaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			compareTrees(t, trees, []wantTree{tt.want})
			if dropped != tt.dropped {
				t.Errorf("%d dropped, want %d", dropped, tt.dropped)
			}
		})
	}
}

func TestTruncateSharesBlocksWithoutLettingAppendsLeak(t *testing.T) {
	hist := []Message{{Role: "user", Blocks: []Block{{ID: 1}, {ID: 2}, {ID: 3}}}}
	cut := truncate(hist, 2)
	cut[0].Blocks = append(cut[0].Blocks, Block{ID: 99})
	if hist[0].Blocks[2].ID != 3 {
		t.Fatal("appending to a truncated message overwrote the history it came from")
	}
}
