package bench

import "fmt"

// ChatTemplate says how prompts are framed as a chat turn, as InferenceX's
// client does with --use-chat-template (and --dsv4). Speculative decoding
// (MTP, EAGLE) accepts far fewer draft tokens on bare random tokens than on
// a chat turn, so the framing changes what such a benchmark measures.
type ChatTemplate string

// Chat templates.
const (
	// ChatTemplateNone sends the prompt bare (token ids on completions).
	ChatTemplateNone ChatTemplate = ""
	// ChatTemplateServer sends each prompt as one user message to the
	// chat completions endpoint, so that the server renders the model's
	// own chat template with the generation prompt. The Python client
	// renders that template itself from the tokenizer and sends the text
	// to the completions endpoint; fleet has no tokenizer, so the server
	// does the same rendering instead.
	ChatTemplateServer ChatTemplate = "server"
	// ChatTemplateDSV4 frames each prompt as DeepSeek-V4's single user
	// turn in thinking mode, rendered by fleet as text (the model has no
	// template a server could render), and sends that text to whatever
	// endpoint the backend uses.
	ChatTemplateDSV4 ChatTemplate = "dsv4"
)

// DeepSeek-V4's special tokens around one user turn in thinking mode: the
// beginning of the sequence and the user marker before the message, the
// assistant marker and the start of thinking after it.
const (
	dsv4Before = "<｜begin▁of▁sentence｜><｜User｜>"
	dsv4After  = "<｜Assistant｜><think>"
	// DSV4FrameTokens is how many tokens the frame adds: the four special
	// tokens, one each in DeepSeek-V4's vocabulary. The Python client
	// measures it with the tokenizer (the framed one-token prompt's length
	// less one) and draws prompt lengths that much shorter, so that framed
	// prompts have the target length; fleet does the same with this count.
	DSV4FrameTokens = 4
)

// chat reports whether requests go to a chat completions endpoint.
func (c *Config) chat() bool {
	return c.Backend.Chat() || c.ChatTemplate == ChatTemplateServer
}

// DefaultEndpoint is the API path a configuration sends to when it names
// none: chat completions for a chat backend or a server-rendered chat
// template, else the backend's.
func (c *Config) DefaultEndpoint() string {
	if c.chat() {
		return BackendOpenAIChat.DefaultEndpoint()
	}
	return c.Backend.DefaultEndpoint()
}

func (t ChatTemplate) validate() error {
	switch t {
	case ChatTemplateNone, ChatTemplateServer, ChatTemplateDSV4:
		return nil
	}
	return fmt.Errorf("chat template %q: want none, server or dsv4", t)
}

// dsv4Dataset frames every prompt of a dataset as a DeepSeek-V4 user turn.
type dsv4Dataset struct{ Dataset }

func (d dsv4Dataset) Request(i int) Request {
	r := d.Dataset.Request(i)
	r.Prompt = dsv4Prompt{r.Prompt}
	r.InputLen += DSV4FrameTokens
	return r
}

// dsv4Prompt is a prompt's text inside DeepSeek-V4's frame. It is text on
// every endpoint: the frame's special tokens are strings the server's
// tokenizer turns into their ids, as it does for the Python client's text.
type dsv4Prompt struct{ inner Prompt }

func (p dsv4Prompt) AppendCompletionPrompt(dst []byte) []byte { return p.AppendText(dst) }

func (p dsv4Prompt) AppendText(dst []byte) []byte {
	before := appendJSONString(nil, dsv4Before)
	dst = append(dst, before[:len(before)-1]...) // open quote and the frame's start
	mark := len(dst)
	dst = p.inner.AppendText(dst) // a quoted string: drop its quotes
	n := copy(dst[mark:], dst[mark+1:len(dst)-1])
	dst = dst[:mark+n]
	after := appendJSONString(nil, dsv4After)
	return append(dst, after[1:]...) // the frame's end and close quote
}
