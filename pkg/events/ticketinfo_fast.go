package events

import (
	"bytes"
	"time"
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

type fastFrame struct {
	lo, hi int // the element's name is input[lo:hi]
	kind   elemKind
	field  uint8 // kLeaf: the field
	stage  uint8 // kStage: the stage
	start  int   // kLeaf: arena offset of its text; kExtra: input offset of its '<'
}

type fastExtra struct {
	span
	nameLen int // the name is the XML's bytes [1, 1+nameLen)
}

// fastResult holds in one allocation what the pointers of a TicketInfo point
// to.
type fastResult struct {
	times  [2]time.Time
	stages [nStages]Stage
}

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

	var (
		stack     [MaxXMLDepth]fastFrame
		depth     = 1
		arenaBuf  [512]byte
		arena     = arenaBuf[:0] // the text of all fields and extras
		fields    [nFields]span
		seen      [nFields]bool
		stageSeen [nStages]bool
		extraBuf  [8]fastExtra
		extras    = extraBuf[:0]
	)
	stack[0] = fastFrame{lo: rootLo, hi: rootLo + len(fastRoot), kind: kRoot}
	for depth > 0 {
		// Text, up to the next '<'.
		s := i
		var refs bool
		if i, refs, ok = fastScanText(b, i); !ok {
			return TicketInfo{}, false
		}
		if stack[depth-1].kind == kLeaf && i > s {
			if refs {
				arena = fastUnescape(arena, b[s:i])
			} else {
				arena = append(arena, b[s:i]...)
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
		name := b[lo:hi]
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
			// Open the element, classifying it as the full decoder does.
			if depth == MaxXMLDepth {
				return TicketInfo{}, false
			}
			parent := &stack[depth-1]
			f := fastFrame{lo: lo, hi: hi, kind: kIgnore}
			switch parent.kind {
			case kLeaf:
				return TicketInfo{}, false // an element inside a text element
			case kRoot:
				switch string(name) {
				case "id":
					f.kind, f.field = kLeaf, fID
				case "subject":
					f.kind, f.field = kLeaf, fSubject
				case "createDate":
					f.kind, f.field = kLeaf, fCreateDate
				case "updateDate":
					f.kind, f.field = kLeaf, fUpdateDate
				case "current_stage":
					f.kind, f.stage = kStage, stageCurrent
				case "open_request_stage":
					f.kind, f.stage = kStage, stageOpenRequest
				case "completion_data":
					f.kind = kCompletion
					// The last <completion_data> wins, even without a <stage>.
					stageSeen[stageCompletion] = false
				default:
					f.kind, f.start = kExtra, lo-1
				}
			case kCompletion:
				if string(name) == "stage" {
					f.kind, f.stage = kStage, stageCompletion
				}
			case kStage:
				switch string(name) {
				case "id":
					f.kind, f.field = kLeaf, uint8(fStageID+2*int(parent.stage))
				case "name":
					f.kind, f.field = kLeaf, uint8(fStageName+2*int(parent.stage))
				}
			}
			switch f.kind {
			case kLeaf:
				f.start = len(arena)
			case kStage:
				// The last stage element wins as a whole.
				stageSeen[f.stage] = true
				fields[fStageID+2*int(f.stage)] = span{}
				fields[fStageName+2*int(f.stage)] = span{}
				seen[fStageID+2*int(f.stage)] = false
				seen[fStageName+2*int(f.stage)] = false
			}
			stack[depth] = f
			depth++
			if !selfClosing {
				continue
			}
		}

		// Close the innermost element.
		f := &stack[depth-1]
		if string(name) != string(b[f.lo:f.hi]) {
			return TicketInfo{}, false
		}
		switch f.kind {
		case kLeaf:
			// Keep only the trimmed text in the arena.
			t := bytes.TrimSpace(arena[f.start:])
			c := copy(arena[f.start:], t)
			arena = arena[:f.start+c]
			fields[f.field] = span{f.start, f.start + c}
			seen[f.field] = true
		case kExtra:
			alo := len(arena)
			arena = append(arena, b[f.start:i]...)
			extras = append(extras, fastExtra{span: span{alo, len(arena)}, nameLen: f.hi - f.lo})
		}
		depth--
	}
	if fastSpace(b, i) != n {
		return TicketInfo{}, false
	}

	// The id: when it is missing or invalid, the full decoder says why.
	if !seen[fID] {
		return TicketInfo{}, false
	}
	id := arena[fields[fID].lo:fields[fID].hi]
	if len(id) == 0 || !isTicketNumber(id) {
		return TicketInfo{}, false
	}

	// All strings share one allocation, all pointers another.
	text := string(arena)
	field := func(i int) string { return text[fields[i].lo:fields[i].hi] }
	info = TicketInfo{
		ID:         field(fID),
		Subject:    field(fSubject),
		CreateDate: field(fCreateDate),
		UpdateDate: field(fUpdateDate),
	}
	created, cok := epochMillis(info.CreateDate)
	updated, uok := epochMillis(info.UpdateDate)
	anyStage := stageSeen[stageCurrent] || stageSeen[stageCompletion] || stageSeen[stageOpenRequest]
	if cok || uok || anyStage {
		r := new(fastResult)
		if cok {
			r.times[0] = created
			info.CreatedAt = &r.times[0]
		}
		if uok {
			r.times[1] = updated
			info.UpdatedAt = &r.times[1]
		}
		for s := range nStages {
			if stageSeen[s] {
				r.stages[s] = Stage{ID: field(fStageID + 2*s), Name: field(fStageName + 2*s)}
			}
		}
		if stageSeen[stageCurrent] {
			info.CurrentStage = &r.stages[stageCurrent]
		}
		if stageSeen[stageCompletion] {
			info.CompletionStage = &r.stages[stageCompletion]
		}
		if stageSeen[stageOpenRequest] {
			info.OpenRequestStage = &r.stages[stageOpenRequest]
		}
	}
	if len(extras) > 0 {
		info.Extra = make([]RawElement, len(extras))
		for k, e := range extras {
			x := text[e.lo:e.hi]
			info.Extra[k] = RawElement{Name: x[1 : 1+e.nameLen], XML: x}
		}
	}
	return info, true
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
// dst with the references replaced.
func fastUnescape(dst, text []byte) []byte {
	for {
		k := bytes.IndexByte(text, '&')
		if k < 0 {
			return append(dst, text...)
		}
		dst = append(dst, text[:k]...)
		r, size := fastRef(text[k:])
		dst = utf8.AppendRune(dst, r)
		text = text[k+size:]
	}
}
