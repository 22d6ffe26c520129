package events

import (
	"bytes"
	"unicode/utf8"
)

// The fast path of DecodeTicketInfo.
//
// encoding/xml's tokenizer boxes every token and allocates every name, and it
// is nearly all of the full decoder's time. SecureChange sends a small, plain
// subset of XML, which decodeTicketInfoFast scans directly: one pass over the
// bytes, no tokens, no per-element allocations. Anything outside that subset,
// and anything the full decoder would reject, is declined so that the full
// decoder decides (and words every error). The fast path is proven to agree
// with the full decoder by FuzzDecodeTicketInfoFastMatchesFull.
//
// The subset:
//
//   - UTF-8 of XML characters only: no byte below 0x20 but \t and \n (so no
//     \r, which encoding/xml rewrites), no U+FFFE or U+FFFF, no byte order mark;
//   - white space (' ', \t, \n), then optionally exactly
//     <?xml version="1.0"[ encoding="utf-8" in any case][ standalone="yes"|"no"]?>
//     (either quote, white space between the parts and before ?>), white space;
//   - the root <ticket_info>, then elements <name>, <name/> and </name>,
//     without attributes, white space allowed only before > and />, names
//     [A-Za-z_][A-Za-z0-9_.-]* (no prefixes), at most MaxXMLDepth levels;
//   - text without "]]>", with only &amp; &lt; &gt; &quot; &apos; and
//     &#N; or &#xH; for XML characters; no CDATA, comments, processing
//     instructions or DOCTYPE;
//   - no element inside a known text element (<id>, <subject>, ...);
//   - nothing but white space after </ticket_info>;
//   - a valid ticket id.

// fastText marks the bytes the text scanner must look at: markup, references,
// ']' (for "]]>"), non-ASCII and control characters. Tab and newline are not
// marked.
var fastText = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = c != '\t' && c != '\n'
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	t['<'], t['&'], t[']'] = true, true, true
	return t
}()

// fastNameStart and fastNameByte define the names the fast path accepts:
// [A-Za-z_][A-Za-z0-9_.-]*, a subset of XML names without ':'.
var fastNameStart, fastNameByte = func() (start, rest [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		start[c], start[c-'a'+'A'] = true, true
	}
	start['_'] = true
	rest = start
	for c := '0'; c <= '9'; c++ {
		rest[c] = true
	}
	rest['.'], rest['-'] = true, true
	return start, rest
}()

const fastRoot = "ticket_info"

// decodeTicketInfoFast decodes the plain subset of XML that SecureChange sends. ok=false means
// "not sure": the caller must then run the full decoder, which also produces every error.
func decodeTicketInfoFast(b []byte) (info TicketInfo, ok bool) {
	n := len(b)
	i := fastSpace(b, 0)
	if hasPrefixString(b[i:], "<?xml") {
		if i, ok = fastDecl(b, i); !ok {
			return TicketInfo{}, false
		}
		i = fastSpace(b, i)
	}
	if !hasPrefixString(b[i:], "<"+fastRoot) {
		return TicketInfo{}, false
	}
	rootLo := i + 1
	i = fastSpace(b, rootLo+len(fastRoot))
	if i >= n || b[i] != '>' {
		return TicketInfo{}, false // attributes, a longer name, or <ticket_info/> (no id)
	}
	i++

	t := ticketBuilder{in: b}
	t.openRoot(rootLo, rootLo+len(fastRoot))
	for t.depth > 0 {
		// Text, up to the next '<'.
		s := i
		var refs bool
		if i, refs, ok = fastScanText(b, i); !ok {
			return TicketInfo{}, false
		}
		if i > s && t.inLeaf() {
			if refs {
				fastUnescape(&t.arena, b[s:i])
			} else {
				t.arena.append(b[s:i])
			}
		}

		// A tag: <name>, <name/> or </name>, white space allowed before > or />.
		i++
		if i >= n {
			return TicketInfo{}, false
		}
		closing := b[i] == '/'
		if closing {
			i++
		}
		lo := i
		if i = fastName(b, i); i == lo {
			return TicketInfo{}, false
		}
		hi := i
		i = fastSpace(b, i)
		selfClosing := false
		switch {
		case i < n && b[i] == '>':
			i++
		case !closing && i+1 < n && b[i] == '/' && b[i+1] == '>':
			i += 2
			selfClosing = true
		default:
			return TicketInfo{}, false
		}

		if !closing {
			// Decline too deep a nesting, and an element inside a text element.
			if t.depth == MaxXMLDepth || t.inLeaf() {
				return TicketInfo{}, false
			}
			t.open(lo, hi)
			if !selfClosing {
				continue
			}
		}
		// Close the innermost element.
		if string(b[lo:hi]) != string(t.topName()) {
			return TicketInfo{}, false
		}
		t.close(i)
	}
	if fastSpace(b, i) != n {
		return TicketInfo{}, false
	}
	// When the id is missing or invalid, the full decoder says why.
	if info, err := t.result(); err == nil {
		return info, true
	}
	return TicketInfo{}, false
}

// fastSpace returns the index of the first byte at or after i that is not
// ' ', '\t' or '\n'.
func fastSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n') {
		i++
	}
	return i
}

// fastName returns the end of the name starting at b[i], or i when there is
// none.
func fastName(b []byte, i int) int {
	if i >= len(b) || !fastNameStart[b[i]] {
		return i
	}
	for i++; i < len(b) && fastNameByte[b[i]]; i++ {
	}
	return i
}

func hasPrefixString(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// fastDecl returns the end of the XML declaration starting at b[i]:
//
//	<?xml version="1.0"[ encoding="utf-8"][ standalone="yes"|"no"]?>
//
// with either quote, any case for utf-8 and white space before ?>.
func fastDecl(b []byte, i int) (int, bool) {
	i += len("<?xml")
	var v []byte
	var ok bool
	if j := fastSpace(b, i); j == i {
		return 0, false
	} else {
		i = j
	}
	if i, v, ok = fastPseudoAttr(b, i, "version"); !ok || string(v) != "1.0" {
		return 0, false
	}
	j := fastSpace(b, i)
	if j > i && hasPrefixString(b[j:], "encoding=") {
		if i, v, ok = fastPseudoAttr(b, j, "encoding"); !ok || !bytes.EqualFold(v, []byte("utf-8")) {
			return 0, false
		}
		j = fastSpace(b, i)
	}
	if j > i && hasPrefixString(b[j:], "standalone=") {
		if i, v, ok = fastPseudoAttr(b, j, "standalone"); !ok || string(v) != "yes" && string(v) != "no" {
			return 0, false
		}
		j = fastSpace(b, i)
	}
	if !hasPrefixString(b[j:], "?>") {
		return 0, false
	}
	return j + 2, true
}

// fastPseudoAttr reads name="value" or name='value' at b[i]; the value is
// made of ASCII letters, digits, '.' and '-' only.
func fastPseudoAttr(b []byte, i int, name string) (end int, value []byte, ok bool) {
	if !hasPrefixString(b[i:], name) {
		return 0, nil, false
	}
	i += len(name)
	if i+1 >= len(b) || b[i] != '=' || (b[i+1] != '"' && b[i+1] != '\'') {
		return 0, nil, false
	}
	q := b[i+1]
	i += 2
	lo := i
	for i < len(b) && fastNameByte[b[i]] && b[i] != '_' {
		i++
	}
	if i >= len(b) || b[i] != q {
		return 0, nil, false
	}
	return i + 1, b[lo:i], true
}

// fastScanText scans the text starting at b[i] and returns the index of the
// '<' that ends it, and whether it holds references. ok is false when the text
// is outside the fast subset or the input ends.
func fastScanText(b []byte, i int) (end int, refs, ok bool) {
	for i < len(b) {
		c := b[i]
		if !fastText[c] {
			i++
			continue
		}
		switch {
		case c == '<':
			return i, refs, true
		case c == '&':
			_, size := fastRef(b[i:])
			if size == 0 {
				return 0, false, false
			}
			refs = true
			i += size
		case c == ']':
			// encoding/xml rejects "]]>" outside CDATA.
			if i+2 < len(b) && b[i+1] == ']' && b[i+2] == '>' {
				return 0, false, false
			}
			i++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 || r == 0xFFFE || r == 0xFFFF {
				return 0, false, false
			}
			i += size
		default: // a control character
			return 0, false, false
		}
	}
	return 0, false, false
}

// fastRef decodes the reference at the start of b (b[0] == '&'): one of the
// five predefined entities, or &#N; or &#xH; for an XML character. size is 0
// for anything else.
func fastRef(b []byte) (r rune, size int) {
	if len(b) < 4 {
		return 0, 0
	}
	if b[1] != '#' {
		switch {
		case hasPrefixString(b, "&amp;"):
			return '&', 5
		case hasPrefixString(b, "&lt;"):
			return '<', 4
		case hasPrefixString(b, "&gt;"):
			return '>', 4
		case hasPrefixString(b, "&quot;"):
			return '"', 6
		case hasPrefixString(b, "&apos;"):
			return '\'', 6
		}
		return 0, 0
	}
	i, hex := 2, b[2] == 'x' // encoding/xml takes only a lower-case x
	if hex {
		i = 3
	}
	start := i
	for ; i < len(b); i++ {
		c := b[i]
		var d rune
		switch {
		case '0' <= c && c <= '9':
			d = rune(c - '0')
		case hex && 'a' <= c && c <= 'f':
			d = rune(c-'a') + 10
		case hex && 'A' <= c && c <= 'F':
			d = rune(c-'A') + 10
		default:
			goto done
		}
		if hex {
			r = r*16 + d
		} else {
			r = r*10 + d
		}
		if r > utf8.MaxRune {
			return 0, 0
		}
	}
done:
	if i == start || i >= len(b) || b[i] != ';' || !isXMLChar(r) {
		return 0, 0
	}
	return r, i + 1
}

// isXMLChar reports whether r is in XML's Char production.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// fastUnescape appends text, whose references fastScanText has checked, to
// the arena with the references replaced.
func fastUnescape(a *textArena, text []byte) {
	for {
		k := bytes.IndexByte(text, '&')
		if k < 0 {
			a.append(text)
			return
		}
		a.append(text[:k])
		r, size := fastRef(text[k:])
		a.appendRune(r)
		text = text[k+size:]
	}
}
