// Package trace reads recorded agent sessions (SemiAnalysis's cc-traces,
// one trace object per session; and the simpler mooncake_trace JSONL)
// and turns each into a replayable session tree: conversations (the root
// agent's and its subagents'), each a list of turns with the chat
// messages that turn adds, and the spawn and join edges between them.
// Prompt text is synthesized from the trace's block hash ids without a
// tokenizer: equal ids give identical text, so a server's prefix cache
// sees exactly the sharing the recording had.
//
// See shared/reference/agentic.md, sections 2 and 3, for the formats and
// the replay semantics this package's output serves.
package trace

// Tree is one playable session: a root conversation and every
// conversation it spawns, sharing one hash-id namespace.
type Tree struct {
	ID        string // the trace's id
	BlockSize int    // tokens per hash block (64 in cc-traces, 512 in mooncake)
	// Convs[0] is the root; children come after their parents.
	Convs []Conv
}

// Conv is one conversation: strictly sequential turns.
type Conv struct {
	// ID is the correlation id of the conversation: the trace id for the
	// root, "<trace>::sa:<agent_id>" for a subagent; a mooncake session's
	// is "mooncake::s:<session>" (all mooncake trees share the Tree.ID
	// "mooncake", since that format's hash ids are global).
	ID string
	// Parent is the index in Tree.Convs of the conversation that spawns
	// this one; -1 for the root.
	Parent int
	// SpawnAfter is the parent turn after whose end this conversation
	// starts (Offset seconds later, the recorded gap); JoinBefore is the
	// parent turn that waits for it to finish, -1 when nobody waits (a
	// background child).
	SpawnAfter int
	JoinBefore int
	Offset     float64
	Turns      []Turn
}

// Turn is one request of a conversation.
type Turn struct {
	// T is the recorded start, in seconds since the session's start;
	// APITime the recorded server time of the request. The replay waits
	// max(0, T - (previous T + previous APITime)) before sending it.
	T       float64
	APITime float64
	In      int // input tokens the recording counted (the whole context)
	Out     int // output tokens: max_completion_tokens
	// HashIDs are the blocks of the whole context, BlockSize tokens each
	// (the last may be partial: In - BlockSize*(len-1) tokens).
	HashIDs []int64
	// Add are the messages this turn appends to the conversation's
	// history; Reset says the history is replaced by Add (the recorded
	// context was edited or compacted).
	Add   []Message
	Reset bool
}

// Message is one chat message whose content is a run of blocks.
type Message struct {
	Role   string // system, user, assistant
	Blocks []Block
}

// Block is a run of tokens of one hash block: Tokens of the block's
// BlockSize (the full block, unless the block is a context's partial
// tail). A Unique block is filler that no other request shares (a
// partial tail), keyed by Key instead of the hash id.
type Block struct {
	ID     int64
	Tokens int
	Unique bool
	Key    uint64
}
