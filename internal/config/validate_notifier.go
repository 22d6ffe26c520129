package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"strings"
)

// notifier checks smtp, notifications, notifier and the routes' on_failure lists.
func (v *validator) notifier(c *Config) {
	s := &c.SMTP
	v.smtp(s)
	n := &c.Notifications
	v.recipients("notifications.on_failure", n.OnFailure)
	if len(n.OnFailure) > 0 && !s.Enabled() {
		v.add("notifications.on_failure", "needs smtp.host")
	}
	if n.DigestAfter < 1 {
		v.add("notifications.digest_after", fmt.Sprintf("%d must be at least 1", n.DigestAfter))
	}
	v.positive("notifications.digest_window", n.DigestWindow)
	if n.NATSServer != "" {
		for _, raw := range strings.Split(n.NATSServer, ",") {
			u, err := url.Parse(strings.TrimSpace(raw))
			switch {
			case err != nil || u.Host == "" || u.Scheme == "":
				v.add("notifications.nats_server", fmt.Sprintf("%q is not a NATS URL (nats://host:4222)", raw))
			case u.User != nil:
				v.add("notifications.nats_server", "must not hold credentials: it is written into alert emails")
			}
		}
	}
	for i, r := range c.Routes {
		v.recipients(fmt.Sprintf("routes[%d].on_failure", i), r.OnFailure)
		for j, a := range r.Actions {
			if a.Email != nil {
				v.recipients(fmt.Sprintf("routes[%d].actions[%d].email.to", i, j), a.Email.To)
				v.recipients(fmt.Sprintf("routes[%d].actions[%d].email.cc", i, j), a.Email.Cc)
			}
		}
	}
	nt := &c.Notifier
	v.positive("notifier.ack_wait", nt.AckWait)
	if nt.Concurrency < 1 {
		v.add("notifier.concurrency", fmt.Sprintf("%d must be at least 1", nt.Concurrency))
	}
	v.retry("notifier.retry", nt.Retry, nil)
}

// smtp checks smtp: required when configured, port, TLS, sender, credentials and auth.
func (v *validator) smtp(s *SMTP) {
	if !s.Enabled() {
		if s.From != "" || s.Username != "" || s.PasswordEnv != "" || s.PasswordFile != "" {
			v.add("smtp.host", "is required when smtp is configured")
		}
	} else {
		if s.Port < 1 || s.Port > 65535 {
			v.add("smtp.port", fmt.Sprintf("%d is not a port", s.Port))
		}
		if s.TLS && s.StartTLS != nil && *s.StartTLS {
			v.add("smtp.starttls", "choose implicit TLS (tls: true) or STARTTLS, not both")
		}
		if s.From == "" {
			v.add("smtp.from", "is required: the sender address")
		} else if _, err := mail.ParseAddress(s.From); err != nil {
			v.add("smtp.from", fmt.Sprintf("%q is not an e-mail address: %v", s.From, err))
		}
		if s.Password != "" {
			v.add("smtp.password", "inline secrets are not accepted; use smtp.password_env or smtp.password_file")
		}
		hasUser := s.Username != "" || s.UsernameEnv != ""
		hasPass := s.PasswordEnv != "" || s.PasswordFile != ""
		encrypted := s.TLS || s.StartTLSOn()
		if hasUser != hasPass {
			v.add("smtp.username", "set both a username (username or username_env) and a password (password_env or password_file), or neither")
		}
		if hasPass {
			v.secret("smtp.password", s.PasswordRef())
		}
		if hasUser {
			v.userOrEnv("smtp.username", s.Username, s.UsernameEnv)
			if !encrypted {
				v.add("smtp.starttls", "false with a password would send it in clear text; use STARTTLS or tls: true")
			}
		}
		if s.Auth != "" {
			v.oneOf("smtp.auth", s.Auth, "plain", "login", "cram-md5")
			if !hasUser && !hasPass {
				v.add("smtp.auth", fmt.Sprintf("%q is set, but no username and password: set them, or remove smtp.auth", s.Auth))
			}
		}
		v.clientTLS("smtp.tls_config", s.TLSConfig)
		if s.TLSConfig.Enabled() && !encrypted {
			v.add("smtp.tls_config", "is set, but neither STARTTLS nor tls: true is on, so it is never used")
		}
		v.positive("smtp.timeout", s.Timeout)
	}
}

// recipients checks a list of addresses and the keywords requester and handler.
func (v *validator) recipients(path string, list []string) {
	for _, r := range list {
		switch strings.ToLower(strings.TrimSpace(r)) {
		case "requester", "handler":
			continue
		}
		if _, err := mail.ParseAddress(r); err != nil {
			v.add(path, fmt.Sprintf("%q is not an e-mail address, requester or handler", r))
		}
	}
}
