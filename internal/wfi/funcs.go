package wfi

import (
	"errors"
	"fmt"
	"html"
	"net/url"
	"reflect"
	"strings"
	"text/template"
)

// funcs are the placeholder functions of a binding; they resolve through
// the binding's current resolver.
//
//	ph "name"     the placeholder's value (escaped when printed); a MissingError if it has none
//	raw "name"    the value, printed unescaped
//	has "name"    whether the placeholder has a value (an error only for a custom placeholder cycle)
//	field "Name"  a ticket field's value, by name (no predefined or custom placeholder)
func (b *binding) funcs() template.FuncMap {
	return template.FuncMap{
		"ph": func(name any) (string, error) {
			return b.r.value(toString(name))
		},
		"raw": func(name any) (rawString, error) {
			v, err := b.r.value(toString(name))
			return rawString(v), err
		},
		"has": func(name any) (bool, error) {
			_, ok, err := b.r.resolve(toString(name))
			var me *MissingError
			if errors.As(err, &me) {
				return false, nil // a custom placeholder using a missing one has no value
			}
			return ok, err
		},
		"field": func(name any) (string, error) {
			return b.r.field(toString(name))
		},
	}
}

// value resolves name or says why it has no value.
func (r *resolver) value(name string) (string, error) {
	v, ok, err := r.resolve(name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", r.missing(name)
	}
	return v, nil
}

func (r *resolver) field(name string) (string, error) {
	if r.d.Ticket == nil {
		e := r.missing(name)
		e.Reason = "field: the trigger was not enriched, so ticket fields are unknown"
		return "", e
	}
	f, ok := findField(r.d.Ticket, name)
	if !ok {
		e := r.missing(name)
		e.Reason = "field: the ticket has no field of that name"
		return "", e
	}
	return f.Value(), nil
}

// staticFuncs are the functions that depend only on the template's escape
// mode.
//
//	json v          v as the content of a JSON string (printed as is in a JSON template)
//	html v          v HTML-escaped (printed as is in an HTML template)
//	urlquery v      v query-escaped (printed as is in a URL template)
//	default d v     v, or d when v is empty
//	join sep list   the elements of list joined by sep
//	upper, lower, trim
func (t *Template) staticFuncs() template.FuncMap {
	esc := t.esc
	// mine marks the result of the escaping function of mode m: printed as
	// is when m is the template's own mode, escaped again otherwise (a JSON
	// snippet in an HTML email is JSON-escaped, then HTML-escaped).
	mine := func(m Escape, s string) any {
		if m == esc {
			return rawString(s)
		}
		return s
	}
	return template.FuncMap{
		outFunc: func(v any) string {
			switch x := v.(type) {
			case rawString:
				return string(x)
			case string:
				return esc.apply(x)
			}
			return esc.apply(toString(v))
		},
		"json": func(args ...any) any {
			return mine(EscapeJSON, string(appendJSON(nil, joinArgs(args))))
		},
		"html": func(args ...any) any {
			return mine(EscapeHTML, html.EscapeString(joinArgs(args)))
		},
		"urlquery": func(args ...any) any {
			return mine(EscapeURL, url.QueryEscape(joinArgs(args)))
		},
		"default": func(def any, v ...any) any {
			if len(v) == 0 || isEmpty(v[len(v)-1]) {
				return def
			}
			return v[len(v)-1]
		},
		"join": func(sep any, list any) string {
			return strings.Join(toStrings(list), toString(sep))
		},
		"upper": keepRaw(strings.ToUpper),
		"lower": keepRaw(strings.ToLower),
		"trim":  keepRaw(strings.TrimSpace),
	}
}

// keepRaw lifts a string function to any, keeping a rawString raw.
func keepRaw(f func(string) string) func(v any) any {
	return func(v any) any {
		if r, ok := v.(rawString); ok {
			return rawString(f(string(r)))
		}
		return f(toString(v))
	}
}

// toString prints v as text/template would, except that nil (and a nil
// pointer) is "" rather than "<no value>".
func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case rawString:
		return string(x)
	case fmt.Stringer:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return ""
		}
		return x.String()
	case error:
		return x.Error()
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return ""
		}
		rv = rv.Elem()
	}
	return fmt.Sprint(rv.Interface())
}

func joinArgs(args []any) string {
	if len(args) == 1 {
		return toString(args[0])
	}
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = toString(a)
	}
	return strings.Join(parts, " ")
}

// toStrings returns the elements of a slice or array as text; any other
// value is a list of one.
func toStrings(list any) []string {
	rv := reflect.ValueOf(list)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]string, rv.Len())
		for i := range out {
			out[i] = toString(rv.Index(i).Interface())
		}
		return out
	case reflect.Invalid:
		return nil
	}
	return []string{toString(rv.Interface())}
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	case reflect.Bool:
		return !rv.Bool()
	}
	return rv.IsZero()
}
