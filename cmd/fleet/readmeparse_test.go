package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// This file reads README.md's code blocks and the markers that say which of
// their commands the README test may not run; readme_test.go runs the rest.
//
// A marker is an HTML comment (invisible on GitHub, plain in the source)
// before a code block:
//
//	<!-- readme-test: skip: REASON -->                  no line of the block runs
//	<!-- readme-test: skip "PREFIX" "PREFIX"...: REASON --> lines that start with a PREFIX do not run
//
// Every other command line runs, and a prefix that matches no line of its
// block is an error, so that markers cannot go stale.

// mdBlock is one code block of a markdown file.
type mdBlock struct {
	line    int    // the block's first content line, 1-based
	lang    string // a fenced block's info string; "" for an indented block
	fenced  bool
	text    string
	section string // the heading above it
	skipAll string // why no line runs; "" when they do
	skips   []lineSkip
}

// lineSkip is a marker's prefix: command lines that start with it do not run.
type lineSkip struct {
	prefix, reason string
}

// mdCommand is one command line of a block, continuation lines joined.
type mdCommand struct {
	line int    // 1-based, in the markdown file
	text string // as written, without its trailing comment
	skip string // why it does not run; "" when it runs
}

var (
	markerRE    = regexp.MustCompile(`^<!--\s*readme-test:\s*(.*?)\s*-->$`)
	directiveRE = regexp.MustCompile(`^skip((?:\s+"[^"]+")*)\s*:\s*(\S.*)$`)
	quotedRE    = regexp.MustCompile(`"([^"]+)"`)
)

// parseMarkdown returns the code blocks of src with their markers.
func parseMarkdown(src string) ([]mdBlock, error) {
	lines := strings.Split(src, "\n")
	var (
		blocks  []mdBlock
		pending []string // markers waiting for their block, with their line
		pendAt  int
		section string
	)
	attach := func(b *mdBlock) error {
		for _, m := range pending {
			d := directiveRE.FindStringSubmatch(m)
			if d == nil {
				return fmt.Errorf("line %d: marker %q: want `skip: REASON` or `skip \"PREFIX\"...: REASON`", pendAt, m)
			}
			if d[1] == "" {
				b.skipAll = d[2]
				continue
			}
			for _, q := range quotedRE.FindAllStringSubmatch(d[1], -1) {
				b.skips = append(b.skips, lineSkip{prefix: q[1], reason: d[2]})
			}
		}
		pending = nil
		return nil
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		trimmed := strings.TrimSpace(l)
		switch {
		case markerRE.MatchString(trimmed):
			if len(pending) == 0 {
				pendAt = i + 1
			}
			pending = append(pending, markerRE.FindStringSubmatch(trimmed)[1])
		case strings.HasPrefix(trimmed, "```") && !strings.HasPrefix(l, "    "):
			b := mdBlock{line: i + 2, lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), fenced: true, section: section}
			var body []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				body = append(body, lines[i])
			}
			if i == len(lines) {
				return nil, fmt.Errorf("line %d: code block never closed", b.line-1)
			}
			b.text = strings.Join(body, "\n")
			if err := attach(&b); err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		case isIndented(l) && (i == 0 || strings.TrimSpace(lines[i-1]) == "" || markerRE.MatchString(strings.TrimSpace(lines[i-1]))):
			b := mdBlock{line: i + 1, section: section}
			var body []string
			for ; i < len(lines) && (isIndented(lines[i]) || strings.TrimSpace(lines[i]) == ""); i++ {
				body = append(body, strings.TrimPrefix(strings.TrimPrefix(lines[i], "\t"), "    "))
			}
			i-- // the line that ended the block is read again by the loop
			b.text = strings.TrimRight(strings.Join(body, "\n"), "\n ")
			if err := attach(&b); err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		case strings.HasPrefix(l, "#"):
			if len(pending) > 0 {
				return nil, fmt.Errorf("line %d: marker is followed by a heading, not by a code block", pendAt)
			}
			section = strings.TrimSpace(strings.TrimLeft(l, "#"))
		}
	}
	if len(pending) > 0 {
		return nil, fmt.Errorf("line %d: marker at the end, with no code block after it", pendAt)
	}
	return blocks, nil
}

func isIndented(l string) bool {
	return (strings.HasPrefix(l, "    ") || strings.HasPrefix(l, "\t")) && strings.TrimSpace(l) != ""
}

// commands splits a shell block into command lines (backslash
// continuations joined, trailing comments dropped) and applies the block's
// markers. A prefix that matches no line is an error.
func (b mdBlock) commands() ([]mdCommand, error) {
	var out []mdCommand
	lines := strings.Split(b.text, "\n")
	for i := 0; i < len(lines); i++ {
		c := mdCommand{line: b.line + i}
		text := lines[i]
		for strings.HasSuffix(strings.TrimRight(text, " "), `\`) && i+1 < len(lines) {
			i++
			text = strings.TrimSuffix(strings.TrimRight(text, " "), `\`) + " " + strings.TrimSpace(lines[i])
		}
		c.text = strings.Join(strings.Fields(stripComment(text)), " ")
		if c.text == "" {
			continue
		}
		out = append(out, c)
	}
	used := make([]bool, len(b.skips))
	for i := range out {
		if b.skipAll != "" {
			out[i].skip = b.skipAll
			continue
		}
		for j, s := range b.skips {
			if strings.HasPrefix(out[i].text, s.prefix) {
				out[i].skip, used[j] = s.reason, true
				break
			}
		}
	}
	for j, s := range b.skips {
		if !used[j] {
			return nil, fmt.Errorf("line %d: marker prefix %q matches no command of the block", b.line, s.prefix)
		}
	}
	return out, nil
}

// stripComment drops a shell comment: a # that starts a word, outside
// quotes.
func stripComment(s string) string {
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i]
		}
	}
	return s
}

// shellFields splits a command line into words the way sh would for the
// simple quoting READMEs use (single and double quotes, no escapes).
func shellFields(s string) []string {
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

func TestReadmeParser(t *testing.T) {
	const md = "# Title\n\nText\n\n" +
		"<!-- readme-test: skip \"fleet nodes\" \"fleet exec\": need SSH nodes -->\n\n" +
		"    fleet plan x.hcl        # a comment\n" +
		"    fleet nodes check\n" +
		"    fleet exec all -- 'echo #1' \\\n" +
		"      --parallel 2\n\n" +
		"## Config\n\n" +
		"```hcl\nnode \"a\" {}\n```\n\n" +
		"<!-- readme-test: skip: needs root -->\n" +
		"    sudo make it\n"
	blocks, err := parseMarkdown(md)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 {
		t.Fatalf("%d blocks, want 3: %+v", len(blocks), blocks)
	}
	cmds, err := blocks[0].commands()
	if err != nil {
		t.Fatal(err)
	}
	want := []mdCommand{
		{line: 7, text: "fleet plan x.hcl"},
		{line: 8, text: "fleet nodes check", skip: "need SSH nodes"},
		{line: 9, text: "fleet exec all -- 'echo #1' --parallel 2", skip: "need SSH nodes"},
	}
	if fmt.Sprint(cmds) != fmt.Sprint(want) {
		t.Errorf("commands:\n got %+v\nwant %+v", cmds, want)
	}
	if b := blocks[1]; !b.fenced || b.lang != "hcl" || b.text != `node "a" {}` || b.section != "Config" || b.line != 15 {
		t.Errorf("fenced block: %+v", b)
	}
	if b := blocks[2]; b.skipAll != "needs root" || b.text != "sudo make it" {
		t.Errorf("skipped block: %+v", b)
	}
	if got := shellFields(`go test -run '^$' -bench "A B" ./x/`); fmt.Sprint(got) != fmt.Sprint([]string{"go", "test", "-run", "^$", "-bench", "A B", "./x/"}) {
		t.Errorf("shellFields: %q", got)
	}
}

func TestReadmeParserRefusesLooseMarkers(t *testing.T) {
	tests := []struct{ name, md, says string }{
		{"marker before a heading", "<!-- readme-test: skip: why -->\n# H\n\n    x\n", "followed by a heading"},
		{"marker at the end", "    x\n\n<!-- readme-test: skip: why -->\n", "at the end"},
		{"marker without a reason", "<!-- readme-test: skip \"x\" -->\n\n    x\n", "want `skip: REASON`"},
		{"unknown directive", "<!-- readme-test: run-twice -->\n\n    x\n", "want `skip: REASON`"},
		{"unclosed fence", "```sh\nx\n", "never closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseMarkdown(tt.md)
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("err = %v, want one saying %q", err, tt.says)
			}
		})
	}
	blocks, err := parseMarkdown("<!-- readme-test: skip \"fleet gone\": why -->\n\n    fleet plan x\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blocks[0].commands(); err == nil || !strings.Contains(err.Error(), "matches no command") {
		t.Errorf("a stale prefix: err = %v", err)
	}
}
