package wfi

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest placeholder name, in bytes, that #name# accepts.
const MaxNameLen = 128

// scanned is a template's text after the pre-scan: WFI placeholders turned
// into Go template actions.
type scanned struct {
	text string
	// lits holds the positions (parse.Pos: the byte offset just inside the
	// "{{") of the actions the scan generated to print a literal '{'; their
	// output must not be escaped.
	lits map[int]bool
}

// prescan converts, outside {{…}} actions, every valid #name# into
// {{ph "name"}} and every ## into a literal '#'; everything else is copied.
// A '#' that does not start a valid placeholder stays literal. Actions are
// copied verbatim (a #name# inside one is not a placeholder), so the result
// parses once with text/template and no value is ever parsed again. The
// conversion adds no line breaks: line numbers stay those of the input.
func prescan(src string) scanned {
	b := make([]byte, 0, len(src)+len(src)/4)
	var lits map[int]bool
	// lit prints a literal '{' through an action: '{' just before "{{"
	// would otherwise become part of the delimiter.
	lit := func() {
		if lits == nil {
			lits = make(map[int]bool)
		}
		lits[len(b)+2] = true
		b = append(b, `{{"{"}}`...)
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '{' && strings.HasPrefix(src[i+1:], "{{"):
			// "{{{" has no meaning to text/template: the first '{' is text.
			lit()
			i++
		case c == '{' && strings.HasPrefix(src[i+1:], "{"):
			end := actionEnd(src, i)
			if end < 0 {
				// Unterminated: text/template reports it, with its line.
				b = append(b, src[i:]...)
				i = len(src)
				break
			}
			b = append(b, src[i:end]...)
			i = end
		case c == '#' && strings.HasPrefix(src[i+1:], "#"):
			b = append(b, '#')
			i += 2
		case c == '#':
			n := placeholderLen(src[i+1:])
			if n == 0 {
				b = append(b, '#')
				i++
				break
			}
			if len(b) > 0 && b[len(b)-1] == '{' {
				b = b[:len(b)-1]
				lit()
			}
			b = append(b, `{{ph `...)
			b = strconv.AppendQuote(b, src[i+1:i+1+n])
			b = append(b, `}}`...)
			i += n + 2
		default:
			b = append(b, c)
			i++
		}
	}
	return scanned{text: string(b), lits: lits}
}

// placeholderLen returns the length of the name of a valid placeholder at
// the start of s (s follows the opening '#'), 0 if there is none: a letter
// or '_', then letters, digits, '_', ' ', '.', '-' and ':', at most
// MaxNameLen bytes, not ending with a space, closed by '#' on the same line.
func placeholderLen(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '#':
			if i == 0 || s[i-1] == ' ' {
				return 0
			}
			return i
		case i >= MaxNameLen:
			return 0
		case r == '_' || unicode.IsLetter(r):
		case i == 0:
			return 0
		case unicode.IsDigit(r) || r == ' ' || r == '.' || r == '-' || r == ':':
		default:
			return 0
		}
		i += size
	}
	return 0
}

// validName reports whether name can be written #name#.
func validName(name string) bool {
	return name != "" && placeholderLen(name+"#") == len(name)
}

// actionEnd returns the index just past the "}}" that closes the action
// starting at src[i] ("{{"), or -1 if it is not closed. Quoted strings, raw
// strings, character constants and comments may contain "}}".
func actionEnd(src string, i int) int {
	j := i + 2
	// A comment: {{/* … */}} or {{- /* … */ -}}.
	k := j
	if strings.HasPrefix(src[k:], "-") && len(src) > k+1 && isSpace(src[k+1]) {
		k += 2
	}
	if strings.HasPrefix(src[k:], "/*") {
		e := strings.Index(src[k+2:], "*/")
		if e < 0 {
			return -1
		}
		j = k + 2 + e + 2
	}
	for j < len(src) {
		switch src[j] {
		case '"', '\'':
			j = quotedEnd(src, j)
			continue
		case '`':
			e := strings.IndexByte(src[j+1:], '`')
			if e < 0 {
				return -1
			}
			j += e + 2
			continue
		case '}':
			if strings.HasPrefix(src[j+1:], "}") {
				return j + 2
			}
		}
		j++
	}
	return -1
}

// quotedEnd returns the index just past the quoted string or character
// constant starting at src[i]; an unterminated one ends at the line end
// (text/template reports it).
func quotedEnd(src string, i int) int {
	q := src[i]
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '\n':
			return j
		case q:
			return j + 1
		}
	}
	return len(src)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
