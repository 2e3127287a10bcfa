package schedule

import (
	"strings"
	"testing"
)

// hostile are values a path or a flag can hold that each rule of a unit
// file's syntax would misread if written as they are.
var hostile = []string{
	"plain",
	"",
	"with space",
	"  leading and trailing  ",
	`double"quote`,
	"single'quote",
	`back\slash`,
	`\n is not a newline`,
	`trailing\`,
	"100%",
	"%h%n%%",
	"$HOME",
	"${HOME}$$",
	";",
	"-dash",
	"@at",
	"ünïcödé",
	`all: "a" 'b' \c %d $e ;f`,
}

// execUnquote reads an Exec*= argument as systemd does (systemd.syntax(7),
// systemd.service(5)): a whole word in double quotes with C escapes, then
// %% as %, then $$ as $ when the command runs. A bare word is literal but
// for the same %% and $$.
func execUnquote(t *testing.T, w string) string {
	t.Helper()
	s := w
	if strings.HasPrefix(w, `"`) {
		if len(w) < 2 || !strings.HasSuffix(w, `"`) {
			t.Fatalf("word %s: unbalanced quotes", w)
		}
		var b strings.Builder
		in := w[1 : len(w)-1]
		for i := 0; i < len(in); i++ {
			c := in[i]
			switch {
			case c == '\\' && i+1 < len(in) && (in[i+1] == '\\' || in[i+1] == '"'):
				b.WriteByte(in[i+1])
				i++
			case c == '\\':
				t.Fatalf("word %s: unexpected escape \\%c", w, in[i+1])
			case c == '"':
				t.Fatalf("word %s: unescaped quote inside", w)
			default:
				b.WriteByte(c)
			}
		}
		s = b.String()
	} else if strings.ContainsAny(w, " \t\"'\\;") {
		t.Fatalf("bare word %q holds a character systemd would split or unquote", w)
	}
	for _, pair := range [][2]string{{"%", "%%"}, {"$", "$$"}} {
		// A lone % or $ would be a specifier or a variable.
		if strings.Count(s, pair[0]) != 2*strings.Count(s, pair[1]) {
			t.Fatalf("word %s: a %s that is not doubled", w, pair[0])
		}
		s = strings.ReplaceAll(s, pair[1], pair[0])
	}
	return s
}

func TestExecWordReadsBackAsTheValue(t *testing.T) {
	for _, v := range hostile {
		w, err := ExecWord(v)
		if err != nil {
			t.Errorf("ExecWord(%q): %v", v, err)
			continue
		}
		if got := execUnquote(t, w); got != v {
			t.Errorf("ExecWord(%q) = %s, which systemd reads as %q", v, w, got)
		}
	}
}

func TestExecWordKeepsPlainWordsBare(t *testing.T) {
	for _, v := range []string{"schedule", "--only", "gpu=h200", "/srv/lab/sweeps/full.hcl", "a,b:c+d@e"} {
		if w, err := ExecWord(v); err != nil || w != v {
			t.Errorf("ExecWord(%q) = %q, %v; want it bare", v, w, err)
		}
	}
}

func TestEveryRuleRefusesWhatNoUnitLineCarries(t *testing.T) {
	for _, v := range []string{"new\nline", "carriage\rreturn", "tab\there", "nul\x00", "bad utf-8 \xff", "del\x7f"} {
		if w, err := ExecWord(v); err == nil {
			t.Errorf("ExecWord(%q) = %q, want an error", v, w)
		}
		if w, err := TextValue("description", v); err == nil {
			t.Errorf("TextValue(%q) = %q, want an error", v, w)
		}
		if w, err := ExecPath("/opt/" + v); err == nil {
			t.Errorf("ExecPath(%q) = %q, want an error", "/opt/"+v, w)
		}
	}
}

func TestExecPath(t *testing.T) {
	tests := []struct {
		path, want, err string
	}{
		{path: "/usr/local/bin/fleet", want: "/usr/local/bin/fleet"},
		{path: "/opt/my tools/fleet", want: `"/opt/my tools/fleet"`},
		{path: "/opt/100%/fleet", want: `"/opt/100%%/fleet"`},
		// systemd replaces no variable in the program's path.
		{path: "/opt/$HOME/fleet", want: `"/opt/$HOME/fleet"`},
		{path: "fleet", err: "absolute path"},
		{path: "-/opt/fleet", err: "absolute path"},
		{path: `/opt/o'brien/fleet`, err: "quote or a backslash"},
		{path: `/opt/"q"/fleet`, err: "quote or a backslash"},
		{path: `/opt/back\slash/fleet`, err: "quote or a backslash"},
	}
	for _, tt := range tests {
		got, err := ExecPath(tt.path)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ExecPath(%q) = %q, %v; want an error saying %q", tt.path, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ExecPath(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

func TestTextValue(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: `fleet sweep "a" in /srv/it's $HOME`, want: `fleet sweep "a" in /srv/it's $HOME`},
		{in: "100% of %h", want: "100%% of %%h"},
		{in: " padded", err: "blank"},
		{in: "padded ", err: "blank"},
		{in: `continued\`, err: "backslash"},
	}
	for _, tt := range tests {
		got, err := TextValue("description", tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("TextValue(%q) = %q, %v; want an error saying %q", tt.in, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("TextValue(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := PathValue("environment file", "secrets.env"); err == nil {
		t.Error("PathValue took a relative path")
	}
}
