package kvgroup

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tString
	tEq
	tLBrace
	tRBrace
	tSemi
)

type token struct {
	kind      tokKind
	quoted    bool // tString: written "…" rather than as a bare word
	val       string
	line, col int
}

// String describes the token for error messages.
func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tEq:
		return "'='"
	case tLBrace:
		return "'{'"
	case tRBrace:
		return "'}'"
	case tSemi:
		return "';'"
	}
	if t.quoted {
		return "string " + t.q()
	}
	return "word " + t.q()
}

// q quotes the token's text for a message, cut to 40 bytes.
func (t token) q() string {
	v := t.val
	if len(v) > 40 {
		// cut on a rune boundary so the message stays valid UTF-8
		i := 40
		for i > 0 && !utf8.RuneStart(v[i]) {
			i--
		}
		v = v[:i] + "…"
	}
	return strconv.Quote(v)
}

type parser struct {
	src       []byte
	off       int
	line      int // 1-based line of src[off]
	lineStart int // offset of the first byte of that line
}

var bom = []byte("\xef\xbb\xbf")

// Parse reads a KVGroup document. Errors are *SyntaxError.
func Parse(r []byte) (*Document, error) {
	p := &parser{src: r, line: 1}
	if bytes.HasPrefix(r, bom) {
		p.off, p.lineStart = len(bom), len(bom)
	}
	doc := &Document{}
	if err := p.header(doc); err != nil {
		return nil, err
	}
	if err := p.entries(&doc.Root); err != nil {
		return nil, err
	}
	return doc, nil
}

func (p *parser) errorf(line, col int, format string, args ...any) error {
	return &SyntaxError{Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// errAt reports a problem at byte offset off, which must be on the current line.
func (p *parser) errAt(off int, format string, args ...any) error {
	return p.errorf(p.line, off-p.lineStart+1, format, args...)
}

func (p *parser) skipSpace() {
	for p.off < len(p.src) {
		switch p.src[p.off] {
		case ' ', '\t', '\r', '\v', '\f':
		case '\n':
			p.line++
			p.lineStart = p.off + 1
		default:
			return
		}
		p.off++
	}
}

// header consumes a leading `# KVGROUP-V1.x` token, if any. The rest of its line is left to
// the entry parser, so one-line documents keep their content.
func (p *parser) header(doc *Document) error {
	p.skipSpace()
	if p.off >= len(p.src) || p.src[p.off] != '#' {
		return nil
	}
	i := p.off + 1
	for i < len(p.src) && (p.src[i] == ' ' || p.src[i] == '\t') {
		i++
	}
	const prefix = "KVGROUP-V"
	if !bytes.HasPrefix(p.src[i:], []byte(prefix)) {
		return nil // an ordinary comment: the entry parser skips it
	}
	start := i
	for i < len(p.src) && !isDelim(p.src[i]) {
		i++
	}
	word := p.src[start:i]
	switch v := string(word[len(prefix):]); v {
	case "1.0", "1.1":
		doc.Version = v
		p.off = i
		return nil
	}
	if !utf8.Valid(word) {
		return p.errAt(start+invalidOffset(word), "invalid UTF-8")
	}
	return p.errAt(start, "unsupported header %q: want KVGROUP-V1.0 or KVGROUP-V1.1", word)
}

// isDelim reports whether c ends a bare word.
func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\v', '\f', '"', '=', '{', '}', ';', '#':
		return true
	}
	return false
}

// invalidOffset returns the offset of the first byte of b that is not valid UTF-8.
func invalidOffset(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// next returns the next token, skipping whitespace and comments.
func (p *parser) next() (token, error) {
	for {
		p.skipSpace()
		if p.off >= len(p.src) {
			return token{kind: tEOF, line: p.line, col: p.off - p.lineStart + 1}, nil
		}
		if p.src[p.off] != '#' {
			break
		}
		end := bytes.IndexByte(p.src[p.off:], '\n')
		if end < 0 {
			end = len(p.src)
		} else {
			end += p.off
		}
		if c := p.src[p.off:end]; !utf8.Valid(c) {
			return token{}, p.errAt(p.off+invalidOffset(c), "invalid UTF-8 in comment")
		}
		p.off = end
	}
	t := token{line: p.line, col: p.off - p.lineStart + 1}
	switch p.src[p.off] {
	case '=':
		t.kind = tEq
	case '{':
		t.kind = tLBrace
	case '}':
		t.kind = tRBrace
	case ';':
		t.kind = tSemi
	case '"':
		return p.quoted(t)
	default:
		return p.bare(t)
	}
	p.off++
	return t, nil
}

func (p *parser) bare(t token) (token, error) {
	start := p.off
	i := start
	for i < len(p.src) {
		c := p.src[i]
		if c < utf8.RuneSelf {
			if isDelim(c) {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(p.src[i:])
		if r == utf8.RuneError && n == 1 {
			return t, p.errAt(i, "invalid UTF-8")
		}
		i += n
	}
	p.off = i
	t.kind, t.val = tString, string(p.src[start:i])
	return t, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// quoted reads a "…" string starting at p.off; t holds its position.
func (p *parser) quoted(t token) (token, error) {
	src := p.src
	start := p.off + 1
	seg := start   // start of the not yet copied run, when buf is in use
	var buf []byte // nil until the first escape
	for i := start; i < len(src); {
		c := src[i]
		switch {
		case c == '"':
			t.kind, t.quoted = tString, true
			if buf == nil {
				t.val = string(src[start:i])
			} else {
				t.val = string(append(buf, src[seg:i]...))
			}
			p.off = i + 1
			return t, nil
		case c == '\\':
			if i+1 >= len(src) {
				i++
				continue // unterminated: reported below
			}
			var dec byte
			n := 2
			switch src[i+1] {
			case '"':
				dec = '"'
			case '\\':
				dec = '\\'
			case 'n':
				dec = '\n'
			case 't':
				dec = '\t'
			case 'r':
				dec = '\r'
			case 'x':
				n = 0
				if i+3 < len(src) {
					hi, ok1 := unhex(src[i+2])
					lo, ok2 := unhex(src[i+3])
					if ok1 && ok2 && hi < 8 {
						dec, n = hi<<4|lo, 4
					}
				}
			default:
				n = 0
			}
			if n == 0 {
				// unknown escape: keep the backslash; what follows is read normally
				i++
				continue
			}
			if buf == nil {
				buf = make([]byte, 0, i-start+16)
			}
			buf = append(buf, src[seg:i]...)
			buf = append(buf, dec)
			i += n
			seg = i
		case c == '\n':
			p.line++
			p.lineStart = i + 1
			i++
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && n == 1 {
				return t, p.errAt(i, "invalid UTF-8 in quoted string")
			}
			i += n
		default:
			i++
		}
	}
	return t, p.errorf(t.line, t.col, "unterminated string: no closing '\"' before end of input")
}

type frame struct {
	g         *Group
	line, col int // where its '{' is
}

// entries parses entries into root until the end of input, iteratively: an explicit stack
// of open groups replaces recursion. It is one loop over the grammar (~85 lines) because
// every case shares the stack and the current group.
func (p *parser) entries(root *Group) error {
	cur := root
	var stack []frame // the open groups, innermost last; cur is not on it
	open := func(key, name string, brace token) error {
		if len(stack) >= MaxDepth {
			return p.errorf(brace.line, brace.col, "groups nested too deeply: more than %d levels of '{'", MaxDepth)
		}
		g := &Group{}
		cur.Entries = append(cur.Entries, Entry{Key: key, Name: name, Group: g})
		stack = append(stack, frame{g: cur, line: brace.line, col: brace.col})
		cur = g
		return nil
	}
	for {
		t, err := p.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tEOF:
			if len(stack) > 0 {
				f := stack[len(stack)-1]
				return p.errorf(t.line, t.col, "expected '}' to close the group opened at line %d, column %d, found end of input", f.line, f.col)
			}
			return nil
		case tSemi:
			continue
		case tRBrace:
			if len(stack) == 0 {
				return p.errorf(t.line, t.col, "unexpected '}': no group is open")
			}
			cur = stack[len(stack)-1].g
			stack = stack[:len(stack)-1]
			continue
		case tString:
		default:
			return p.errorf(t.line, t.col, "expected a key (quoted string or word), found %v", t)
		}
		key := t
		t, err = p.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tEq:
			v, err := p.next()
			if err != nil {
				return err
			}
			switch v.kind {
			case tString:
				cur.Entries = append(cur.Entries, Entry{Key: key.val, Value: v.val})
			case tLBrace:
				if err := open(key.val, "", v); err != nil {
					return err
				}
			default:
				return p.errorf(v.line, v.col, "expected a value or '{' after %s =, found %v", key.q(), v)
			}
		case tString:
			name := t
			t, err = p.next()
			if err != nil {
				return err
			}
			if t.kind != tEq {
				return p.errorf(t.line, t.col, "expected '=' after key %s and group name %s, found %v", key.q(), name.q(), t)
			}
			t, err = p.next()
			if err != nil {
				return err
			}
			if t.kind != tLBrace {
				return p.errorf(t.line, t.col, "expected '{' after %s %s =, found %v (a pair has no name)", key.q(), name.q(), t)
			}
			if err := open(key.val, name.val, t); err != nil {
				return err
			}
		default:
			return p.errorf(t.line, t.col, "expected '=' or a group name after key %s, found %v", key.q(), t)
		}
	}
}
