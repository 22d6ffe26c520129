package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"
)

// Validate reports every problem in the config at once (errors.Join of *Problem), each
// naming its key path and the bad value. It also checks that every configured secret can
// be read, so a missing environment variable fails at start-up, not on first use.
func (c *Config) Validate() error {
	var v validator
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")

	n := &c.NATS
	if n.Password != "" {
		v.add("nats.password", "inline secrets are not accepted; use nats.password_env or nats.password_file")
	}
	if n.PasswordEnv != "" || n.PasswordFile != "" {
		if n.User == "" {
			v.add("nats.user", "is required when a NATS password is set")
		}
		v.secret("nats.password", n.PasswordRef())
	}
	if n.User != "" && n.PasswordEnv == "" && n.PasswordFile == "" {
		v.add("nats.password_env", "nats.user is set but no password: set nats.password_env or nats.password_file")
	}
	methods := 0
	for _, set := range []bool{n.User != "", n.NKeySeedFile != "", n.CredsFile != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		v.add("nats", "choose one of user/password, nkey_seed_file and creds_file")
	}
	v.secretFile("nats.nkey_seed_file", n.NKeySeedFile)
	v.secretFile("nats.creds_file", n.CredsFile)
	v.clientTLS("nats.tls", n.TLS)
	if n.URL != "" {
		for i, u := range strings.Split(n.URL, ",") {
			u = strings.TrimSpace(u)
			if !strings.Contains(u, "://") {
				v.add("nats.url", fmt.Sprintf("server %d %q has no scheme (want nats://, tls:// or ws://)", i+1, u))
			}
		}
	}
	v.positive("nats.connect_timeout", n.ConnectTimeout)
	if n.Replicas < 1 || n.Replicas > 5 {
		v.add("nats.replicas", fmt.Sprintf("%d is out of range (1 to 5)", n.Replicas))
	}
	if n.URL == "" {
		if n.Embedded.Port < -1 || n.Embedded.Port > 65535 {
			v.add("nats.embedded.port", fmt.Sprintf("%d is not a port (-1 picks a free one)", n.Embedded.Port))
		}
		if n.Replicas != 1 {
			v.add("nats.replicas", fmt.Sprintf("%d needs a cluster; the embedded server (nats.url empty) is a single node", n.Replicas))
		}
	}

	v.positive("shutdown.drain_timeout", c.Shutdown.DrainTimeout)
	if c.Shutdown.DrainTimeout > 5*time.Minute {
		v.add("shutdown.drain_timeout", fmt.Sprintf("%s is longer than 5m: a stop that slow outlives any orchestrator's grace period", c.Shutdown.DrainTimeout))
	}

	v.streams(c)

	if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
		v.add("admin.listen", fmt.Sprintf("%q is not host:port", c.Admin.Listen))
	}
	in := &c.Ingress
	if _, _, err := net.SplitHostPort(in.Listen); err != nil {
		v.add("ingress.listen", fmt.Sprintf("%q is not host:port", in.Listen))
	}
	switch {
	case !pathRE.MatchString(in.Path):
		v.add("ingress.path", fmt.Sprintf("%q must start with / and hold only letters, digits and . _ ~ - /", in.Path))
	case strings.HasPrefix(in.Path, "/v1/") || in.Path == "/healthz" || in.Path == "/readyz" || in.Path == "/metrics":
		v.add("ingress.path", fmt.Sprintf("%q clashes with /v1/, /healthz, /readyz or /metrics", in.Path))
	}
	seen := map[string]bool{}
	for i, u := range in.Users {
		p := fmt.Sprintf("ingress.users[%d]", i)
		switch {
		case u.Name == "":
			v.add(p+".name", "is required")
		case strings.ContainsAny(u.Name, ":\r\n"):
			v.add(p+".name", fmt.Sprintf("%q must not contain ':' or line breaks (HTTP basic auth)", u.Name))
		case seen[u.Name]:
			v.add(p+".name", fmt.Sprintf("%q is listed twice", u.Name))
		}
		seen[u.Name] = true
		if u.Password != "" {
			v.add(p+".password", "inline secrets are not accepted; use password_env or password_file")
			continue
		}
		v.secret(p+".password", u.PasswordRef())
	}
	if in.MaxBodyBytes < 1024 || in.MaxBodyBytes > 64<<20 {
		v.add("ingress.max_body_bytes", fmt.Sprintf("%d is out of range (1024 to 67108864)", in.MaxBodyBytes))
	}
	v.positive("ingress.read_header_timeout", in.ReadHeaderTimeout)
	v.positive("ingress.read_timeout", in.ReadTimeout)
	v.positive("ingress.write_timeout", in.WriteTimeout)
	v.positive("ingress.idle_timeout", in.IdleTimeout)
	v.positive("ingress.publish_timeout", in.PublishTimeout)
	v.positive("ingress.shutdown_timeout", in.ShutdownTimeout)
	if in.WriteTimeout > 0 && in.PublishTimeout >= in.WriteTimeout {
		v.add("ingress.publish_timeout", fmt.Sprintf("%s must be shorter than ingress.write_timeout %s, or the answer could not be written", in.PublishTimeout, in.WriteTimeout))
	}
	v.oneOf("ingress.rejections", in.Rejections, RejectAuto, RejectStatus, RejectBody)
	if (in.TLS.CertFile == "") != (in.TLS.KeyFile == "") {
		v.add("ingress.tls", "set both cert_file and key_file, or neither")
	}
	v.file("ingress.tls.cert_file", in.TLS.CertFile)
	v.secretFile("ingress.tls.key_file", in.TLS.KeyFile)

	c.validateDispatcher(&v)
	v.itsmSync(c)
	v.notifier(c)
	v.tracing(c.Tracing)
	return errors.Join(v.errs...)
}

// pathRE: a literal URL path (no ServeMux wildcards, spaces or query).
var pathRE = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*$`)

type validator struct{ errs []error }

func (v *validator) add(path, msg string) { v.errs = append(v.errs, &Problem{Path: path, Msg: msg}) }

func (v *validator) oneOf(path, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.add(path, fmt.Sprintf("%q is not one of %s", val, strings.Join(allowed, ", ")))
}

func (v *validator) positive(path string, d interface{ Seconds() float64 }) {
	if d.Seconds() <= 0 {
		v.add(path, fmt.Sprintf("%v must be positive", d))
	}
}

func (v *validator) file(path, name string) {
	if name == "" {
		return
	}
	if _, err := os.Stat(name); err != nil {
		v.add(path, fmt.Sprintf("%q cannot be read: %v", name, errors.Unwrap(err)))
	}
}

// secretFile is file for a file that holds a secret (a private key, credentials): a
// problem with it is a Secret one.
func (v *validator) secretFile(path, name string) {
	n := len(v.errs)
	v.file(path, name)
	v.markSecret(n)
}

// markSecret marks the problems added since the n-th as Secret.
func (v *validator) markSecret(n int) {
	for _, e := range v.errs[n:] {
		e.(*Problem).Secret = true
	}
}

func (v *validator) secret(path string, ref SecretRef) {
	if !ref.IsSet() {
		v.add(path+"_env", "is required (or "+lastKey(path)+"_file)")
		return
	}
	if _, err := ref.Resolve(); err != nil {
		key := path + "_env"
		if ref.Env == "" {
			key = path + "_file"
		}
		n := len(v.errs)
		v.add(key, err.Error())
		if ref.Env == "" || ref.File == "" { // both set is a mistake in the file itself
			v.markSecret(n)
		}
	}
}

func (v *validator) clientTLS(path string, t ClientTLS) {
	v.file(path+".ca_file", t.CAFile)
	v.file(path+".cert_file", t.CertFile)
	v.secretFile(path+".key_file", t.KeyFile)
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.add(path, "set both cert_file and key_file for a client certificate, or neither")
	}
}

func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}
