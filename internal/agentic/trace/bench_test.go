package trace

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// genCC writes a JSONL corpus of n traces of turns requests each, every
// request re-sending the previous context plus 20 new blocks (64 tokens),
// as a long coding session does; it returns the path.
func genCC(tb testing.TB, n, turns int) string {
	tb.Helper()
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, `{"id":"g%d","block_size":64,"hash_id_scope":"local","requests":[`, i)
		for k := range turns {
			if k > 0 {
				sb.WriteByte(',')
			}
			blocks := 20 * (k + 1)
			fmt.Fprintf(&sb, `{"type":"n","t":%d,"in":%d,"out":500,"api_time":1,"hash_ids":[`, 2*k, 64*blocks-10)
			for j := range blocks {
				if j > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprint(&sb, j)
			}
			sb.WriteString("]}")
		}
		sb.WriteString("]}\n")
	}
	p := filepath.Join(tb.TempDir(), "gen.jsonl")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestGeneratedSessionIsAllCleanAppends(t *testing.T) {
	trees, err := LoadCCTraces(genCC(t, 2, 10))
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trees {
		checkTree(t, tr)
		for k, turn := range tr.Convs[0].Turns {
			if turn.Reset {
				t.Errorf("%s turn %d resets", tr.ID, k)
			}
		}
		// Turn k sends 20(k+1) blocks and hits the 20k sent before:
		// 20*(0+...+9) = 900 of 20*(1+...+10) = 1100.
		if st := tr.Stats(); st.Blocks != 1100 || st.HitBlocks != 900 {
			t.Errorf("%s: %+v", tr.ID, st)
		}
	}
}

// BenchmarkLoadCCTraces loads 8 sessions of 200 turns (up to 4000 blocks,
// 256k tokens, of context): about 3.2M hash ids, 20 MB of JSONL.
func BenchmarkLoadCCTraces(b *testing.B) {
	p := genCC(b, 8, 200)
	st, _ := os.Stat(p)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for range b.N {
		if _, err := LoadCCTraces(p); err != nil {
			b.Fatal(err)
		}
	}
}
