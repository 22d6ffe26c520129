package config

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// validateDispatcher checks securechange, servers, dispatcher and routes.
func (c *Config) validateDispatcher(v *validator) {
	sc := &c.SecureChange
	if sc.Enabled() {
		v.httpURL("securechange.url", sc.URL)
		v.baseURL("securechange.url", sc.URL, "securechange.user and securechange.password_env or securechange.password_file",
			"ticket paths are appended to it")
		if sc.Password != "" {
			v.add("securechange.password", "inline secrets are not accepted; use securechange.password_env or securechange.password_file")
		} else {
			v.secret("securechange.password", sc.PasswordRef())
		}
		v.basicAuthUser("securechange.user", sc.User, sc.UserEnv)
		v.clientTLS("securechange.tls", sc.TLS)
		v.positive("securechange.timeout", sc.Timeout)
		v.positive("securechange.retry_backoff", sc.RetryBackoff)
		if n := sc.RetryCount(); n < 0 || n > 20 {
			v.add("securechange.retries", fmt.Sprintf("%d is out of range (0 to 20)", n))
		}
	}

	for name, s := range c.Servers {
		v.httpURL("servers."+name+".base_url", s.BaseURL)
	}

	d := &c.Dispatcher
	v.positive("dispatcher.ack_wait", d.AckWait)
	if d.MaxDeliver < 0 {
		v.add("dispatcher.max_deliver", fmt.Sprintf("%d must be at least 1 (or 0: no bound but dispatcher.max_age)", d.MaxDeliver))
	}
	v.positive("dispatcher.max_age", d.MaxAge)
	for i, b := range d.Backoff {
		if b <= 0 {
			v.add(fmt.Sprintf("dispatcher.backoff[%d]", i), fmt.Sprintf("%s must be positive", b))
		}
	}
	seenPlugin := map[string]bool{}
	for i, p := range d.Plugins {
		path := fmt.Sprintf("dispatcher.plugins[%d]", i)
		v.uniqueName(path+".name", p.Name, seenPlugin)
		if (len(p.Command) == 0) == (p.URL == "") {
			v.add(path, "set exactly one of command and url")
		}
		if p.URL != "" {
			v.httpURL(path+".url", p.URL)
		}
		if len(p.Command) > 0 {
			v.command(path+".command", p.Command[0])
		}
		v.oneOf(path+".format", p.Format, "kvgroup", "json")
		v.positive(path+".timeout", p.Timeout)
		if p.MaxRuns < 1 || p.MaxRuns > 10 {
			v.add(path+".max_runs", fmt.Sprintf("%d is out of range (1 to 10)", p.MaxRuns))
		}
	}
	c.validateRoutes(v)
	c.validateInboundRoutes(v)
}

// validateRoutes checks routes: unique names, events, points, args, and each action.
func (c *Config) validateRoutes(v *validator) {
	seenRoute := map[string]bool{}
	for i, r := range c.Routes {
		path := fmt.Sprintf("routes[%d]", i)
		v.uniqueName(path+".name", r.Name, seenRoute)
		for j, e := range r.On.Events {
			if t, err := events.ParseTrigger(e); err != nil {
				v.add(fmt.Sprintf("%s.on.event[%d]", path, j), err.Error())
			} else if !t.Published() {
				v.add(fmt.Sprintf("%s.on.event[%d]", path, j), "TEST is never stored, so no route can match it")
			}
		}
		v.oneOf(path+".on.point", r.On.Point, PointInbound, PointOutbound, PointStep, PointWorkflow)
		if r.On.Point == PointWorkflow && r.On.Step != "" {
			v.add(path+".on.point", fmt.Sprintf("workflow-level routes match no step, but on.step is %q (use inbound, outbound or step)", r.On.Step))
		}
		if r.On.Args != "" {
			if _, err := regexp.Compile(r.On.Args); err != nil {
				v.add(path+".on.args", fmt.Sprintf("not a regular expression: %v", err))
			}
		}
		if len(r.Actions) == 0 {
			v.add(path+".actions", "a route needs at least one action")
		}
		seenAction := map[string]bool{}
		for j, a := range r.Actions {
			c.validateAction(v, fmt.Sprintf("%s.actions[%d]", path, j), a, j, seenAction)
		}
	}
}

func (c *Config) validateAction(v *validator, path string, a Action, i int, seen map[string]bool) {
	if countSet(a.ITSM != nil, a.SecureChange != nil, a.Email != nil) != 1 {
		v.add(path, "set exactly one of itsm, securechange and email")
		return
	}
	name := a.ActionName(i)
	if seen[name] {
		v.add(path+".name", fmt.Sprintf("%q is used twice in this route", name))
	}
	seen[name] = true
	switch {
	case a.ITSM != nil:
		it := a.ITSM
		if _, ok := c.Servers[it.Server]; !ok {
			v.add(path+".itsm.server", fmt.Sprintf("%q is not a configured server (servers: %s)", it.Server, strings.Join(serverNames(c.Servers), ", ")))
		}
		switch it.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodGet, http.MethodDelete:
		default:
			v.add(path+".itsm.method", fmt.Sprintf("%q is not one of POST, PUT, PATCH, GET, DELETE", it.Method))
		}
		if !strings.HasPrefix(it.Path, "/") {
			v.add(path+".itsm.path", fmt.Sprintf("%q must start with /", it.Path))
		}
		if it.Body != "" && it.BodyFile != "" {
			v.add(path+".itsm", "set body or body_file, not both")
		}
		v.file(path+".itsm.body_file", it.BodyFile)
		if !c.SecureChange.Enabled() { // its write-backs would wait in SCW_OPS for a consumer
			if len(it.Response.Fields) > 0 {
				v.add(path+".itsm.response.fields", "writes back to SecureChange, which needs securechange.url")
			}
			if it.Lookup != nil && it.Lookup.Response != nil && len(it.Lookup.Response.Fields) > 0 {
				v.add(path+".itsm.lookup.response.fields", "writes back to SecureChange, which needs securechange.url")
			}
		}
	case a.SecureChange != nil:
		s := a.SecureChange
		if countSet(len(s.UpdateFields) > 0, s.Approve != "", s.Reject != "", s.Advance, s.Redo != "", s.RejectTicket != "", s.Create != nil,
			s.Comment != "" && s.Redo == "") != 1 {
			v.add(path+".securechange", "set exactly one of update_fields, approve, reject, advance, redo (with its comment), reject_ticket, comment and create")
		}
		if s.Step != "" && (s.Redo != "" || s.RejectTicket != "" || s.Create != nil) {
			v.add(path+".securechange.step", "guards approve, reject, advance, update_fields and comment only")
		}
		v.create(path+".securechange.create", s.Create)
		if !c.SecureChange.Enabled() {
			v.add(path+".securechange", "needs securechange.url")
		}
	case a.Email != nil:
		if len(a.Email.To) == 0 {
			v.add(path+".email.to", "is required: addresses, requester or handler")
		}
		v.file(path+".email.template", a.Email.Template)
		v.file(path+".email.html", a.Email.HTML)
	}
}

func serverNames(m map[string]Server) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	sort.Strings(out)
	return out
}

// httpURL checks an absolute http(s) URL. The message hides what may be credentials.
func (v *validator) httpURL(path, raw string) {
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.add(path, fmt.Sprintf("%q is not an http(s) URL", redactURL(raw)))
	}
}

// uniqueName checks that a name is set and not used before in the same list.
func (v *validator) uniqueName(path, name string, seen map[string]bool) {
	switch {
	case name == "":
		v.add(path, "is required")
	case seen[name]:
		v.add(path, fmt.Sprintf("%q is listed twice", name))
	}
	seen[name] = true
}

// command checks that argv[0] of a plugin's command can be run, as exec would find it:
// a name without a slash in PATH, else an executable regular file.
func (v *validator) command(path, name string) {
	if name == "" {
		v.add(path, "command[0] is empty")
		return
	}
	if !strings.Contains(name, "/") {
		if _, err := exec.LookPath(name); err != nil {
			v.add(path, fmt.Sprintf("%q: not found in PATH", name))
		}
		return
	}
	fi, err := os.Stat(name)
	switch {
	case err != nil:
		v.add(path, fmt.Sprintf("%q: %v", name, errors.Unwrap(err)))
	case fi.IsDir():
		v.add(path, fmt.Sprintf("%q is a directory", name))
	case !fi.Mode().IsRegular():
		v.add(path, fmt.Sprintf("%q is not a regular file", name))
	case fi.Mode().Perm()&0o111 == 0:
		v.add(path, fmt.Sprintf("%q is not executable (mode %v)", name, fi.Mode().Perm()))
	default:
		if err := syscall.Access(name, 1 /* X_OK */); err != nil {
			v.add(path, fmt.Sprintf("%q is not executable by this process: %v", name, err))
		}
	}
}
