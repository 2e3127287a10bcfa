package trace

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"strconv"
)

// words are the pseudo-tokens of synthesized text: common three-letter
// English words, each sent with a leading space, so every pseudo-token
// is exactly 4 bytes (fleet sim counts a string at 4 bytes per token)
// and, with its space, usually one token of a real BPE vocabulary. 64 of
// them give 6 random bits per token: two different 64-token blocks are
// the same text with probability 2^-384.
var words = [64]string{
	"the", "and", "for", "are", "but", "not", "you", "all",
	"any", "can", "had", "her", "was", "one", "our", "out",
	"day", "get", "has", "him", "his", "how", "man", "new",
	"now", "old", "see", "two", "way", "who", "did", "its",
	"let", "put", "say", "she", "too", "use", "act", "add",
	"age", "ago", "air", "arm", "art", "ask", "bad", "bed",
	"big", "box", "buy", "car", "cut", "dog", "eat", "end",
	"eye", "far", "few", "fit", "fun", "got", "hot", "job",
}

// AppendBlockText appends the text of block b of tree (the namespace:
// Tree.ID) to dst: b.Tokens words of 4 bytes, " xyz", chosen by a
// generator seeded with (tree, b.ID), or (tree, b.Key) for a Unique
// block. So equal blocks are equal bytes wherever they are sent, a
// partial block is a prefix of its full block, different ids give
// different text, and every block starts on a word boundary: a
// concatenation of blocks tokenizes as the blocks do, and the text
// shared by two prompts is exactly their shared blocks.
func AppendBlockText(dst []byte, tree string, b Block) []byte {
	g := newBlockRand(tree, b)
	var x uint64
	for i := range b.Tokens {
		if i%10 == 0 {
			x = g.next()
		}
		dst = append(dst, ' ')
		dst = append(dst, words[x&63]...)
		x >>= 6
	}
	return dst
}

// AppendBlockTokenIDs appends block b's b.Tokens token ids, for servers
// that take prompt token ids, with the same determinism as
// AppendBlockText. Ids are drawn from the middle of the vocabulary,
// [vocab/8, 3*vocab/4), away from the byte and special tokens that
// vocabularies put at their start and end; a vocab under 8 uses all of
// [0, vocab) (0 alone when vocab < 1).
func AppendBlockTokenIDs(dst []int, tree string, b Block, vocab int) []int {
	lo, hi := vocab/8, vocab*3/4
	if vocab < 8 {
		lo, hi = 0, max(vocab, 1)
	}
	span := uint64(hi - lo)
	g := newBlockRand(tree, b)
	var x uint64
	for i := range b.Tokens {
		if i%2 == 0 {
			x = g.next()
		}
		dst = append(dst, lo+int((x&0xffffffff)*span>>32))
		x >>= 32
	}
	return dst
}

// BustMarker is the cache-bust marker of one play of a trace
// (agentic.md section 3.6), "[rid:<12 hex>]\n\n", to prepend to the play's
// first user message: the hex is a hash of the run id, the lane, the
// lane's recycle pass and the trace id, so it is the same in a play's
// warmup and profiling and new on every recycle and every run.
func BustMarker(runID string, lane, pass int, traceID string) string {
	h := sha256.New()
	for _, f := range []string{runID, strconv.Itoa(lane), strconv.Itoa(pass), traceID} {
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(f))))
		h.Write([]byte(f))
	}
	return "[rid:" + hex.EncodeToString(h.Sum(nil)[:6]) + "]\n\n"
}

// blockRand is a splitmix64 stream seeded by a block's identity.
type blockRand struct{ s uint64 }

func newBlockRand(tree string, b Block) *blockRand {
	h := fnv.New64a()
	h.Write([]byte(tree))
	s := h.Sum64()
	if b.Unique {
		// A distinct stream from the ids': a key never names a hash block.
		return &blockRand{s: s ^ 0x5bd1e9955bd1e995 ^ b.Key*0x9e3779b97f4a7c15}
	}
	return &blockRand{s: s ^ uint64(b.ID)*0x9e3779b97f4a7c15}
}

func (r *blockRand) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
