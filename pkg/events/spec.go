package events

import (
	"encoding/json"
	"fmt"
)

// The payloads of operations (Operation.Spec), one type per kind. They are the wire
// format: the config maps onto them when the dispatcher starts, rewrite plugins read and
// write them, and itsm-sync and the notifier perform them. Template texts travel in the
// operation (a body file is read when the plan is made, not by the replica that performs
// it), so a redelivery, a replay or a replica with other files renders the same thing.
// testdata/spec_*.golden.json pin them.

// ITSMSpec is a call to an outbound ITSM server (kind itsm).
type ITSMSpec struct {
	Server string `json:"server"`
	Method string `json:"method"` // default POST
	Path   string `json:"path"`   // template, URL-escaped values
	// Body is the payload template (JSON-escaped values unless a Content-Type header
	// says otherwise).
	Body string `json:"body,omitempty"`
	// BodyName says where Body came from (the route's body_file), for error messages.
	BodyName string            `json:"body_name,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"` // templates
	Response ResponseSpec      `json:"response"`
	// Lookup, on a create whose outcome is unknown (a redelivery, a request cut off),
	// asks the server first whether the record already exists.
	Lookup *LookupSpec `json:"lookup,omitempty"`
	// Needs names correlation values the call cannot be made without (default: every
	// #correlation.X# its templates use).
	Needs []string `json:"needs,omitempty"`
}

// ResponseSpec maps a 2xx response: into scw_correlation and into SecureChange fields.
// Values are templates over the response (#result.<gjson path>#) and the operation.
type ResponseSpec struct {
	Correlate map[string]string `json:"correlate,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
}

// LookupSpec is a lookup-before-create. Found is a gjson path that exists in the
// answer when the record does; a 404 answer means it does not.
type LookupSpec struct {
	Method   string        `json:"method,omitempty"` // default GET
	Path     string        `json:"path"`
	Found    string        `json:"found"`
	Response *ResponseSpec `json:"response,omitempty"` // default: the call's own
}

// SecureChangeSpec is a write-back to SecureChange (kind securechange): exactly one of
// its kinds. Values are templates.
type SecureChangeSpec struct {
	UpdateFields map[string]string `json:"update_fields,omitempty"`
	Approve      string            `json:"approve,omitempty"` // reason
	Reject       string            `json:"reject,omitempty"`  // reason
	Advance      bool              `json:"advance,omitempty"`
	Redo         string            `json:"redo,omitempty"`          // step to return to
	Comment      string            `json:"comment,omitempty"`       // with redo, or alone: a comment
	RejectTicket string            `json:"reject_ticket,omitempty"` // comment
	// Step: the step the ticket must be at (approve, reject, advance, update_fields,
	// comment); a ticket that left it is not changed (the result: skipped, refused).
	Step   string      `json:"step,omitempty"`
	Create *CreateSpec `json:"create,omitempty"`
}

// CreateSpec creates a SecureChange ticket (first step only, as pytos2 does). Values are
// templates. Then are the operations that follow it, performed on the new ticket
// (e.g. an itsm call writing its id back to the ITSM record).
type CreateSpec struct {
	Workflow           string            `json:"workflow"`
	Subject            string            `json:"subject"`
	Requester          string            `json:"requester,omitempty"`
	Priority           string            `json:"priority,omitempty"`
	Fields             map[string]string `json:"fields,omitempty"`
	AccessRequestField string            `json:"access_request_field,omitempty"`
	AccessRequests     []AccessRowSpec   `json:"access_requests,omitempty"`
	// Correlate: values stored in scw_correlation for the new ticket and the server the
	// callback came from (the ITSM record it belongs to).
	Correlate map[string]string `json:"correlate,omitempty"`
	Then      []ThenSpec        `json:"then,omitempty"`
}

// AccessRowSpec is one access-request row (templates; lists separated by commas or
// new lines).
type AccessRowSpec struct {
	Sources      string `json:"sources"`
	Destinations string `json:"destinations"`
	Services     string `json:"services"`
	Action       string `json:"action,omitempty"`
	Comment      string `json:"comment,omitempty"`
}

// ThenSpec is an action planned after a create, performed on the ticket it created.
type ThenSpec struct {
	Name   string          `json:"name"`
	Kind   OpKind          `json:"kind"`
	Target string          `json:"target"`
	Spec   json.RawMessage `json:"spec"`
}

// EmailSpec is an email (kind email). To and Cc hold addresses or the keywords
// requester and handler; Subject, Text and HTML are templates.
type EmailSpec struct {
	To       []string `json:"to"`
	Cc       []string `json:"cc,omitempty"`
	Subject  string   `json:"subject,omitempty"`
	Text     string   `json:"text,omitempty"`
	TextName string   `json:"text_name,omitempty"` // the route's template file
	HTML     string   `json:"html,omitempty"`
	HTMLName string   `json:"html_name,omitempty"` // the route's html file
}

// ITSM decodes the operation's spec as an itsm call.
func (o Operation) ITSM() (ITSMSpec, error) {
	var s ITSMSpec
	return s, o.decodeSpec(OpITSM, &s)
}

// SecureChange decodes the operation's spec as a SecureChange write-back.
func (o Operation) SecureChange() (SecureChangeSpec, error) {
	var s SecureChangeSpec
	return s, o.decodeSpec(OpSecureChange, &s)
}

// Email decodes the operation's spec as an email.
func (o Operation) Email() (EmailSpec, error) {
	var s EmailSpec
	return s, o.decodeSpec(OpEmail, &s)
}

func (o Operation) decodeSpec(kind OpKind, v any) error {
	if o.Kind != kind {
		return fmt.Errorf("operation %s is %q, not %q", o.ID, o.Kind, kind)
	}
	if len(o.Spec) == 0 {
		return fmt.Errorf("operation %s has no spec", o.ID)
	}
	if err := unmarshal(o.Spec, v); err != nil {
		return fmt.Errorf("operation %s: spec is not a%s %s action: %w", o.ID, map[bool]string{true: "n"}[kind == OpITSM || kind == OpEmail], kind, err)
	}
	return nil
}

// EncodeSpec is the JSON of a spec (ITSMSpec, SecureChangeSpec or EmailSpec).
func EncodeSpec(spec any) (json.RawMessage, error) {
	switch spec.(type) {
	case ITSMSpec, *ITSMSpec, SecureChangeSpec, *SecureChangeSpec, EmailSpec, *EmailSpec:
	default:
		return nil, fmt.Errorf("%T is not an operation spec", spec)
	}
	return marshal(spec)
}
