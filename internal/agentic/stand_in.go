package agentic

// STAND-IN. This file holds trivial, unexported stand-ins for what package
// trace provides once its branch lands (loaders, the prompt synthesizer,
// the cache-bust marker and the hit-block count), with trace's signatures.
// Switching to trace's versions is a change of this one file: each
// function below becomes a call of its trace counterpart:
//
//	loadCCTraces      -> trace.LoadCCTraces
//	loadMooncake      -> trace.LoadMooncake
//	hitBlocks         -> trace.HitBlocks
//	bustMarker        -> trace.BustMarker
//	appendBlockText   -> trace.AppendBlockText
//	appendBlockTokens -> trace.AppendBlockTokenIDs

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/fnv"
	"strconv"

	"github.com/fleetbench/fleet/internal/agentic/trace"
)

// errNoLoader is what the stand-in loaders answer.
var errNoLoader = errors.New("trace loaders are not linked in yet (package trace's LoadCCTraces/LoadMooncake)")

// loadCCTraces stands for trace.LoadCCTraces.
func loadCCTraces(path string) ([]*trace.Tree, error) { return nil, errNoLoader }

// loadMooncake stands for trace.LoadMooncake.
func loadMooncake(path string, blockSize int) ([]*trace.Tree, error) { return nil, errNoLoader }

// sentSet is the set of hash ids a play has sent so far.
type sentSet = map[int64]bool

// hitBlocks stands for trace.HitBlocks: the leading run of ids already
// in sent.
func hitBlocks(sent sentSet, ids []int64) int {
	for i, id := range ids {
		if !sent[id] {
			return i
		}
	}
	return len(ids)
}

// bustMarker stands for trace.BustMarker: "[rid:<12 hex>]\n\n" derived
// from the run, the lane, the lane's recycle pass and the trace.
func bustMarker(runID string, lane, pass int, traceID string) string {
	h := sha256.Sum256([]byte(runID + "\x00" + strconv.Itoa(lane) + "\x00" + strconv.Itoa(pass) + "\x00" + traceID))
	return "[rid:" + hex.EncodeToString(h[:6]) + "]\n\n"
}

// blockSeed keys a block's content: its id within the tree's namespace,
// or its own key for a unique (unshared) block.
func blockSeed(tree string, b trace.Block) uint64 {
	h := fnv.New64a()
	h.Write([]byte(tree))
	var k [9]byte
	if b.Unique {
		k[0] = 1
		binary.LittleEndian.PutUint64(k[1:], b.Key)
	} else {
		binary.LittleEndian.PutUint64(k[1:], uint64(b.ID))
	}
	h.Write(k[:])
	return h.Sum64()
}

// appendBlockText stands for trace.AppendBlockText: about b.Tokens tokens
// of text (4 bytes each: three letters and a space), identical for equal
// blocks.
func appendBlockText(dst []byte, tree string, b trace.Block) []byte {
	x := blockSeed(tree, b)
	for range b.Tokens {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		dst = append(dst, 'a'+byte(x%26), 'a'+byte(x>>8%26), 'a'+byte(x>>16%26), ' ')
	}
	return dst
}

// appendBlockTokens stands for trace.AppendBlockTokenIDs: b.Tokens ids
// in [vocab/8, 3*vocab/4), identical for equal blocks.
func appendBlockTokens(dst []int, tree string, b trace.Block, vocab int) []int {
	x := blockSeed(tree, b)
	lo, span := vocab/8, uint64(max(vocab*3/4-vocab/8, 1))
	for range b.Tokens {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		dst = append(dst, lo+int(x%span))
	}
	return dst
}
