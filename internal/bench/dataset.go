package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// A Dataset is the list of requests a benchmark sends.
type Dataset interface {
	Len() int
	// Request returns request i (0 <= i < Len()).
	Request(i int) Request
}

// Request is one benchmark request before it is sent.
type Request struct {
	Prompt Prompt
	// InputLen is the prompt length recorded in the result (the target
	// length for the random dataset, as bench_serving records it).
	InputLen int
	// OutputLen is max_tokens.
	OutputLen int
}

// A Prompt renders itself into a request body. Token-id prompts (the random
// dataset) and text prompts (a tokenized dataset, later) both implement it,
// so the request code does not care which it sends.
type Prompt interface {
	// AppendCompletionPrompt appends the JSON value of the completions
	// "prompt" field: an array of token ids, or a string.
	AppendCompletionPrompt(dst []byte) []byte
	// AppendText appends the prompt as a JSON string, for endpoints that
	// take only text (chat completions).
	AppendText(dst []byte) []byte
}

// RandomConfig describes bench_serving's random dataset.
type RandomConfig struct {
	InputLen   int
	OutputLen  int
	RangeRatio float64 // lengths are uniform in [floor(L*RangeRatio), L]
	PrefixLen  int     // shared prefix, prepended to every prompt
	// VocabSize bounds the token ids. bench_serving takes it from the
	// tokenizer; fleet sends ids without one, so the default (32000, the
	// Llama-2 / Mistral vocabulary) is below the vocabulary of every
	// current model and every id is valid everywhere.
	VocabSize int
}

// DefaultVocabSize is RandomConfig.VocabSize's default.
const DefaultVocabSize = 32000

// RandomDataset is bench_serving's random dataset, with token ids drawn from
// a Go RNG. The ids therefore differ from the Python client's (numpy's
// Mersenne Twister), but the formula, the distributions and the order of
// draws are the same, so the lengths and the traffic mean the same thing.
type RandomDataset struct {
	cfg       RandomConfig
	prefix    []int
	inputLen  []int // excluding the prefix
	outputLen []int
	offset    []int
	// Intervals are the gaps between request arrivals in seconds, drawn
	// last from the same RNG; nil for an infinite request rate.
	Intervals []float64
}

// NewRandomDataset draws n requests with the given seed. The draw order is
// the reference's: prefix ids, input lengths, output lengths, per-request
// offsets, then the arrival intervals (gamma gaps with shape burstiness and
// scale 1/(rate*burstiness)) when rate is finite.
func NewRandomDataset(cfg RandomConfig, n int, seed int64, rate, burstiness float64) (*RandomDataset, error) {
	if cfg.VocabSize == 0 {
		cfg.VocabSize = DefaultVocabSize
	}
	switch {
	case n < 1:
		return nil, fmt.Errorf("random dataset: %d prompts, want at least 1", n)
	case cfg.InputLen < 0 || cfg.OutputLen < 1 || cfg.PrefixLen < 0:
		return nil, fmt.Errorf("random dataset: input length %d, output length %d, prefix %d: want input >= 0, output >= 1, prefix >= 0", cfg.InputLen, cfg.OutputLen, cfg.PrefixLen)
	case cfg.RangeRatio < 0 || cfg.RangeRatio > 1 || math.IsNaN(cfg.RangeRatio):
		return nil, fmt.Errorf("random dataset: range ratio %v, want 0..1", cfg.RangeRatio)
	case cfg.VocabSize < 1:
		return nil, fmt.Errorf("random dataset: vocabulary size %d, want at least 1", cfg.VocabSize)
	case cfg.PrefixLen+cfg.InputLen == 0:
		return nil, fmt.Errorf("random dataset: prompts would be empty (input and prefix length 0)")
	}
	rng := NewRNG(seed)
	d := &RandomDataset{cfg: cfg}
	d.prefix = make([]int, cfg.PrefixLen)
	for i := range d.prefix {
		d.prefix[i] = rng.IntN(cfg.VocabSize)
	}
	d.inputLen = uniformLens(rng, cfg.InputLen, cfg.RangeRatio, n)
	d.outputLen = uniformLens(rng, cfg.OutputLen, cfg.RangeRatio, n)
	if lo := int(math.Floor(float64(cfg.OutputLen) * cfg.RangeRatio)); lo < 1 {
		// max_tokens must be positive (SGLang rejects 0).
		for i, l := range d.outputLen {
			d.outputLen[i] = max(l, 1)
		}
	}
	d.offset = make([]int, n)
	for i := range d.offset {
		d.offset[i] = rng.IntN(cfg.VocabSize)
	}
	if !math.IsInf(rate, 1) {
		iv, err := GammaIntervals(rng, n, rate, burstiness)
		if err != nil {
			return nil, err
		}
		d.Intervals = iv
	}
	return d, nil
}

// NewRNG returns the benchmark's one seeded RNG.
func NewRNG(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x666c656574)) // "fleet"
}

// uniformLens draws n integers uniform in [floor(L*ratio), L].
func uniformLens(rng *rand.Rand, l int, ratio float64, n int) []int {
	lo := int(math.Floor(float64(l) * ratio))
	out := make([]int, n)
	for i := range out {
		out[i] = lo + rng.IntN(l-lo+1)
	}
	return out
}

// GammaIntervals draws n arrival gaps (seconds) with shape burstiness and
// scale 1/(rate*burstiness), so the mean gap is 1/rate whatever the
// burstiness (1 = a Poisson process).
func GammaIntervals(rng *rand.Rand, n int, rate, burstiness float64) ([]float64, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("request rate %v: want a positive number or inf", rate)
	}
	if !(burstiness > 0) || math.IsInf(burstiness, 0) {
		return nil, fmt.Errorf("burstiness %v: want a positive number", burstiness)
	}
	scale := 1 / (rate * burstiness)
	out := make([]float64, n)
	for i := range out {
		out[i] = Gamma(rng, burstiness) * scale
	}
	return out, nil
}

// Gamma draws from the gamma distribution with the given shape and scale 1
// (Marsaglia and Tsang's method; for shape < 1 a draw for shape+1 is scaled
// by U^(1/shape)).
func Gamma(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := rng.Float64()
		for u == 0 {
			u = rng.Float64()
		}
		return Gamma(rng, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x {
			return d * v
		}
		if u > 0 && math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// Len returns the number of requests.
func (d *RandomDataset) Len() int { return len(d.inputLen) }

// Request returns request i: the shared prefix, then ids
// (offset_i + i + j) mod vocab for j in 0..len-1.
func (d *RandomDataset) Request(i int) Request {
	return Request{
		Prompt: &randomPrompt{
			prefix: d.prefix, offset: d.offset[i], index: i,
			n: d.inputLen[i], vocab: d.cfg.VocabSize,
		},
		InputLen:  d.cfg.PrefixLen + d.inputLen[i],
		OutputLen: d.outputLen[i],
	}
}

// TokenIDs returns request i's prompt as token ids (for tests and tools).
func (d *RandomDataset) TokenIDs(i int) []int {
	p := d.Request(i).Prompt.(*randomPrompt)
	out := append([]int(nil), p.prefix...)
	for j := range p.n {
		out = append(out, p.id(j))
	}
	return out
}

type randomPrompt struct {
	prefix []int
	offset int
	index  int
	n      int
	vocab  int
}

func (p *randomPrompt) id(j int) int { return (p.offset + p.index + j) % p.vocab }

func (p *randomPrompt) AppendCompletionPrompt(dst []byte) []byte {
	dst = append(dst, '[')
	for k, id := range p.prefix {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(id), 10)
	}
	for j := range p.n {
		if j > 0 || len(p.prefix) > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(p.id(j)), 10)
	}
	return append(dst, ']')
}

// AppendText renders the ids as text for chat endpoints, which take no
// token ids: each id becomes one common English word (chosen by id), words
// that common tokenizers encode as one token each, so the prompt is close to
// its target length but not exact (the server adds its chat template too).
func (p *randomPrompt) AppendText(dst []byte) []byte {
	dst = append(dst, '"')
	first := true
	word := func(id int) {
		if !first {
			dst = append(dst, ' ')
		}
		first = false
		dst = append(dst, chatWords[id%len(chatWords)]...)
	}
	for _, id := range p.prefix {
		word(id)
	}
	for j := range p.n {
		word(p.id(j))
	}
	return append(dst, '"')
}

// chatWords are short, frequent English words: one token each in the
// GPT, Llama, Qwen and DeepSeek tokenizers when preceded by a space.
var chatWords = [...]string{
	"the", "of", "and", "to", "in", "is", "that", "for", "it", "as",
	"was", "with", "be", "by", "on", "not", "he", "this", "are", "or",
	"his", "from", "at", "which", "but", "have", "an", "had", "they", "you",
	"were", "their", "one", "all", "we", "can", "her", "has", "there", "been",
	"if", "more", "when", "will", "would", "who", "so", "no", "she", "other",
	"its", "may", "these", "what", "them", "than", "some", "him", "time", "into",
	"only", "do", "such", "my", "new", "about", "out", "also", "two", "any",
	"up", "first", "could", "our", "then", "most", "see", "me", "should", "after",
	"said", "your", "very", "between", "many", "over", "like", "those", "did", "now",
	"even", "well", "where", "must", "people", "through", "how", "same", "work", "being",
	"because", "what", "good", "each", "make", "world", "year", "long", "day", "man",
	"way", "back", "just", "great", "state", "life", "part", "small", "place", "under",
	"water", "house", "old", "light", "still", "city", "hand", "high",
}
