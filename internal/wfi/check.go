package wfi

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/triggerflow/triggerflow/internal/config"
)

// CheckConfig parses every template the routes' actions use (itsm paths, bodies, headers,
// response mappings and lookups; securechange values; email subjects, text and HTML) and
// itsm_sync.placeholders, and reports the placeholders no source could ever provide
// (CheckPlaceholder), so that `triggerflow config check` and the dispatcher's start stop
// on them.
//
// The error is an errors.Join of *config.Problem, one per problem, whose Path is the
// template's key (routes[1].actions[0].itsm.body_file) so that the caller can give its
// line (config.Config.Line). A problem inside a template file names the file and the
// line in it: "templates/x.json:7: unexpected EOF"; inside a template written in the
// YAML, the line in that text: "line 2: unexpected EOF".
func CheckConfig(c *config.Config) error {
	k := &checker{cfg: c}
	plugins := len(c.Dispatcher.Plugins) > 0
	for i, r := range c.Routes {
		for j, a := range r.Actions {
			k.action(fmt.Sprintf("routes[%d].actions[%d]", i, j), a, Context{Attrs: a.Attrs, Plugins: plugins})
		}
	}
	for i, r := range c.InboundRoutes {
		for j, a := range r.Actions {
			k.action(fmt.Sprintf("inbound_routes[%d].actions[%d]", i, j), a, Context{Attrs: a.Attrs, Callback: true})
		}
	}
	for _, name := range sortedKeys(c.ITSMSync.Placeholders) {
		// Where a custom placeholder is used is not known here: only the checks that do
		// not depend on it (Context.Custom).
		k.text("itsm_sync.placeholders."+name, c.ITSMSync.Placeholders[name], EscapeNone, Context{Custom: true})
	}
	return errors.Join(k.errs...)
}

// action checks the templates of one action.
func (k *checker) action(path string, a config.Action, ctx Context) {
	switch {
	case a.ITSM != nil:
		it := a.ITSM
		ctx.Server = it.Server
		k.text(path+".itsm.path", it.Path, EscapeURL, ctx)
		k.text(path+".itsm.body", it.Body, EscapeJSON, ctx)
		k.file(path+".itsm.body_file", it.BodyFile, EscapeJSON, ctx)
		for _, h := range sortedKeys(it.Headers) {
			k.text(path+".itsm.headers."+h, it.Headers[h], EscapeNone, ctx)
		}
		resp := ctx
		resp.Response = true
		k.response(path+".itsm.response", it.Response, resp)
		if l := it.Lookup; l != nil {
			k.text(path+".itsm.lookup.path", l.Path, EscapeURL, ctx)
			if l.Response != nil {
				k.response(path+".itsm.lookup.response", *l.Response, resp)
			}
		}
	case a.SecureChange != nil:
		sc := a.SecureChange
		for _, f := range sortedKeys(sc.UpdateFields) {
			k.text(path+".securechange.update_fields."+f, sc.UpdateFields[f], EscapeNone, ctx)
		}
		for _, kv := range [][2]string{{"approve", sc.Approve}, {"reject", sc.Reject}, {"redo", sc.Redo}, {"comment", sc.Comment}, {"reject_ticket", sc.RejectTicket}, {"step", sc.Step}} {
			k.text(path+".securechange."+kv[0], kv[1], EscapeNone, ctx)
		}
		if cr := sc.Create; cr != nil {
			k.create(path+".securechange.create", cr, ctx)
		}
	case a.Email != nil:
		k.text(path+".email.subject", a.Email.Subject, EscapeNone, ctx)
		k.file(path+".email.template", a.Email.Template, EscapeNone, ctx)
		k.file(path+".email.html", a.Email.HTML, EscapeHTML, ctx)
	}
}

// create checks the templates of a ticket to create.
func (k *checker) create(path string, cr *config.CreateTicket, ctx Context) {
	for _, kv := range [][2]string{{"workflow", cr.Workflow}, {"subject", cr.Subject}, {"requester", cr.Requester}, {"priority", cr.Priority}} {
		k.text(path+"."+kv[0], kv[1], EscapeNone, ctx)
	}
	for _, f := range sortedKeys(cr.Fields) {
		k.text(path+".fields."+f, cr.Fields[f], EscapeNone, ctx)
	}
	for _, f := range sortedKeys(cr.Correlate) {
		k.text(path+".correlate."+f, cr.Correlate[f], EscapeNone, ctx)
	}
	for i, row := range cr.AccessRequests {
		p := fmt.Sprintf("%s.access_requests[%d].", path, i)
		for _, kv := range [][2]string{{"sources", row.Sources}, {"destinations", row.Destinations}, {"services", row.Services}, {"action", row.Action}, {"comment", row.Comment}} {
			k.text(p+kv[0], kv[1], EscapeNone, ctx)
		}
	}
}

type checker struct {
	cfg  *config.Config
	errs []error
}

func (k *checker) add(path, msg string) {
	k.errs = append(k.errs, &config.Problem{Path: path, Msg: msg})
}

func (k *checker) response(path string, m config.ResponseMap, ctx Context) {
	for _, key := range sortedKeys(m.Correlate) {
		k.text(path+".correlate."+key, m.Correlate[key], EscapeNone, ctx)
	}
	for _, key := range sortedKeys(m.Fields) {
		k.text(path+".fields."+key, m.Fields[key], EscapeNone, ctx)
	}
}

// file checks a template file; problems name the file (and the line in it).
func (k *checker) file(path, name string, esc Escape, ctx Context) {
	if name == "" {
		return
	}
	b, err := os.ReadFile(name)
	if err != nil {
		k.add(path, fmt.Sprintf("%q cannot be read: %v", name, errors.Unwrap(err)))
		return
	}
	k.parse(path, name, name+":", string(b), esc, ctx)
}

// text checks a template written in the YAML.
func (k *checker) text(path, text string, esc Escape, ctx Context) {
	if text == "" {
		return
	}
	k.parse(path, path, "line ", text, esc, ctx)
}

var lineMsg = regexp.MustCompile(`^line (\d+): `)

// parse parses a template; where prefixes a line number in messages: "FILE:" for a
// file, "line " for a text.
func (k *checker) parse(path, name, where, text string, esc Escape, ctx Context) {
	t, perr := parseTemplate(name, text, esc)
	if perr != nil {
		msg := perr.msg
		if m := lineMsg.FindStringSubmatch(msg); m != nil {
			msg = where + m[1] + ": " + msg[len(m[0]):]
		} else if where != "line " {
			msg = name + ": " + msg
		}
		k.add(path, msg)
		return
	}
	for _, n := range t.needed {
		if why := CheckPlaceholder(n, k.cfg, ctx); why != "" {
			in := ""
			if where != "line " {
				in = " in " + name
			}
			k.add(path, fmt.Sprintf("#%s#%s: %s", n, in, why))
		}
	}
}

// Context is where a template is used, for CheckPlaceholder.
type Context struct {
	// Server is the itsm action's server ("" for other kinds): correlation values are
	// stored per ticket and server.
	Server string
	// Attrs are the action's attrs; Plugins, whether rewrite plugins (which may set
	// any attr) are configured.
	Attrs   map[string]string
	Plugins bool
	// Response: a response mapping (result.<path> has a value only there).
	Response bool
	// Custom: a custom placeholder's template, which may be used anywhere; only what
	// holds everywhere is checked.
	Custom bool
	// Callback: an inbound route's action (callback.<path> has a value only there).
	Callback bool
}

var (
	// predefinedStyle is how WFI writes its predefined names: lower case, digits, '_'.
	predefinedStyle = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	// namespaceStyle is a dotted name's first part that reads as a namespace.
	namespaceStyle = regexp.MustCompile(`^[a-z_][a-z0-9_]*\.`)
)

// notProvided are WFI predefined placeholders that triggerflow does not provide, and why.
var notProvided = map[string]string{
	"ticket_url": "WFI's ticket_url is not provided (nothing says under which address users reach SecureChange); define it in itsm_sync.placeholders",
}

// CheckPlaceholder says why the placeholder name (without its '#') could never have a
// value where ctx says it is used, "" when it may have one. A name is statically
// resolvable when it is a custom placeholder (itsm_sync.placeholders), a predefined one,
// or in a namespace:
//
//	correlation.<key>  some itsm action stores <key> (response.correlate or
//	                   lookup.response.correlate), on the same server for an itsm action
//	                   (an action on a server that is not configured counts for every one)
//	result.<path>      only in a response mapping (response.correlate, response.fields)
//	attr.<key>         the action's attrs set <key>, or a rewrite plugin is configured
//	trigger.<key>      any key (any element of the trigger's ticket_info)
//
// Any other name is taken for a SecureChange ticket field, whose names are free text
// and known only at run time, except a name that cannot be one by the way it is
// written: a dotted name whose first part is a lower-case word (`tikcet.id`,
// `corelation.sys_id`: no such namespace), and a lower-case snake_case name written like
// a predefined one (starting with ticket_, or two edits or fewer away from a predefined
// or custom name: `tikcet_id`, `ticket_url`). A SecureChange field really named like that
// is written {{field "name"}}, which is not checked.
func CheckPlaceholder(name string, c *config.Config, ctx Context) string {
	if _, ok := predefinedIndex[name]; ok {
		return ""
	}
	if _, ok := c.ITSMSync.Placeholders[name]; ok {
		return ""
	}
	if ns, key, ok := strings.Cut(name, "."); ok && namespaceStyle.MatchString(name) {
		if key == "" {
			return fmt.Sprintf("%s. needs a key after the dot", ns)
		}
		switch ns + "." {
		case prefixTrigger:
			return ""
		case prefixCallback:
			if ctx.Custom || ctx.Callback {
				return ""
			}
			return "callback.<path> reads an ITSM callback: only the actions of inbound_routes have one"
		case prefixCorrelation:
			if ctx.Custom {
				return ""
			}
			if ctx.Server != "" {
				if keys := correlatedKeys(c); keys[ctx.Server][key] || keys[anyServer][key] {
					return ""
				}
				return fmt.Sprintf("no itsm action on server %q stores the correlation value %q (response.correlate); correlation values are kept per ticket and server", ctx.Server, key)
			}
			for _, keys := range correlatedKeys(c) {
				if keys[key] {
					return ""
				}
			}
			return fmt.Sprintf("no itsm action stores the correlation value %q (response.correlate)", key)
		case prefixResult:
			if ctx.Custom || ctx.Response {
				return ""
			}
			return "result.<path> reads the response being mapped: only response.correlate and response.fields have one"
		case prefixAttr:
			if ctx.Custom || ctx.Plugins {
				return ""
			}
			if _, ok := ctx.Attrs[key]; ok {
				return ""
			}
			return fmt.Sprintf("the action sets no attr %q (attrs) and no rewrite plugin (dispatcher.plugins) could", key)
		}
		return fmt.Sprintf("%s. is not a namespace (correlation., result., attr., trigger., callback.); a ticket field with a dot in its name is written {{field %q}}", ns, name)
	}
	if why, ok := notProvided[name]; ok {
		return why
	}
	if !predefinedStyle.MatchString(name) {
		return "" // a ticket field
	}
	if like := nearest(name, c); like != "" {
		return fmt.Sprintf("not a predefined or custom placeholder (did you mean #%s#?); a ticket field named so is written {{field %q}}", like, name)
	}
	if strings.HasPrefix(name, "ticket_") {
		return fmt.Sprintf("not a predefined or custom placeholder; a ticket field named so is written {{field %q}}", name)
	}
	return ""
}

// anyServer holds, in correlatedKeys, the keys stored by actions whose server is not
// configured: that is reported already, and its fix decides which server stores them.
const anyServer = "\x00any"

// correlatedKeys maps each server to the correlation keys its itsm actions store.
func correlatedKeys(c *config.Config) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, r := range c.Routes {
		for _, a := range r.Actions {
			if a.ITSM == nil {
				continue
			}
			maps := []map[string]string{a.ITSM.Response.Correlate}
			if l := a.ITSM.Lookup; l != nil && l.Response != nil {
				maps = append(maps, l.Response.Correlate)
			}
			server := a.ITSM.Server
			if _, ok := c.Servers[server]; !ok {
				server = anyServer
			}
			for _, m := range maps {
				for key := range m {
					if out[server] == nil {
						out[server] = map[string]bool{}
					}
					out[server][key] = true
				}
			}
		}
	}
	return out
}

// nearest returns the predefined or custom name at most two edits away from name
// (names of 6 bytes or more), "" if there is none.
func nearest(name string, c *config.Config) string {
	if len(name) < 6 {
		return ""
	}
	candidates := Predefined()
	candidates = append(candidates, sortedKeys(c.ITSMSync.Placeholders)...)
	best, bestD := "", 3
	for _, p := range candidates {
		if len(p) < 6 {
			continue
		}
		if d := config.EditDistance(name, p); d < bestD {
			best, bestD = p, d
		}
	}
	return best
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
