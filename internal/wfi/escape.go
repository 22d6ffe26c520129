package wfi

import (
	"fmt"
	"html"
	"net/url"
	"unicode/utf8"
)

// Escape says how values are escaped where they are pasted.
type Escape int

// Escape modes.
const (
	// EscapeJSON: the content of a JSON string, as encoding/json writes it
	// but without the quotes and without HTML escaping (<, > and & stay).
	EscapeJSON Escape = iota
	// EscapeNone: values as they are (plain-text email, headers).
	EscapeNone
	// EscapeHTML: html.EscapeString (HTML email).
	EscapeHTML
	// EscapeURL: url.PathEscape, for path segments and query values.
	EscapeURL
)

var escapeNames = [...]string{EscapeJSON: "json", EscapeNone: "none", EscapeHTML: "html", EscapeURL: "url"}

// String returns the mode's name as ParseEscape accepts it.
func (e Escape) String() string {
	if e >= 0 && int(e) < len(escapeNames) {
		return escapeNames[e]
	}
	return fmt.Sprintf("Escape(%d)", int(e))
}

// ParseEscape returns the mode named s: "json", "none", "html" or "url".
func ParseEscape(s string) (Escape, error) {
	for i, n := range escapeNames {
		if s == n {
			return Escape(i), nil
		}
	}
	return 0, fmt.Errorf("unknown escape %q (want json, none, html or url)", s)
}

func (e Escape) valid() bool { return e >= 0 && int(e) < len(escapeNames) }

// apply escapes s for the mode.
func (e Escape) apply(s string) string {
	switch e {
	case EscapeJSON:
		if !needsJSONEscape(s) {
			return s
		}
		return string(appendJSON(make([]byte, 0, len(s)+16), s))
	case EscapeHTML:
		return html.EscapeString(s)
	case EscapeURL:
		return url.PathEscape(s)
	}
	return s
}

// needsJSONEscape reports whether appendJSON would change s.
func needsJSONEscape(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			return true
		}
		i += size
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendJSON appends s as the content of a JSON string, exactly as
// encoding/json encodes it with SetEscapeHTML(false), minus the quotes:
// '"' and '\\' backslashed, \b \f \n \r \t short, other control characters as
// \u00XX, U+2028 and U+2029 as \u2028 and \u2029, invalid UTF-8 as \ufffd.
func appendJSON(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
