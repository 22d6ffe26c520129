package config

import (
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SMTP is the mail server the notifier sends through.
type SMTP struct {
	Host string `yaml:"host"`
	// Port. Default 587 (465 with tls: true).
	Port int `yaml:"port"`
	// StartTLS upgrades the connection (required unless false). Default true.
	StartTLS *bool `yaml:"starttls"`
	// TLS is implicit TLS from the first byte (SMTPS, port 465).
	TLS bool `yaml:"tls"`
	// TLSConfig: verification is on; ca_file for a private CA; insecure_skip_verify warns.
	TLSConfig    ClientTLS `yaml:"tls_config"`
	Username     string    `yaml:"username"`
	UsernameEnv  string    `yaml:"username_env"`
	PasswordEnv  string    `yaml:"password_env"`
	PasswordFile string    `yaml:"password_file"`
	Password     string    `yaml:"password"` // rejected: secrets never inline
	// Auth is plain, login or cram-md5. Default plain when a username is set.
	Auth string `yaml:"auth"`
	// From is the sender address, e.g. "triggerflow <triggerflow@example.com>".
	From string `yaml:"from"`
	// Timeout of connecting and of each command. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// HELO name. Default: the host name.
	HELO string `yaml:"helo"`
}

// Sender is smtp.from parsed. Validate reports a From that does not parse; Sender is
// then the bare string, which the server refuses.
func (s SMTP) Sender() *mail.Address {
	if a, err := mail.ParseAddress(s.From); err == nil {
		return a
	}
	return &mail.Address{Address: s.From}
}

// StartTLSOn reports whether STARTTLS is required (the default).
func (s SMTP) StartTLSOn() bool { return !s.TLS && (s.StartTLS == nil || *s.StartTLS) }

// PasswordRef is where the SMTP password lives.
func (s SMTP) PasswordRef() SecretRef { return SecretRef{Env: s.PasswordEnv, File: s.PasswordFile} }

// Enabled reports whether an SMTP server is configured.
func (s SMTP) Enabled() bool { return s.Host != "" }

// Notifications configures failure alerts (WFI's "email on failure").
type Notifications struct {
	// OnFailure: who is alerted when any operation fails or a message is
	// dead-lettered: addresses, or "requester" / "handler" (from the ticket). A route's
	// on_failure replaces it for the route's operations.
	OnFailure []string `yaml:"on_failure"`
	// DigestAfter: more alerts than this within DigestWindow become one digest.
	// Default 10.
	DigestAfter int `yaml:"digest_after"`
	// DigestWindow. Default 1m.
	DigestWindow time.Duration `yaml:"digest_window"`
	// NATSServer is the NATS URL the alert emails' `nats` commands name (--server): the
	// address operators reach, which may differ from the one the services use. Default:
	// nats.url without credentials, else the embedded server's address. Never holds
	// credentials: the commands are mailed.
	NATSServer string `yaml:"nats_server"`
}

// AlertNATSServer is the --server of the alert emails' nats commands (see
// Notifications.NATSServer): never with credentials.
func (c *Config) AlertNATSServer() string {
	if c.Notifications.NATSServer != "" {
		return c.Notifications.NATSServer
	}
	if c.NATS.URL != "" {
		return withoutUserinfo(c.NATS.URL)
	}
	host := c.NATS.Embedded.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(c.NATS.Embedded.Port))
}

// withoutUserinfo drops user and password from every URL of a comma-separated list.
func withoutUserinfo(urls string) string {
	parts := strings.Split(urls, ",")
	for i, raw := range parts {
		if u, err := url.Parse(strings.TrimSpace(raw)); err == nil {
			u.User = nil
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// Notifier configures the service that sends emails and alerts.
type Notifier struct {
	// AckWait: how long an email or alert held by a replica that died stays unavailable
	// before it is redelivered. Default 30s.
	AckWait time.Duration `yaml:"ack_wait"`
	// PullBatch is no longer used (a warning says so).
	PullBatch int `yaml:"pull_batch"`
	// Concurrency is how many SMTP connections one replica keeps (emails in flight at
	// once). Default 4.
	Concurrency int `yaml:"concurrency"`
	// Retry of transient SMTP failures (4xx replies, network); the same knobs as itsm_sync.retry.
	Retry    Retry  `yaml:"retry"`
	Instance string `yaml:"instance"`
}

func (c *Config) setNotifierDefaults() {
	s := &c.SMTP
	if s.Port == 0 {
		switch {
		case s.TLS:
			s.Port = 465
		default:
			s.Port = 587
		}
	}
	orDefault(&s.Timeout, 30*time.Second)
	if s.Auth == "" && (s.Username != "" || s.UsernameEnv != "") {
		s.Auth = "plain"
	}
	n := &c.Notifications
	if n.DigestAfter == 0 {
		n.DigestAfter = 10
	}
	orDefault(&n.DigestWindow, time.Minute)
	nt := &c.Notifier
	orDefault(&nt.AckWait, 30*time.Second)
	if nt.Concurrency == 0 {
		nt.Concurrency = 4
	}
	nt.Retry = nt.Retry.Merge(Retry{Attempts: 8, MaxAge: 24 * time.Hour, Backoff: 5 * time.Second, MaxBackoff: 10 * time.Minute, MaxRetryAfter: 10 * time.Minute})
}
