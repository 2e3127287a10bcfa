package sse

import "errors"

// Chunk holds what a benchmark reads from one streamed event of an
// OpenAI-compatible completions or chat completions response. Byte slices
// point into the event's data and are valid as long as it is.
type Chunk struct {
	// Choices is the number of elements of "choices"; bench_serving counts
	// a chunk for TTFT and ITL when it is non-zero, even with empty text.
	Choices int
	// Text is choices[0].text (completions) or choices[0].delta.content,
	// falling back to delta.reasoning_content (chat), still JSON-escaped
	// when TextEscaped; nil when absent or null.
	Text        []byte
	TextEscaped bool
	// TokenIDs is len(choices[0].token_ids), -1 when absent or null.
	TokenIDs int
	// CompletionTokens is usage.completion_tokens, -1 without usage.
	CompletionTokens int64
	// IsError is set for an error event: a top-level "error" member that is
	// not null, or the flat form {"object":"error",...}. ErrorMessage is the
	// error's message (escaped when ErrorEscaped), or the raw error value
	// when it has no message.
	IsError      bool
	ErrorMessage []byte
	ErrorEscaped bool
}

// ErrMalformed is returned for an event that is not a JSON object.
var ErrMalformed = errors.New("sse: malformed JSON chunk")

// Done reports whether data is the stream's end marker.
func Done(data []byte) bool { return string(data) == "[DONE]" }

// ParseChunk reads data (one event's payload) into c, overwriting it.
// Unknown members are skipped; when a member appears twice the last one
// wins, as encoding/json decides. It returns ErrMalformed when data is not
// a well-formed JSON object, after filling in what it could read.
func ParseChunk(data []byte, c *Chunk) error {
	*c = Chunk{TokenIDs: -1, CompletionTokens: -1}
	o, ok := openObject(data, 0)
	if !ok {
		return ErrMalformed
	}
	var message []byte
	var messageEscaped, flatError bool
	for {
		key, more := o.next()
		if !more {
			break
		}
		switch string(key) {
		case "choices":
			c.Choices, c.Text, c.TextEscaped, c.TokenIDs = 0, nil, false, -1
			a, isArr := openArray(o.b, o.i)
			if !isArr {
				o.skip()
				continue
			}
			for a.next() {
				if a.n == 1 {
					c.Text, c.TextEscaped, c.TokenIDs = readChoice(a.b, a.i)
				}
				a.skip()
			}
			if a.bad {
				o.bad = true
			}
			c.Choices = a.n
			o.i = a.i
		case "usage":
			c.CompletionTokens = -1
			if u, isObj := openObject(o.b, o.i); isObj {
				for {
					k, more := u.next()
					if !more {
						break
					}
					if string(k) == "completion_tokens" {
						if v, _, ok := intAt(u.b, u.i); ok {
							c.CompletionTokens = v
						} else {
							c.CompletionTokens = -1
						}
					}
					u.skip()
				}
				if u.bad {
					o.bad = true
				}
				o.i = u.i
				continue
			}
			o.skip()
		case "error":
			c.IsError, c.ErrorMessage, c.ErrorEscaped = false, nil, false
			start := o.i
			o.skip()
			if o.bad || isNull(o.b, start) {
				continue
			}
			c.IsError = true
			c.ErrorMessage = o.b[start:o.i]
			if raw, esc, _, ok := stringAt(o.b, start); ok {
				c.ErrorMessage, c.ErrorEscaped = raw, esc
			} else if e, isObj := openObject(o.b, start); isObj {
				for {
					k, more := e.next()
					if !more {
						break
					}
					if string(k) == "message" {
						if raw, esc, _, ok := stringAt(e.b, e.i); ok {
							c.ErrorMessage, c.ErrorEscaped = raw, esc
						}
					}
					e.skip()
				}
			}
		case "object":
			raw, _, _, ok := stringAt(o.b, o.i)
			flatError = ok && string(raw) == "error"
			o.skip()
		case "message":
			message, messageEscaped = nil, false
			if raw, esc, _, ok := stringAt(o.b, o.i); ok {
				message, messageEscaped = raw, esc
			}
			o.skip()
		default:
			o.skip()
		}
		if o.bad {
			break
		}
	}
	if flatError && !c.IsError {
		c.IsError = true
		c.ErrorMessage, c.ErrorEscaped = message, messageEscaped
	}
	if o.bad || skipWS(data, o.i) != len(data) {
		return ErrMalformed
	}
	return nil
}

// readChoice reads text, delta.content / delta.reasoning_content and
// token_ids from the choice object at b[i].
func readChoice(b []byte, i int) (text []byte, escaped bool, tokenIDs int) {
	tokenIDs = -1
	o, ok := openObject(b, i)
	if !ok {
		return nil, false, -1
	}
	for {
		key, more := o.next()
		if !more {
			break
		}
		switch string(key) {
		case "text":
			text, escaped = nil, false
			if raw, esc, _, ok := stringAt(o.b, o.i); ok {
				text, escaped = raw, esc
			}
		case "delta":
			text, escaped = nil, false
			if d, isObj := openObject(o.b, o.i); isObj {
				var content, reasoning []byte
				var contentEsc, reasoningEsc, hasContent bool
				for {
					k, more := d.next()
					if !more {
						break
					}
					switch string(k) {
					case "content":
						content, contentEsc, hasContent = nil, false, false
						if raw, esc, _, ok := stringAt(d.b, d.i); ok {
							content, contentEsc, hasContent = raw, esc, true
						}
					case "reasoning_content":
						reasoning, reasoningEsc = nil, false
						if raw, esc, _, ok := stringAt(d.b, d.i); ok {
							reasoning, reasoningEsc = raw, esc
						}
					}
					d.skip()
				}
				switch {
				case len(content) > 0 || (hasContent && reasoning == nil):
					text, escaped = content, contentEsc
				case reasoning != nil:
					text, escaped = reasoning, reasoningEsc
				}
			}
		case "token_ids":
			tokenIDs = -1
			if a, isArr := openArray(o.b, o.i); isArr {
				for a.next() {
					a.skip()
				}
				tokenIDs = a.n
			}
		}
		o.skip()
		if o.bad {
			break
		}
	}
	return text, escaped, tokenIDs
}
