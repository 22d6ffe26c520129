package config

import (
	"strings"
	"time"
)

// Inbound is an ITSM server's callback endpoint on the ingress (servers.<name>.inbound):
// the ITSM drives SecureChange back (ITSM-led change, seed 000). A server without it
// has no endpoint.
type Inbound struct {
	// Path of the endpoint. Default /v1/inbound/<server>.
	Path string `yaml:"path"`
	// Auth: exactly one of basic, bearer, hmac. Required unless the ingress runs --dev.
	Auth InboundAuth `yaml:"auth"`
	// ID is a JSON path (gjson) of the callback's own id (e.g. the ITSM's event id): the
	// ITSM's retries of one callback are stored once. Unset, or absent in a callback:
	// a hash of the body.
	ID string `yaml:"id"`
	// Ticket is a JSON path of the SecureChange ticket id, when the callback names it.
	Ticket string `yaml:"ticket"`
	// Record is a JSON path of the ITSM record's correlation value (e.g. sys_id), used to
	// find the ticket through scw_correlation when the callback does not name it.
	Record string `yaml:"record"`
	// RecordKey is the correlation key that value is stored under (what a route's
	// response.correlate calls it). Default: the last element of Record.
	RecordKey string `yaml:"record_key"`
	// MaxBodyBytes caps a callback's body. Default 256 KiB.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
}

// InboundAuth is how an ITSM authenticates its callbacks: exactly one method.
type InboundAuth struct {
	// Basic: HTTP basic authentication with this user and password.
	Basic *BasicAuth `yaml:"basic"`
	// Bearer: this token in Authorization (Bearer) or the configured header.
	Bearer *BearerAuth `yaml:"bearer"`
	// HMAC: a signature of the timestamp and body with a shared secret.
	HMAC *HMACAuth `yaml:"hmac"`
}

// HMACAuth checks an HMAC-SHA256 signature: hex(HMAC-SHA256(secret, timestamp + "." +
// body)) in the signature header (optionally prefixed "sha256="), the timestamp (Unix
// seconds) in the timestamp header, within Window of the ingress's clock.
type HMACAuth struct {
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	Secret     string `yaml:"secret"` // rejected: secrets never inline
	// SignatureHeader. Default X-Triggerflow-Signature.
	SignatureHeader string `yaml:"signature_header"`
	// TimestampHeader. Default X-Triggerflow-Timestamp.
	TimestampHeader string `yaml:"timestamp_header"`
	// Window: a timestamp further than this from now is refused (a replay). Default 5m.
	Window time.Duration `yaml:"window"`
}

// SecretRef is where the shared secret lives.
func (h HMACAuth) SecretRef() SecretRef { return SecretRef{Env: h.SecretEnv, File: h.SecretFile} }

// Inbound defaults.
const (
	DefaultInboundMaxBody   = 256 << 10
	DefaultHMACSignature    = "X-Triggerflow-Signature"
	DefaultHMACTimestamp    = "X-Triggerflow-Timestamp"
	DefaultHMACWindow       = 5 * time.Minute
	DefaultInboundPathRoute = "/v1/inbound/"
)

// InboundRoute maps callbacks of one server to SecureChange actions (inbound_routes).
// Every route whose server and condition match a callback acts, in order.
type InboundRoute struct {
	Name   string `yaml:"name"`
	Server string `yaml:"server"`
	// When is a condition in expr-lang/expr over the callback: callback (its JSON),
	// path("a.b") (a gjson path of it, "" when absent), server, ticket, record.
	When string `yaml:"when"`
	// Actions: securechange actions (approve, reject, advance, update_fields, comment,
	// redo, reject_ticket, create), itsm actions. Values are templates over the callback
	// (#callback.<path>#). Actions after a create act on the ticket it created.
	Actions []Action `yaml:"actions"`
	// OnFailure replaces notifications.on_failure for this route's operations.
	OnFailure []string `yaml:"on_failure"`
}

// setInboundDefaults fills the defaults of every server's inbound endpoint.
func (c *Config) setInboundDefaults() {
	for name, sv := range c.Servers {
		in := sv.Inbound
		if in == nil {
			continue
		}
		orDefault(&in.Path, DefaultInboundPathRoute+name)
		orDefault(&in.MaxBodyBytes, DefaultInboundMaxBody)
		if in.Record != "" {
			orDefault(&in.RecordKey, lastPathElement(in.Record))
		}
		if h := in.Auth.HMAC; h != nil {
			orDefault(&h.SignatureHeader, DefaultHMACSignature)
			orDefault(&h.TimestampHeader, DefaultHMACTimestamp)
			orDefault(&h.Window, DefaultHMACWindow)
		}
	}
}

// lastPathElement is the last element of a gjson path: "result.sys_id" → "sys_id",
// `a.b\.c` → "b.c".
func lastPathElement(p string) string {
	last := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '.':
			last = i + 1
		}
	}
	return strings.ReplaceAll(p[last:], `\`, "")
}
