package config

import (
	"fmt"
	"maps"
	"os"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// OperationSpec maps an action onto the operation it plans: its kind, its target and its
// payload (pkg/events). Template files (itsm body_file, email template and html) are read
// here, so the operation carries their text: the dispatcher does this once at start-up,
// and a replica that performs the operation needs no file.
func (a Action) OperationSpec(smtpTarget, secureChangeTarget string) (events.OpKind, string, any, error) {
	switch {
	case a.ITSM != nil:
		s, err := a.ITSM.Spec()
		return events.OpITSM, a.ITSM.Server, s, err
	case a.SecureChange != nil:
		return events.OpSecureChange, secureChangeTarget, a.SecureChange.Spec(), nil
	case a.Email != nil:
		s, err := a.Email.Spec()
		return events.OpEmail, smtpTarget, s, err
	}
	return "", "", nil, fmt.Errorf("action has no kind (itsm, securechange or email)")
}

// Spec is the itsm call's payload, with body_file read.
func (a ITSMAction) Spec() (events.ITSMSpec, error) {
	s := events.ITSMSpec{
		Server: a.Server, Method: a.Method, Path: a.Path, Body: a.Body,
		Headers: maps.Clone(map[string]string(a.Headers)), Response: a.Response.spec(),
		Needs: a.Needs,
	}
	if a.BodyFile != "" {
		b, err := os.ReadFile(a.BodyFile)
		if err != nil {
			return s, fmt.Errorf("body_file: %w", err)
		}
		s.Body, s.BodyName = string(b), a.BodyFile
	}
	if l := a.Lookup; l != nil {
		s.Lookup = &events.LookupSpec{Method: l.Method, Path: l.Path, Found: l.Found}
		if l.Response != nil {
			r := l.Response.spec()
			s.Lookup.Response = &r
		}
	}
	return s, nil
}

func (m ResponseMap) spec() events.ResponseSpec {
	return events.ResponseSpec{Correlate: maps.Clone(m.Correlate), Fields: maps.Clone(m.Fields)}
}

// Spec is the write-back's payload.
func (a SecureChangeAction) Spec() events.SecureChangeSpec {
	return events.SecureChangeSpec{
		UpdateFields: maps.Clone(a.UpdateFields), Approve: a.Approve, Reject: a.Reject,
		Advance: a.Advance, Redo: a.Redo, Comment: a.Comment, RejectTicket: a.RejectTicket,
		Step: a.Step, Create: a.Create.spec(),
	}
}

// spec is the create's payload (nil for none).
func (c *CreateTicket) spec() *events.CreateSpec {
	if c == nil {
		return nil
	}
	s := &events.CreateSpec{
		Workflow: c.Workflow, Subject: c.Subject, Requester: c.Requester, Priority: c.Priority,
		Fields: maps.Clone(c.Fields), AccessRequestField: c.AccessRequestField, Correlate: maps.Clone(c.Correlate),
	}
	for _, r := range c.AccessRequests {
		s.AccessRequests = append(s.AccessRequests, events.AccessRowSpec{
			Sources: r.Sources, Destinations: r.Destinations, Services: r.Services, Action: r.Action, Comment: r.Comment,
		})
	}
	return s
}

// Spec is the email's payload, with its template and html files read.
func (a EmailAction) Spec() (events.EmailSpec, error) {
	s := events.EmailSpec{To: a.To, Cc: a.Cc, Subject: a.Subject}
	if a.Template != "" {
		b, err := os.ReadFile(a.Template)
		if err != nil {
			return s, fmt.Errorf("template: %w", err)
		}
		s.Text, s.TextName = string(b), a.Template
	}
	if a.HTML != "" {
		b, err := os.ReadFile(a.HTML)
		if err != nil {
			return s, fmt.Errorf("html: %w", err)
		}
		s.HTML, s.HTMLName = string(b), a.HTML
	}
	return s, nil
}
