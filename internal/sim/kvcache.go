package sim

import "container/list"

// prefixCache is the engine's block-granular KV cache with prefix reuse,
// after vLLM's: GPU KV is cut into blocks of size tokens; every full
// prompt block, once computed, is filed under its chain key (blockKeys)
// and stays there after its sequence ends, with no user, until the space
// is needed; then the least recently freed one goes first. With a CPU
// tier, a block leaving the GPU is copied to the CPU (itself LRU), and a
// later prompt that finds it only there loads it back instead of
// recomputing it.
//
// The scheduler goroutine owns it: nothing here locks.
type prefixCache struct {
	size   int // tokens per block
	gpuCap int // blocks on the GPU; 0: unlimited
	cpuCap int // blocks on the CPU tier; 0: no CPU tier

	blocks  map[uint64]*kvBlock
	gpuFree list.List // cached GPU blocks nobody uses, least recently freed first
	cpuLRU  list.List // CPU blocks, least recently used first
	gpuUsed int       // GPU blocks taken: cached ones (used or not) and private ones
	cpuUsed int

	offloaded int64 // blocks copied GPU -> CPU so far
}

// kvBlock is one cached block of KV, on the GPU, the CPU or both.
type kvBlock struct {
	key      uint64
	refs     int  // running sequences using it; only GPU blocks have users
	gpu, cpu bool // where copies live
	gpuElem  *list.Element
	cpuElem  *list.Element
	// readyAt (engine time, UnixNano) is when a block being loaded from
	// the CPU becomes usable; 0 when it is.
	readyAt int64
}

// kvAlloc is what one sequence holds in the cache.
type kvAlloc struct {
	pinned  []*kvBlock // cached blocks it uses, in prompt order
	private int        // GPU blocks only it uses: its uncached prompt blocks, the partial one, its output
	hitGPU  int        // leading prompt blocks found on the GPU
	hitCPU  int        // blocks after those found on the CPU tier (loaded, not computed)
}

func newPrefixCache(size, gpuTokens, cpuTokens int) *prefixCache {
	return &prefixCache{size: size, gpuCap: gpuTokens / size, cpuCap: cpuTokens / size, blocks: map[uint64]*kvBlock{}}
}

// blocksFor is how many blocks tokens of KV take.
func (c *prefixCache) blocksFor(tokens int) int { return (tokens + c.size - 1) / c.size }

// lookup finds the longest leading run of keys cached: first on the GPU,
// then continuing on the CPU tier.
func (c *prefixCache) lookup(keys []uint64) (run []*kvBlock, gpu int) {
	for _, k := range keys {
		b := c.blocks[k]
		if b == nil || !b.gpu {
			break
		}
		run = append(run, b)
	}
	gpu = len(run)
	for _, k := range keys[gpu:] {
		b := c.blocks[k]
		if b == nil || !b.cpu {
			break
		}
		run = append(run, b)
	}
	return run, gpu
}

// admit gives a sequence its KV: the cached blocks at the head of its
// prompt (only keys are looked up: pass the ones a hit may cover) and
// fresh blocks for the rest of tokens (prompt and output). It evicts
// unused blocks as needed and reports false, changing nothing, when even
// that leaves too little room.
func (c *prefixCache) admit(keys []uint64, tokens int) (*kvAlloc, bool) {
	run, gpuHits := c.lookup(keys)
	fresh := c.blocksFor(tokens) - gpuHits // CPU hits need GPU room to load into
	if c.gpuCap > 0 {
		evictable := c.gpuFree.Len()
		for _, b := range run[:gpuHits] {
			if b.refs == 0 {
				evictable-- // about to be pinned
			}
		}
		if fresh > c.gpuCap-c.gpuUsed+evictable {
			return nil, false
		}
	}
	for _, b := range run[:gpuHits] {
		c.pin(b)
	}
	for _, b := range run[gpuHits:] {
		// Loaded back: resident and in use before anything is evicted,
		// so that making room cannot throw it out.
		b.gpu, b.refs = true, 1
		c.cpuLRU.MoveToBack(b.cpuElem)
	}
	if c.gpuCap > 0 {
		for c.gpuUsed+fresh > c.gpuCap {
			c.evict()
		}
	}
	c.gpuUsed += fresh
	return &kvAlloc{pinned: run, private: fresh - (len(run) - gpuHits), hitGPU: gpuHits, hitCPU: len(run) - gpuHits}, true
}

// register files a sequence's prompt blocks once its prompt is computed:
// keys are all its full prompt blocks' keys; those past what it already
// holds become cached blocks it uses (or, when an equal block was filed
// meanwhile, it uses that one and gives its own back).
func (c *prefixCache) register(a *kvAlloc, keys []uint64) {
	for _, k := range keys[len(a.pinned):] {
		if a.private == 0 {
			return // cannot happen: a sequence owns a block per prompt block
		}
		b := c.blocks[k]
		switch {
		case b == nil:
			b = &kvBlock{key: k, gpu: true, refs: 1}
			c.blocks[k] = b
		case b.gpu:
			c.pin(b)
			c.gpuUsed-- // its own copy is a duplicate
		default: // on the CPU only: its copy makes it resident again
			b.gpu, b.refs = true, 1
		}
		a.private--
		a.pinned = append(a.pinned, b)
	}
}

// release gives back a finished sequence's blocks. Its cached blocks
// stay cached, freed last-first so that a prompt's tail is evicted before
// its head (which other prompts are likelier to share).
func (c *prefixCache) release(a *kvAlloc) {
	for i := len(a.pinned) - 1; i >= 0; i-- {
		b := a.pinned[i]
		b.refs--
		if b.refs == 0 {
			b.gpuElem = c.gpuFree.PushBack(b)
		}
	}
	c.gpuUsed -= a.private
	a.pinned, a.private = nil, 0
}

func (c *prefixCache) pin(b *kvBlock) {
	if b.refs == 0 && b.gpuElem != nil {
		c.gpuFree.Remove(b.gpuElem)
		b.gpuElem = nil
	}
	b.refs++
}

// evict drops the least recently freed GPU block, copying it to the CPU
// tier when there is one.
func (c *prefixCache) evict() {
	b := c.gpuFree.Remove(c.gpuFree.Front()).(*kvBlock)
	b.gpuElem, b.gpu = nil, false
	c.gpuUsed--
	if c.cpuCap > 0 {
		if b.cpu {
			c.cpuLRU.MoveToBack(b.cpuElem)
		} else {
			for c.cpuUsed >= c.cpuCap {
				c.evictCPU()
			}
			b.cpu, b.cpuElem = true, c.cpuLRU.PushBack(b)
			c.cpuUsed++
			c.offloaded++
		}
	}
	if !b.cpu {
		delete(c.blocks, b.key)
	}
}

func (c *prefixCache) evictCPU() {
	b := c.cpuLRU.Remove(c.cpuLRU.Front()).(*kvBlock)
	b.cpuElem, b.cpu = nil, false
	c.cpuUsed--
	if !b.gpu {
		delete(c.blocks, b.key)
	}
}

// inUse is the GPU blocks running sequences hold (vLLM's KV usage counts
// cached blocks nobody uses as free).
func (c *prefixCache) inUse() int { return c.gpuUsed - c.gpuFree.Len() }
