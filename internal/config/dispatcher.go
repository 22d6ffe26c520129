package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// SecureChange is the connection to SecureChange's REST API, used by the dispatcher to
// fetch the full ticket (enrichment) and, later, by write-back operations.
type SecureChange struct {
	// URL is the API base, e.g. https://sc.example/securechangeworkflow/api/securechange.
	// Empty: no enrichment; routes match on what the trigger itself carries.
	URL          string    `yaml:"url"`
	User         string    `yaml:"user"`
	UserEnv      string    `yaml:"user_env"`
	PasswordEnv  string    `yaml:"password_env"`
	PasswordFile string    `yaml:"password_file"`
	Password     string    `yaml:"password"` // rejected: secrets never inline
	TLS          ClientTLS `yaml:"tls"`
	// Timeout of one request. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// Retries after a 5xx, 429 or network error/timeout. Default 4 (unset); 0 means none.
	// A 404 is never retried. Read it with RetryCount.
	Retries *int `yaml:"retries"`
	// RetryBackoff is the first wait between retries, doubled each time (with jitter),
	// capped at 10s. Default 500ms.
	RetryBackoff time.Duration `yaml:"retry_backoff"`
}

// DefaultSecureChangeRetries applies when securechange.retries is not set.
const DefaultSecureChangeRetries = 4

// RetryCount is Retries, or DefaultSecureChangeRetries when unset.
func (s SecureChange) RetryCount() int {
	if s.Retries == nil {
		return DefaultSecureChangeRetries
	}
	return *s.Retries
}

// Enabled reports whether a SecureChange connection is configured.
func (s SecureChange) Enabled() bool { return s.URL != "" }

// PasswordRef is where the SecureChange password lives.
func (s SecureChange) PasswordRef() SecretRef {
	return SecretRef{Env: s.PasswordEnv, File: s.PasswordFile}
}

// Dispatcher configures the planning service.
type Dispatcher struct {
	// AckWait is how long a trigger held by a replica that died stays unavailable before
	// JetStream redelivers it (a live replica keeps the triggers it plans with in-progress
	// acks). Default 30s.
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxAge bounds the retries of a trigger that failed transiently (SecureChange down,
	// a plugin's endpoint down): retried with Backoff, holding its lane (the ticket's
	// later triggers wait behind it, in order), until this long after it was stored;
	// then it is dead-lettered. Default 24h.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxDeliver, when set, also bounds the deliveries of one trigger. Default 0: no
	// bound but MaxAge, so that an outage of SecureChange does not dead-letter the
	// triggers it held (which would let a ticket's later triggers go ahead of them).
	MaxDeliver int `yaml:"max_deliver"`
	// Backoff between redeliveries after a transient failure. Default [2s, 10s, 30s, 1m, 2m].
	Backoff []time.Duration `yaml:"backoff"`
	// PullBatch and Concurrency are no longer used (a warning says so): triggers are
	// planned in events.Partitions lanes, one at a time per lane, in order per ticket.
	PullBatch   int `yaml:"pull_batch"`
	Concurrency int `yaml:"concurrency"`
	// Instance names this replica in plans. Default: the host name.
	Instance string `yaml:"instance"`
	// Plugins rewrite each plan, in this order (seed 004's request-rewrite contract).
	Plugins []Plugin `yaml:"plugins"`
}

// Plugin is a rewrite plugin: an executable (command) or an HTTP endpoint (url).
type Plugin struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"` // argv; the plan on stdin, the rewritten plan on stdout
	URL     string   `yaml:"url"`     // POSTed the plan, answers the rewritten plan
	// Format is kvgroup or json. Default kvgroup for a command, json for a url.
	Format string `yaml:"format"`
	// Timeout of one run. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxRuns bounds reruns asked for with rerun=true/auto. Default 3.
	MaxRuns int `yaml:"max_runs"`
}

// Route maps triggers to actions (a WFI integration point).
type Route struct {
	Name     string  `yaml:"name"`
	Workflow string  `yaml:"workflow"` // empty: every workflow
	On       RouteOn `yaml:"on"`
	// When is a condition in expr-lang/expr over the trigger and the ticket.
	When string `yaml:"when"`
	// Continue: a step-level match does not stop workflow-level routes for the event.
	Continue bool     `yaml:"continue"`
	Actions  []Action `yaml:"actions"`
	// OnFailure replaces notifications.on_failure for this route's operations.
	OnFailure []string `yaml:"on_failure"`
}

// RouteOn says which triggers a route matches.
type RouteOn struct {
	Events StringList `yaml:"event"` // one name or a list; empty: every event
	Step   string     `yaml:"step"`  // step name; empty: any step
	// Point is the WFI integration point: inbound (step entered), outbound (step left),
	// step (a trigger while in the step) or workflow (workflow-level trigger). Default:
	// step when Step is set, else workflow.
	Point  string `yaml:"point"`
	Script string `yaml:"script"` // the mediator's EXEC_SCRIPT, exactly
	Args   string `yaml:"args"`   // a regular expression on the mediator's args
}

// Integration points.
const (
	PointInbound  = "inbound"
	PointOutbound = "outbound"
	PointStep     = "step"
	PointWorkflow = "workflow"
)

// Action is one thing a route does: exactly one of ITSM, SecureChange, Email.
type Action struct {
	Name      string `yaml:"name"` // unique in the route; default <kind>-<index>
	Mandatory bool   `yaml:"mandatory"`
	Group     string `yaml:"group"`
	// Attrs are free key/values passed to plugins and templates.
	Attrs        map[string]string   `yaml:"attrs"`
	ITSM         *ITSMAction         `yaml:"itsm"`
	SecureChange *SecureChangeAction `yaml:"securechange"`
	Email        *EmailAction        `yaml:"email"`
}

// ITSMAction posts a templated payload to an outbound server.
type ITSMAction struct {
	Server   string       `yaml:"server"`
	Method   string       `yaml:"method"`
	Path     string       `yaml:"path"`
	Body     string       `yaml:"body"`
	BodyFile string       `yaml:"body_file"`
	Response ResponseMap  `yaml:"response"`
	Headers  StringMapCfg `yaml:"headers"`
	// Lookup, on a create, is asked first on a redelivery or replay whether the record
	// already exists (the process may have died after the server accepted the create).
	Lookup *Lookup `yaml:"lookup"`
	// Needs names correlation values (e.g. sys_id) this operation cannot run without.
	// The operations of a ticket and server run in order, so whatever stores them (a
	// create) ran before; when they are missing the operation fails, naming them.
	// Default: every #correlation.X# the path, body and headers use.
	Needs []string `yaml:"needs"`
}

// ResponseMap maps an ITSM response back: into the correlation bucket and into
// SecureChange fields. Values are templates over the response (#result.sys_id# is the
// gjson path result.sys_id of the response body) and the operation's placeholders.
type ResponseMap struct {
	Correlate map[string]string `yaml:"correlate"`
	Fields    map[string]string `yaml:"fields"`
}

// StringMapCfg is a string map in config.
type StringMapCfg map[string]string

// SecureChangeAction writes back to SecureChange: exactly one of its kinds. Values are
// templates (placeholders as in payloads). approve/reject set the current task's
// approve_reject field (with the reason); advance sets the current task DONE; redo
// returns the ticket to the named step; reject_ticket rejects the ticket.
type SecureChangeAction struct {
	UpdateFields map[string]string `yaml:"update_fields"`
	Approve      string            `yaml:"approve"` // reason
	Reject       string            `yaml:"reject"`  // reason
	Advance      bool              `yaml:"advance"`
	Redo         string            `yaml:"redo"` // step name to return to
	// RejectTicket rejects the whole ticket with this comment.
	RejectTicket string `yaml:"reject_ticket"`
	// Comment goes with a redo; alone, it adds a comment to the ticket.
	Comment string `yaml:"comment"`
	// Step, on approve, reject, advance, update_fields and comment, is the step the
	// ticket must be at (a template, e.g. from an inbound callback): a ticket that has
	// left it is not changed, and the operation ends skipped, "refused: the ticket is no
	// longer at the expected step" recorded in its result.
	Step string `yaml:"step"`
	// Create creates a SecureChange ticket (inbound routes only).
	Create *CreateTicket `yaml:"create"`
}

// CreateTicket is a new SecureChange ticket: its first step, as Tufin's pytos2 creates
// one (POST tickets). Values are templates.
type CreateTicket struct {
	Workflow  string `yaml:"workflow"`
	Subject   string `yaml:"subject"`
	Requester string `yaml:"requester"` // a SecureChange user name; default the API user
	Priority  string `yaml:"priority"`  // Low, Normal, High, Critical; default Normal
	// Fields of the first step's task, by name.
	Fields map[string]string `yaml:"fields"`
	// AccessRequests are the rows of the first step's multi_access_request field
	// (AccessRequestField, default "Required Access").
	AccessRequestField string             `yaml:"access_request_field"`
	AccessRequests     []AccessRequestRow `yaml:"access_requests"`
	// Correlate: what to store, in scw_correlation, for the new ticket and the callback's
	// server (e.g. sys_id: "#callback.sys_id#"), so later callbacks of the record find it.
	// Default: the callback's record (servers.<name>.inbound.record).
	Correlate map[string]string `yaml:"correlate"`
}

// AccessRequestRow is one access request. Sources, destinations and services are lists
// separated by commas or new lines (after rendering): IP addresses, CIDRs, ranges
// (a-b), "Any"; services "tcp 443", "udp 53", "any", or a predefined service name.
type AccessRequestRow struct {
	Sources      string `yaml:"sources"`
	Destinations string `yaml:"destinations"`
	Services     string `yaml:"services"`
	Action       string `yaml:"action"` // accept (default), drop, remove
	Comment      string `yaml:"comment"`
}

// EmailAction sends an email.
type EmailAction struct {
	To       []string `yaml:"to"` // addresses, or requester / handler
	Cc       []string `yaml:"cc"`
	Subject  string   `yaml:"subject"`
	Template string   `yaml:"template"` // text body template file
	HTML     string   `yaml:"html"`     // HTML body template file
}

// Kind is the action's kind ("itsm", "securechange", "email"), "" if none is set.
func (a Action) Kind() string {
	switch {
	case a.ITSM != nil:
		return "itsm"
	case a.SecureChange != nil:
		return "securechange"
	case a.Email != nil:
		return "email"
	}
	return ""
}

// ActionName is the action's name in its route: Name, or <kind>-<index>.
func (a Action) ActionName(i int) string {
	if a.Name != "" {
		return a.Name
	}
	return fmt.Sprintf("%s-%d", a.Kind(), i)
}

// StringList accepts one string or a list of strings.
type StringList []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = StringList{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}
