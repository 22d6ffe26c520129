package kvgroup

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Write writes d in canonical form (see the package documentation). Nothing is written if
// d cannot be represented: a Version other than "", "1.0" and "1.1", a key, name or value
// that is not valid UTF-8, a pair with a Name, a group with a Value, or groups nested
// deeper than MaxDepth (a cycle of Group pointers included). Everything Write accepts,
// Parse reads back equal, except that a group with an empty non-nil Entries slice comes
// back with nil Entries.
func (d *Document) Write(w io.Writer) error {
	b, err := d.Marshal()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Marshal returns d in canonical form; see Write.
func (d *Document) Marshal() ([]byte, error) {
	if d == nil {
		return nil, errors.New("kvgroup: Marshal of nil *Document")
	}
	var b []byte
	switch d.Version {
	case "":
	case "1.0", "1.1":
		b = append(b, "# KVGROUP-V"+d.Version+"\n"...)
	default:
		return nil, fmt.Errorf("kvgroup: cannot write version %q: want \"\", \"1.0\" or \"1.1\"", d.Version)
	}
	return appendGroup(b, &d.Root, 0)
}

func appendGroup(b []byte, g *Group, depth int) ([]byte, error) {
	var err error
	for i := range g.Entries {
		e := &g.Entries[i]
		for range depth {
			b = append(b, "  "...)
		}
		if b, err = appendQuoted(b, e.Key); err != nil {
			return nil, err
		}
		if e.Group == nil {
			if e.Name != "" {
				return nil, fmt.Errorf("kvgroup: pair %q has a Name (%q): only groups are named", e.Key, e.Name)
			}
			b = append(b, " = "...)
			if b, err = appendQuoted(b, e.Value); err != nil {
				return nil, err
			}
			b = append(b, '\n')
			continue
		}
		if e.Value != "" {
			return nil, fmt.Errorf("kvgroup: group %q has a Value (%q): only pairs have values", e.Key, e.Value)
		}
		if depth+1 > MaxDepth {
			return nil, fmt.Errorf("kvgroup: groups nested deeper than %d levels (or a cycle)", MaxDepth)
		}
		b = append(b, ' ')
		if b, err = appendQuoted(b, e.Name); err != nil {
			return nil, err
		}
		if len(e.Group.Entries) == 0 {
			b = append(b, " = {}\n"...)
			continue
		}
		b = append(b, " = {\n"...)
		if b, err = appendGroup(b, e.Group, depth+1); err != nil {
			return nil, err
		}
		for range depth {
			b = append(b, "  "...)
		}
		b = append(b, "}\n"...)
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

func appendQuoted(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("kvgroup: cannot write %q: not valid UTF-8", s)
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}
