package config

import (
	"crypto/tls"
	"crypto/x509"
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

	v.nats(&c.NATS)

	v.positive("shutdown.drain_timeout", c.Shutdown.DrainTimeout)
	if c.Shutdown.DrainTimeout > 5*time.Minute {
		v.add("shutdown.drain_timeout", fmt.Sprintf("%s is longer than 5m: a stop that slow outlives any orchestrator's grace period", c.Shutdown.DrainTimeout))
	}

	v.streams(c)

	v.listenAddr("admin.listen", c.Admin.Listen)
	v.ingress(&c.Ingress)

	c.validateDispatcher(&v)
	v.itsmSync(c)
	v.notifier(c)
	v.tracing(c.Tracing)
	return errors.Join(v.errs...)
}

// nats checks nats: credentials (one method, no inline secret), TLS, the servers, replicas
// and the embedded server.
func (v *validator) nats(n *NATS) {
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
		if p := n.Embedded.MonitorPort; p < -1 || p > 65535 || p > 0 && p == n.Embedded.Port {
			v.add("nats.embedded.monitor_port", fmt.Sprintf("%d is not a port of its own (0: none, -1 picks a free one)", p))
		}
		if l := n.Embedded.MemoryLimit; l >= 0 && l < MinEmbeddedMemoryLimit {
			v.add("nats.embedded.memory_limit", fmt.Sprintf("%s is below %s: the garbage collector would run nearly all the time (write unlimited for no limit)", l, MinEmbeddedMemoryLimit))
		}
		if n.Replicas != 1 {
			v.add("nats.replicas", fmt.Sprintf("%d needs a cluster; the embedded server (nats.url empty) is a single node", n.Replicas))
		}
	}
}

// listenAddr checks an address to listen on: host:port, with a port from 0 to 65535 (or
// a service name), as net.Listen will want it at start.
func (v *validator) listenAddr(key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, fmt.Sprintf("%q is not host:port", addr))
		return
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		v.add(key, fmt.Sprintf("%q: port %q is not a port (0 to 65535)", addr, port))
	}
}

// ingress checks ingress: its listener and path, users, limits, timeouts and TLS.
func (v *validator) ingress(in *Ingress) {
	v.listenAddr("ingress.listen", in.Listen)
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
		case badBasicAuthUser(u.Name):
			v.add(p+".name", fmt.Sprintf("%q %s", u.Name, basicAuthUserRule))
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
}

// pathRE: a literal URL path (no ServeMux wildcards, spaces or query).
var pathRE = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*$`)

type validator struct{ errs []error }

func (v *validator) add(path, msg string) { v.errs = append(v.errs, &Problem{Path: path, Msg: msg}) }

// countSet is how many of the settings are set (of keys of which one at most, or exactly
// one, may be).
func countSet(set ...bool) int {
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	return n
}

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
		n := len(v.errs)
		v.add(ref.Key(path), err.Error())
		if ref.Env == "" || ref.File == "" { // both set is a mistake in the file itself
			v.markSecret(n)
		}
	}
}

// clientTLS checks what egress.TLSConfig builds: a CA file that holds a PEM
// certificate, and a client certificate whose cert_file and key_file load as a pair.
func (v *validator) clientTLS(path string, t ClientTLS) {
	n := len(v.errs)
	v.file(path+".ca_file", t.CAFile)
	if t.CAFile != "" && len(v.errs) == n {
		if b, err := os.ReadFile(t.CAFile); err == nil && !x509.NewCertPool().AppendCertsFromPEM(b) {
			v.add(path+".ca_file", fmt.Sprintf("%q holds no PEM certificate", t.CAFile))
		}
	}
	n = len(v.errs)
	v.file(path+".cert_file", t.CertFile)
	v.secretFile(path+".key_file", t.KeyFile)
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		v.add(path, "set both cert_file and key_file for a client certificate, or neither")
	case t.CertFile != "" && len(v.errs) == n:
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			n = len(v.errs)
			v.add(path, fmt.Sprintf("cert_file and key_file do not load as a client certificate: %v", err))
			v.markSecret(n) // it depends on the key file
		}
	}
}

// basicAuthUserRule is what badBasicAuthUser rejects, for messages.
const basicAuthUserRule = "must not contain ':' or line breaks (HTTP basic auth)"

// badBasicAuthUser reports whether name cannot be an HTTP basic-auth user name.
func badBasicAuthUser(name string) bool { return strings.ContainsAny(name, ":\r\n") }

// basicAuthUser checks an HTTP basic-auth user name set literally or by an environment
// variable (see userOrEnv) and, when it can be read, its value (basicAuthUserRule).
func (v *validator) basicAuthUser(path, user, env string) {
	v.userOrEnv(path, user, env)
	switch {
	case user != "":
		if badBasicAuthUser(user) {
			v.add(path, fmt.Sprintf("%q %s", user, basicAuthUserRule))
		}
	case env != "":
		if s, err := (SecretRef{Env: env}).Resolve(); err == nil && badBasicAuthUser(s.Reveal()) {
			n := len(v.errs)
			v.add(path+"_env", fmt.Sprintf("the value of environment variable %s %s", env, basicAuthUserRule))
			v.markSecret(n)
		}
	}
}

func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}
