package events

import (
	"bytes"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A scanner over JSON already known to be valid (json.Valid): it finds the
// members of objects and the elements of arrays by skipping values, without
// checking them again, so that DecodeTicket validates its input once and
// then reads each level without rescanning it with encoding/json.
//
// Every function takes b, the valid JSON text, and an index into it. They
// do not check bounds beyond what valid JSON guarantees; given invalid JSON
// they may panic.

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipJSONSpace returns the index of the first byte at or after i that is
// not JSON white space.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// skipJSONString returns the index just past the string starting at b[i],
// a '"', and whether the string has a backslash escape.
func skipJSONString(b []byte, i int) (int, bool) {
	escaped := false
	for i++; ; i++ {
		switch b[i] {
		case '"':
			return i + 1, escaped
		case '\\':
			escaped = true
			i++
		}
	}
}

// skipJSONValue returns the index just past the value starting at b[i].
func skipJSONValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		end, _ := skipJSONString(b, i)
		return end
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			case '"':
				i, _ = skipJSONString(b, i)
				i--
			}
		}
	}
	// A number or a literal.
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// firstJSONItem returns the index of the first member (its key) or element
// of the object or array starting at b[i], or -1 if it is empty.
func firstJSONItem(b []byte, i int) int {
	i = skipJSONSpace(b, i+1)
	if b[i] == '}' || b[i] == ']' {
		return -1
	}
	return i
}

// nextJSONItem returns the index of the member or element after the one
// that ends at end (just past its value), or -1 if it was the last.
func nextJSONItem(b []byte, end int) int {
	i := skipJSONSpace(b, end)
	if b[i] != ',' {
		return -1
	}
	return skipJSONSpace(b, i+1)
}

// jsonMemberValue returns the index of the value of the member whose key
// ends at keyEnd (just past its closing quote).
func jsonMemberValue(b []byte, keyEnd int) int {
	i := skipJSONSpace(b, keyEnd) // at ':'
	return skipJSONSpace(b, i+1)
}

// lastJSONMember returns the value of the last member named key of obj, a
// valid JSON object starting at obj[0], and whether there is one.
func lastJSONMember(obj []byte, key string) ([]byte, bool) {
	var val []byte
	found := false
	for i := firstJSONItem(obj, 0); i >= 0; {
		keyEnd, escaped := skipJSONString(obj, i)
		vs := jsonMemberValue(obj, keyEnd)
		ve := skipJSONValue(obj, vs)
		if jsonKeyIs(obj[i+1:keyEnd-1], escaped, key) {
			val, found = obj[vs:ve], true
		}
		i = nextJSONItem(obj, ve)
	}
	return val, found
}

// jsonKeyIs reports whether the key whose text between the quotes is k
// (escaped: with a backslash escape) is key once unescaped.
func jsonKeyIs(k []byte, escaped bool, key string) bool {
	if !escaped {
		return string(k) == key
	}
	return string(unquoteJSONString(k)) == key
}

// unquoteJSONString returns the text of the string whose text between the
// quotes is s, unescaped and with invalid UTF-8 replaced by U+FFFD, exactly
// as encoding/json decodes it into a Go string. s must come from valid JSON.
func unquoteJSONString(s []byte) []byte {
	b := make([]byte, 0, len(s)+utf8.UTFMax)
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			r++
			switch s[r] {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := jsonHex4(s[r-1:])
				r += 5
				if utf16.IsSurrogate(rr) {
					rr1 := jsonHex4(s[r:])
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						// A valid pair: consume the second escape.
						b = utf8.AppendRune(b, dec)
						r += 6
						continue
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default: // '"', '\\', '/'
				b = append(b, s[r])
			}
			r++
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			b = utf8.AppendRune(b, rr)
			r += size
		}
	}
	return b
}

// jsonHex4 decodes the \uXXXX escape at the start of s, -1 if there is none.
func jsonHex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// plainJSONString reports whether the string whose text between the quotes
// is s decodes to s itself: no escapes and valid UTF-8.
func plainJSONString(s []byte) bool {
	for i, c := range s {
		if c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			return bytes.IndexByte(s[i:], '\\') < 0 && utf8.Valid(s[i:])
		}
	}
	return true
}
