package wfi

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
)

// MaxOutput bounds what one Render may produce, in bytes.
const MaxOutput = 16 << 20

// outFunc is the function appended to every printing action: it escapes
// what the action prints (see rawString).
const outFunc = "_wfiOut"

// rawString is a value printed as it is: the result of raw, of an escaping
// function for the template's own mode (json in a JSON template, html in an
// HTML one, urlquery in a URL one), or of upper/lower/trim/default on such
// a value. Every other printed value is escaped for the template's mode.
type rawString string

// Template is a parsed template; parse once at start-up (config check) and
// render per operation. It is safe for concurrent use.
type Template struct {
	name  string
	esc   Escape
	tt    *template.Template // never executed itself: renders use clones from pool
	empty bool               // nothing to print (empty text, or only {{define}}s)
	names []string
	// needed are the names of names that ph or raw print (every #name# is one): a
	// render fails without their value. has only tests a name, field reads a field.
	needed []string
	pool   sync.Pool // *binding
}

// binding is a clone of a Template's text/template whose placeholder
// functions resolve through r; a binding serves one render at a time.
type binding struct {
	tt *template.Template
	r  *resolver
}

// Parse parses a template: WFI #placeholders# and Go template actions.
// Syntax errors name the template and the line.
func Parse(name, text string, esc Escape) (*Template, error) {
	t, err := parseTemplate(name, text, esc)
	if err != nil {
		return nil, newTemplateError("template "+strconv.Quote(name)+": "+err.msg, err.cause)
	}
	return t, nil
}

// Render parses text and renders it with d.
func Render(name, text string, d *Data, esc Escape) ([]byte, error) {
	t, err := Parse(name, text, esc)
	if err != nil {
		return nil, err
	}
	return t.Render(d)
}

// Name returns the template's name.
func (t *Template) Name() string { return t.name }

// Escape returns the template's escape mode.
func (t *Template) Escape() Escape { return t.esc }

// Placeholders returns every placeholder the template refers to, in order
// of first use, once each: its #name#s and the literal names given to ph,
// raw, has and field (so itsm-sync knows, e.g., that it needs
// correlation.sys_id). Names computed at render time are not known, nor
// the names custom placeholders use in turn. The slice is a fresh copy.
func (t *Template) Placeholders() []string {
	return append([]string(nil), t.names...)
}

// AllPlaceholders is Placeholders plus, transitively, the placeholders of
// the custom placeholders it uses (custom: name -> template, as in
// Data.Custom), each once, in order of first use. A custom template that
// does not parse adds nothing (Render reports it); cycles end.
func (t *Template) AllPlaceholders(custom map[string]string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(names []string)
	walk = func(names []string) {
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			out = append(out, n)
			if text, ok := custom[n]; ok {
				if ct, err := customTemplate(n, text); err == nil {
					walk(ct.names)
				}
			}
		}
	}
	walk(t.names)
	return out
}

// Render renders the template with d (nil: an empty Data).
func (t *Template) Render(d *Data) ([]byte, error) {
	if d == nil {
		d = &Data{}
	}
	return t.render(&resolver{d: d, tmpl: t.name})
}

type parseError struct {
	msg   string // without the template's name
	cause error
}

func (e *parseError) Error() string { return e.msg }
func (e *parseError) Unwrap() error { return e.cause }

func parseTemplate(name, text string, esc Escape) (*Template, *parseError) {
	if !esc.valid() {
		return nil, &parseError{msg: "unknown escape mode " + esc.String()}
	}
	sc := prescan(text)
	t := &Template{name: name, esc: esc}
	tt := template.New(name).Option("missingkey=error").Funcs(t.staticFuncs()).Funcs((&binding{}).funcs())
	if _, err := tt.Parse(sc.text); err != nil {
		return nil, &parseError{msg: cleanMessage(name, err), cause: err}
	}
	seen, seenNeeded := map[string]bool{}, map[string]bool{}
	add := func(fn, n string) {
		if !seen[n] {
			seen[n] = true
			t.names = append(t.names, n)
		}
		if (fn == "ph" || fn == "raw") && !seenNeeded[n] {
			seenNeeded[n] = true
			t.needed = append(t.needed, n)
		}
	}
	// The main template first, so names come in the order of the text.
	if tt.Tree != nil {
		collect(tt.Tree.Root, add)
	}
	for _, x := range tt.Templates() {
		if x.Tree == nil {
			continue
		}
		if x != tt {
			collect(x.Tree.Root, add)
		}
		rewrite(x.Tree.Root, sc.lits)
	}
	t.tt = tt
	t.empty = tt.Tree == nil
	t.pool.New = func() any {
		b := &binding{}
		clone, err := t.tt.Clone()
		if err != nil { // Clone never fails after Parse; keep the original then
			clone = t.tt
		}
		b.tt = clone.Funcs(b.funcs())
		return b
	}
	return t, nil
}

// cleanMessage turns a text/template error ("template: NAME:LINE: msg")
// into "line LINE: msg".
func cleanMessage(name string, err error) string {
	msg := strings.TrimPrefix(err.Error(), "template: ")
	if rest, ok := strings.CutPrefix(msg, name+":"); ok {
		return "line " + rest
	}
	return msg
}

var errTooLarge = errors.New("output too large")

// limitedBuffer is a bytes.Buffer that refuses to grow past MaxOutput.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxOutput {
		return 0, errTooLarge
	}
	return b.Buffer.Write(p)
}

func (t *Template) render(r *resolver) ([]byte, error) {
	if t.empty {
		return []byte{}, nil
	}
	b := t.pool.Get().(*binding)
	b.r = r
	var out limitedBuffer
	err := b.tt.Execute(&out, r.d.view())
	b.r = nil
	t.pool.Put(b)
	if err != nil {
		return nil, t.execError(r, err)
	}
	return out.Bytes(), nil
}

// execError returns the error of a failed render: a missing placeholder or
// an error from a custom placeholder as it is, anything else named after
// the template.
func (t *Template) execError(r *resolver, err error) error {
	var me *MissingError
	if errors.As(err, &me) {
		return me
	}
	var te *templateError
	if errors.As(err, &te) {
		return te
	}
	if errors.Is(err, errTooLarge) {
		return newTemplateError(fmt.Sprintf("%s: output exceeds %d bytes", r.prefix(), MaxOutput), err)
	}
	return newTemplateError(r.prefix()+": "+cleanMessage(t.tt.Name(), err), err)
}

// rewrite appends outFunc to every action that prints, except the literal
// '{' actions of the pre-scan (positions in lits), so that every printed
// value is escaped unless it is a rawString.
func rewrite(n parse.Node, lits map[int]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			rewrite(c, lits)
		}
	case *parse.ActionNode:
		if len(n.Pipe.Decl) > 0 || lits[int(n.Pos)] {
			return // an assignment prints nothing
		}
		n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{
			NodeType: parse.NodeCommand,
			Pos:      n.Pos,
			Args:     []parse.Node{parse.NewIdentifier(outFunc).SetPos(n.Pos)},
		})
	case *parse.IfNode:
		rewrite(n.List, lits)
		rewrite(n.ElseList, lits)
	case *parse.RangeNode:
		rewrite(n.List, lits)
		rewrite(n.ElseList, lits)
	case *parse.WithNode:
		rewrite(n.List, lits)
		rewrite(n.ElseList, lits)
	}
}

// placeholderFuncs are the functions whose first argument names a placeholder.
var placeholderFuncs = map[string]bool{"ph": true, "raw": true, "has": true, "field": true}

// collect calls add for each literal name given to a placeholder function.
func collect(n parse.Node, add func(fn, name string)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			collect(c, add)
		}
	case *parse.ActionNode:
		collect(n.Pipe, add)
	case *parse.IfNode:
		collectBranch(&n.BranchNode, add)
	case *parse.RangeNode:
		collectBranch(&n.BranchNode, add)
	case *parse.WithNode:
		collectBranch(&n.BranchNode, add)
	case *parse.TemplateNode:
		if n.Pipe != nil {
			collect(n.Pipe, add)
		}
	case *parse.ChainNode:
		collect(n.Node, add)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for i, cmd := range n.Cmds {
			if len(cmd.Args) >= 2 && isPlaceholderFunc(cmd.Args[0]) {
				if s, ok := cmd.Args[1].(*parse.StringNode); ok {
					add(cmd.Args[0].String(), s.Text)
				}
			}
			// "name" | ph
			if i > 0 && len(cmd.Args) == 1 && isPlaceholderFunc(cmd.Args[0]) {
				if prev := n.Cmds[i-1]; len(prev.Args) == 1 {
					if s, ok := prev.Args[0].(*parse.StringNode); ok {
						add(cmd.Args[0].String(), s.Text)
					}
				}
			}
			for _, a := range cmd.Args {
				collect(a, add)
			}
		}
	}
}

func collectBranch(b *parse.BranchNode, add func(fn, name string)) {
	collect(b.Pipe, add)
	collect(b.List, add)
	collect(b.ElseList, add)
}

func isPlaceholderFunc(n parse.Node) bool {
	id, ok := n.(*parse.IdentifierNode)
	return ok && placeholderFuncs[id.Ident]
}
