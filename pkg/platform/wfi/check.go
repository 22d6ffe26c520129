package wfi

import (
	"errors"
	"fmt"
	"os"

	"github.com/triggerflow/triggerflow/pkg/config"
)

// CheckConfig parses every template the routes' actions use (itsm paths, bodies, headers,
// response mappings and lookups; securechange values; email subjects, text and HTML) and
// itsm_sync.placeholders, so a syntax error stops `triggerflow config check` and the
// dispatcher's start, naming the route.
func CheckConfig(c *config.Config) error {
	var errs []error
	parse := func(where, text string, esc Escape) {
		if text == "" {
			return
		}
		if _, err := Parse(where, text, esc); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	file := func(where, path string, esc Escape) {
		if path == "" {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			return
		}
		parse(where+" "+path, string(b), esc)
	}
	for i, r := range c.Routes {
		for j, a := range r.Actions {
			where := fmt.Sprintf("routes[%d] (%s).actions[%d]", i, r.Name, j)
			switch {
			case a.ITSM != nil:
				it := a.ITSM
				parse(where+".itsm.path", it.Path, EscapeURL)
				parse(where+".itsm.body", it.Body, EscapeJSON)
				file(where+".itsm.body_file", it.BodyFile, EscapeJSON)
				for k, v := range it.Headers {
					parse(where+".itsm.headers."+k, v, EscapeNone)
				}
				for k, v := range it.Response.Correlate {
					parse(where+".itsm.response.correlate."+k, v, EscapeNone)
				}
				for k, v := range it.Response.Fields {
					parse(where+".itsm.response.fields."+k, v, EscapeNone)
				}
				if it.Lookup != nil {
					parse(where+".itsm.lookup.path", it.Lookup.Path, EscapeURL)
				}
			case a.SecureChange != nil:
				sc := a.SecureChange
				for k, v := range sc.UpdateFields {
					parse(where+".securechange.update_fields."+k, v, EscapeNone)
				}
				for k, v := range map[string]string{"approve": sc.Approve, "reject": sc.Reject, "redo": sc.Redo, "comment": sc.Comment, "reject_ticket": sc.RejectTicket} {
					parse(where+".securechange."+k, v, EscapeNone)
				}
			case a.Email != nil:
				parse(where+".email.subject", a.Email.Subject, EscapeNone)
				file(where+".email.template", a.Email.Template, EscapeNone)
				file(where+".email.html", a.Email.HTML, EscapeHTML)
			}
		}
	}
	for k, v := range c.ITSMSync.Placeholders {
		parse("itsm_sync.placeholders."+k, v, EscapeNone)
	}
	return errors.Join(errs...)
}
