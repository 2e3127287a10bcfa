package sim

// Pseudo-tokens for prefix caching. The simulator has no tokenizer, but a
// prefix cache needs token content, not only counts: two prompts share
// cached blocks exactly when their leading tokens are equal. A prompt is
// turned into a deterministic stream of 64-bit pseudo-tokens that has
// exactly as many tokens as the counting rules in request.go give, so that
// usage, the context limit and the cache agree:
//   - token ids are used as they are;
//   - a string is one BOS token, then one token per 4 bytes (the last one
//     shorter), each the bytes themselves packed into the value, so equal
//     text gives equal tokens and a shared prefix of 4k bytes gives 1+k
//     shared tokens;
//   - a chat request is rendered with a fixed template: BOS, then for each
//     message 4 template tokens derived from its role and its content as
//     text, then 3 tokens for the assistant header. A conversation resent
//     with one more turn therefore shares every token up to the old
//     assistant header.

// promptKind says what a prompt was sent as.
type promptKind uint8

const (
	promptIDs promptKind = iota
	promptText
	promptChat
)

// promptSource is one prompt as the request gave it, kept until the
// engine needs its tokens.
type promptSource struct {
	kind promptKind
	ids  []int64
	text string
	msgs []chatMsg
}

// chatMsg is one chat message: its role and the texts of its content (a
// string content is one part).
type chatMsg struct {
	role  string
	parts []string
}

// Tags keep the token spaces apart: ids are below 2^62, so text and
// template tokens, which set the top bits, never equal an id.
const (
	tagText     = 1 << 63
	tagTemplate = 1 << 62
	tokBOS      = tagTemplate | 0x1
	tokGenHead  = tagTemplate | 0x2 // the assistant header, 3 tokens from here
)

// tokens renders the prompt as pseudo-tokens.
func (p *promptSource) tokens() []uint64 {
	switch p.kind {
	case promptIDs:
		out := make([]uint64, len(p.ids))
		for i, id := range p.ids {
			out[i] = uint64(id)
		}
		return out
	case promptText:
		out := make([]uint64, 0, stringTokens(p.text))
		out = append(out, tokBOS)
		return appendTextTokens(out, p.text)
	}
	out := []uint64{tokBOS}
	for _, m := range p.msgs {
		role := roleHash(m.role)
		for i := range uint64(chatTokensPerMsg) {
			out = append(out, tagTemplate|role<<8|(0x10+i))
		}
		for _, part := range m.parts {
			out = appendTextTokens(out, part)
		}
	}
	for i := range uint64(chatGenPromptTokens) {
		out = append(out, tokGenHead+i)
	}
	return out
}

// appendTextTokens appends one token per 4 bytes of s: the bytes packed
// with their count, so a short last chunk differs from a padded full one.
func appendTextTokens(out []uint64, s string) []uint64 {
	for i := 0; i < len(s); i += bytesPerToken {
		chunk := s[i:min(i+bytesPerToken, len(s))]
		v := uint64(tagText) | uint64(len(chunk))<<32
		for j := range len(chunk) {
			v |= uint64(chunk[j]) << (8 * j)
		}
		out = append(out, v)
	}
	return out
}

func roleHash(role string) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(role) {
		h ^= uint64(role[i])
		h *= 1099511628211
	}
	return h & (1<<40 - 1)
}

// rootKey is the parent key of a prompt's first block.
const rootKey = 0x5eed_b10c_c4a1_0001

// blockKeys cuts tokens into blocks of size tokens and keys every full
// block by a hash of its parent's key and its own tokens (vLLM's chained
// block hash): equal blocks after different prefixes get different keys,
// so a hit is always a whole shared prefix. The partial last block has no
// key: it is never cached.
func blockKeys(tokens []uint64, size int) []uint64 {
	keys := make([]uint64, len(tokens)/size)
	parent := uint64(rootKey)
	for b := range keys {
		parent = chainKey(parent, tokens[b*size:(b+1)*size])
		keys[b] = parent
	}
	return keys
}

func chainKey(parent uint64, block []uint64) uint64 {
	h := mix64(parent)
	for _, t := range block {
		h = mix64(h ^ t)
	}
	return h
}

// mix64 is splitmix64's finalizer: a cheap, well-spread 64-bit mix.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
