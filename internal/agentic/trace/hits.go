package trace

import "sort"

// HitBlocks is the theoretical prefix-cache hit of a request, in blocks:
// the leading run of its ids already in sent (AIPerf's
// theoretical_prefix_cache_hit counts the same run, with an infinite
// cache). The caller adds ids to sent once the request is sent.
func HitBlocks(sent map[int64]bool, ids []int64) int {
	for i, id := range ids {
		if !sent[id] {
			return i
		}
	}
	return len(ids)
}

// TreeStats sums a tree for reports and tests.
type TreeStats struct {
	Convs     int // the root and its subagents
	RootTurns int // the root conversation's turns
	Requests  int // turns of every conversation
	Blocks    int // hash blocks sent, summed over requests
	HitBlocks int // of them, theoretical prefix-cache hits
}

// Stats sums the tree; HitBlocks is over one play of every turn in
// recorded start order (T, then conversation, then turn), with one sent
// set for the whole tree: a subagent hits blocks its parent sent before
// it, as the hash-id scope says.
func (t *Tree) Stats() TreeStats {
	type ref struct{ c, k int }
	var order []ref
	st := TreeStats{Convs: len(t.Convs)}
	for c := range t.Convs {
		for k := range t.Convs[c].Turns {
			order = append(order, ref{c, k})
		}
	}
	if len(t.Convs) > 0 {
		st.RootTurns = len(t.Convs[0].Turns)
	}
	sort.SliceStable(order, func(i, j int) bool {
		return t.Convs[order[i].c].Turns[order[i].k].T < t.Convs[order[j].c].Turns[order[j].k].T
	})
	sent := map[int64]bool{}
	for _, r := range order {
		ids := t.Convs[r.c].Turns[r.k].HashIDs
		st.Requests++
		st.Blocks += len(ids)
		st.HitBlocks += HitBlocks(sent, ids)
		for _, id := range ids {
			sent[id] = true
		}
	}
	return st
}
