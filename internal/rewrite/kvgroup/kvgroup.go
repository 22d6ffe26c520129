package kvgroup

import "fmt"

// MaxDepth is the deepest nesting of groups Parse accepts and Write produces: the
// entries of Document.Root are at depth 0, those inside one `{` at depth 1, and so on, so
// at most MaxDepth `{` may be open at once.
const MaxDepth = 256

// A Group is an ordered list of entries: repeated keys are kept, in order.
type Group struct {
	Entries []Entry
}

// Entry is either a pair (Group == nil) or a nested group (Group != nil, with its Name:
// the second quoted token, often ""). A pair has no Name; a group has no Value.
type Entry struct {
	Key   string
	Value string
	Name  string
	Group *Group
}

// A Document is a whole KVGroup text: its header version and its top-level entries.
type Document struct {
	// Version is "1.0" or "1.1" from the `# KVGROUP-V1.x` header, or "" when there is none.
	Version string
	// Root holds the top-level entries. Plugin input and output wrap everything in a single
	// `"" "" = { … }` entry; use Root.Sub("") to reach its contents.
	Root Group
}

// SyntaxError reports input that is not KVGroup, at a 1-based line and column; the column
// counts bytes from the start of the line.
type SyntaxError struct {
	Line, Column int
	Msg          string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("kvgroup: line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Get returns the value of the first pair with key. Groups with that key are skipped. A nil
// Group has no entries, so lookups can be chained through Sub.
func (g *Group) Get(key string) (string, bool) {
	if g == nil {
		return "", false
	}
	for i := range g.Entries {
		if e := &g.Entries[i]; e.Group == nil && e.Key == key {
			return e.Value, true
		}
	}
	return "", false
}

// All returns every entry with key, pairs and groups alike, in order (nil if none). The
// entries are copies, but their Group pointers are shared with g.
func (g *Group) All(key string) []Entry {
	if g == nil {
		return nil
	}
	var out []Entry
	for _, e := range g.Entries {
		if e.Key == key {
			out = append(out, e)
		}
	}
	return out
}

// Sub returns the first nested group with key, whatever its name, or nil if there is none.
func (g *Group) Sub(key string) *Group {
	if g == nil {
		return nil
	}
	for _, e := range g.Entries {
		if e.Group != nil && e.Key == key {
			return e.Group
		}
	}
	return nil
}

// Set replaces the value of the first pair with key, or appends the pair if there is none.
// Later pairs with the same key are left alone.
func (g *Group) Set(key, value string) {
	for i := range g.Entries {
		if e := &g.Entries[i]; e.Group == nil && e.Key == key {
			e.Value = value
			return
		}
	}
	g.Entries = append(g.Entries, Entry{Key: key, Value: value})
}

// Add appends e.
func (g *Group) Add(e Entry) {
	g.Entries = append(g.Entries, e)
}
