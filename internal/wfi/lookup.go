package wfi

import (
	"bytes"
	"encoding/xml"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tidwall/gjson"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// Namespace prefixes.
const (
	prefixCorrelation = "correlation."
	prefixResult      = "result."
	prefixAttr        = "attr."
	prefixTrigger     = "trigger."
	prefixCallback    = "callback."
)

// Lookup resolves one placeholder name as WFI does: custom placeholders
// first (rendered unescaped), then predefined WFI placeholders, then ticket
// field names (the current task's fields first, then any step's latest
// value), and last the prefixed namespaces correlation., result., attr. and
// trigger. It reports false for a name that resolves to nothing, and for a
// custom placeholder whose template fails (a cycle, a missing placeholder):
// Render reports those errors.
func (d *Data) Lookup(name string) (string, bool) {
	r := resolver{d: d}
	v, ok, err := r.resolve(name)
	if err != nil {
		return "", false
	}
	return v, ok
}

// resolver resolves placeholders for one render; stack holds the custom
// placeholders being rendered, outermost first, to detect cycles.
type resolver struct {
	d     *Data
	tmpl  string // the outermost template, for errors
	stack []string
}

func (r *resolver) resolve(name string) (string, bool, error) {
	d := r.d
	if text, ok := d.Custom[name]; ok {
		// Inside its own template (#ticket_subject# in a custom ticket_subject), a
		// custom placeholder's name is what it overrides, if that has a value.
		if !slices.Contains(r.stack, name) {
			v, err := r.custom(name, text)
			return v, err == nil, err
		}
		if v, ok := d.builtin(name); ok {
			return v, true, nil
		}
		_, err := r.custom(name, text) // the cycle error
		return "", false, err
	}
	if v, ok := d.builtin(name); ok {
		return v, true, nil
	}
	switch {
	case strings.HasPrefix(name, prefixCorrelation):
		v, ok := d.Correlation[name[len(prefixCorrelation):]]
		return v, ok, nil
	case strings.HasPrefix(name, prefixAttr):
		v, ok := d.Attrs[name[len(prefixAttr):]]
		return v, ok, nil
	case strings.HasPrefix(name, prefixResult):
		v, ok := d.result(name[len(prefixResult):])
		return v, ok, nil
	case strings.HasPrefix(name, prefixTrigger):
		v, ok := d.trigger(name[len(prefixTrigger):])
		return v, ok, nil
	case strings.HasPrefix(name, prefixCallback):
		v, ok := JSONPath(d.Callback, name[len(prefixCallback):], "")
		return v, ok, nil
	}
	return "", false, nil
}

// builtin resolves a name that is not a custom placeholder, nor a namespace:
// a predefined placeholder with a value here, else a ticket field.
func (d *Data) builtin(name string) (string, bool) {
	if p, ok := predefinedIndex[name]; ok {
		if v, ok := p.value(d); ok {
			return v, true
		}
	}
	if d.Ticket != nil {
		if f, ok := findField(d.Ticket, name); ok {
			return f.Value(), true
		}
	}
	return "", false
}

// custom renders a custom placeholder's template, unescaped: its value is
// escaped once, where it is pasted.
func (r *resolver) custom(name, text string) (string, error) {
	for i, s := range r.stack {
		if s == name {
			cycle := append(append([]string(nil), r.stack[i:]...), name)
			return "", newTemplateError("template "+strconv.Quote(r.tmpl)+": custom placeholder cycle #"+strings.Join(cycle, "# -> #")+"#", ErrCycle)
		}
	}
	inner := &resolver{d: r.d, tmpl: r.tmpl, stack: append(append([]string(nil), r.stack...), name)}
	if inner.tmpl == "" {
		inner.tmpl = "custom placeholder " + name
	}
	t, err := customTemplate(name, text)
	if err != nil {
		return "", newTemplateError(inner.prefix()+": "+err.msg, err)
	}
	out, err2 := t.render(inner)
	if err2 != nil {
		return "", err2
	}
	return string(out), nil
}

// customCache keeps parsed custom placeholder templates: custom
// placeholders come from config, a small set rendered again and again.
var customCache struct {
	sync.Mutex
	m map[[2]string]*Template
}

const customCacheMax = 1024

func customTemplate(name, text string) (*Template, *parseError) {
	key := [2]string{name, text}
	customCache.Lock()
	t := customCache.m[key]
	customCache.Unlock()
	if t != nil {
		return t, nil
	}
	t, err := parseTemplate("#"+name+"#", text, EscapeNone)
	if err != nil {
		return nil, err
	}
	customCache.Lock()
	if customCache.m == nil {
		customCache.m = make(map[[2]string]*Template)
	}
	if len(customCache.m) < customCacheMax {
		customCache.m[key] = t
	}
	customCache.Unlock()
	return t, nil
}

// prefix starts an error message: template "x", then the custom
// placeholders being rendered.
func (r *resolver) prefix() string {
	var b strings.Builder
	b.WriteString("template ")
	b.WriteString(strconv.Quote(r.tmpl))
	for _, s := range r.stack {
		b.WriteString(": custom placeholder #")
		b.WriteString(s)
		b.WriteString("#")
	}
	return b.String()
}

// missing builds the error for a name that resolves to nothing.
func (r *resolver) missing(name string) *MissingError {
	e := &MissingError{Template: r.tmpl, Name: name, Reason: r.d.missingReason(name)}
	if len(r.stack) > 0 {
		e.Via = append([]string(nil), r.stack...)
	}
	return e
}

func (d *Data) missingReason(name string) string {
	if p, ok := predefinedIndex[name]; ok {
		if p.needsTicket && d.Ticket == nil {
			return "a predefined placeholder that needs the enriched ticket, and the trigger was not enriched"
		}
		return "a predefined placeholder that has no value for this trigger"
	}
	switch {
	case strings.HasPrefix(name, prefixCorrelation):
		return "no correlation value " + strconv.Quote(name[len(prefixCorrelation):]) + " is stored for this ticket and server"
	case strings.HasPrefix(name, prefixAttr):
		return "the operation has no attr " + strconv.Quote(name[len(prefixAttr):])
	case strings.HasPrefix(name, prefixResult):
		if len(d.Result) == 0 {
			return "there is no response body to map"
		}
		if !gjson.ValidBytes(d.Result) {
			return "the response body is not JSON"
		}
		return "the response has nothing at " + strconv.Quote(name[len(prefixResult):])
	case strings.HasPrefix(name, prefixTrigger):
		return "the trigger has no " + strconv.Quote(name[len(prefixTrigger):])
	case strings.HasPrefix(name, prefixCallback):
		if len(d.Callback) == 0 {
			return "there is no ITSM callback: callback.<path> has a value in inbound routes only"
		}
		return "the callback has nothing at " + strconv.Quote(name[len(prefixCallback):])
	}
	if d.Ticket == nil {
		return defaultMissingReason + "; the trigger was not enriched, so ticket fields are unknown"
	}
	return ""
}

// result reads a gjson path of the response body: a string as is, null as
// "", anything else as its JSON text. A path not found at the top of the
// body is also looked up under a top-level "result" (ServiceNow's wrapper:
// #result.sys_id# reads {"result": {"sys_id": …}}, #result.0.number#
// reads {"result": [{"number": …}]}).
func (d *Data) result(path string) (string, bool) { return JSONPath(d.Result, path, "result") }

// JSONPath reads a gjson path of a JSON body the way templates do (#result.…#,
// #callback.…#) and inbound routes' path(): a string as is, null as "", anything else as
// its JSON text; ok false when the path is absent. With a wrapper, a path not found at
// the top is also looked up under that top-level key.
func JSONPath(body []byte, path, wrapper string) (string, bool) {
	if len(body) == 0 || path == "" || !gjson.ValidBytes(body) {
		return "", false
	}
	v := gjson.GetBytes(body, path)
	if !v.Exists() && wrapper != "" && !strings.HasPrefix(path, wrapper+".") {
		v = gjson.GetBytes(body, wrapper+"."+path)
	}
	if !v.Exists() {
		return "", false
	}
	switch v.Type {
	case gjson.String:
		return v.Str, true
	case gjson.Null:
		return "", true
	}
	return v.Raw, true
}

// trigger reads trigger.<key>: the event and the ticket_info XML as stored.
func (d *Data) trigger(key string) (string, bool) {
	e := &d.Trigger
	info := &e.Ticket
	stage := func(s *events.Stage, part string) (string, bool) {
		if s == nil {
			return "", false
		}
		switch part {
		case "", ".name":
			return s.Name, true
		case ".id":
			return s.ID, true
		}
		return "", false
	}
	for _, st := range [...]struct {
		name  string
		stage *events.Stage
	}{{"current_stage", info.CurrentStage}, {"completion_stage", info.CompletionStage}, {"open_request_stage", info.OpenRequestStage}} {
		if rest, ok := strings.CutPrefix(key, st.name); ok && (rest == "" || rest[0] == '.') {
			return stage(st.stage, rest)
		}
	}
	switch key {
	case "event":
		return string(e.Event), e.Event != ""
	case "id":
		return e.ID, e.ID != ""
	case "args":
		return e.Args, true
	case "script":
		return e.Script, true
	case "ticket_id":
		return info.ID, info.ID != ""
	case "subject":
		return info.Subject, info.ID != ""
	case "create_date":
		return info.CreateDate, info.CreateDate != ""
	case "update_date":
		return info.UpdateDate, info.UpdateDate != ""
	}
	// An unknown element of ticket_info, kept as is: its text (the last one
	// of that name wins, as for the known elements).
	for i := len(info.Extra) - 1; i >= 0; i-- {
		if info.Extra[i].Name == key {
			return elementText(info.Extra[i].XML), true
		}
	}
	return "", false
}

// elementText returns the character data of an element's outer XML,
// trimmed of surrounding white space.
func elementText(outer string) string {
	dec := xml.NewDecoder(strings.NewReader(outer))
	var b bytes.Buffer
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if cd, ok := tok.(xml.CharData); ok {
			b.Write(cd)
		}
	}
	return strings.TrimSpace(b.String())
}
