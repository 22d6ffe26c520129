package outbound

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
)

// authenticator puts a server's credentials on a request.
type authenticator interface {
	// apply sets the credentials on req and returns the credential used (for invalidate).
	// Errors are transient unless marked with failure.Permanent.
	apply(ctx context.Context, req *http.Request) (used string, err error)
	// invalidate drops used, a cached token the server refused with 401, and reports
	// whether a fresh credential may differ (so one retry makes sense).
	invalidate(used string) bool
	// credentials reports whether secrets are sent to the server itself.
	credentials() bool
}

// newAuth builds the authenticator of servers.<name>.auth (path); nil when none is set.
// Secrets are resolved now, so a missing one fails at start-up.
func newAuth(path string, a config.ServerAuth, d authDeps) (authenticator, error) {
	switch {
	case a.Basic != nil:
		return newBasicAuth(path+".basic", *a.Basic, d.secrets)
	case a.Bearer != nil:
		b := a.Bearer
		tok, err := newSecretSource(path+".bearer.token", b.TokenRef(), d.secrets)
		if err != nil {
			return nil, err
		}
		header, scheme := headerScheme(b.Header, b.Scheme)
		return &headerAuth{header: header, scheme: scheme, token: tok}, nil
	case a.OAuth2 != nil:
		return newOAuth2Auth(path+".oauth2", *a.OAuth2, d)
	case a.Command != nil:
		return newCommandAuth(path+".command", *a.Command, d.secrets), nil
	}
	return nil, nil
}

// authDeps is what the token-fetching modes share with their server.
type authDeps struct {
	server  string // servers.<name>
	secrets *redactor
	client  *http.Client // for token endpoints: the server's TLS and proxy
}

// headerScheme applies the defaults of BearerAuth/CommandAuth Header and Scheme.
func headerScheme(header, scheme string) (string, string) {
	if header == "" {
		header = "Authorization"
	}
	header = http.CanonicalHeaderKey(header)
	if scheme == "" && header == "Authorization" {
		scheme = "Bearer"
	}
	return header, scheme
}

// secretSource is a secret from the environment (read once) or a file, which is re-read
// when its size or modification time changes (a rotated Kubernetes Secret). Every value
// read is registered for redaction.
type secretSource struct {
	ref     config.SecretRef
	secrets *redactor

	mu      sync.Mutex
	val     string
	modTime time.Time
	size    int64
}

// newSecretSource resolves ref now; errors name the key (path + "_env" or "_file").
func newSecretSource(path string, ref config.SecretRef, secrets *redactor) (*secretSource, error) {
	s := &secretSource{ref: ref, secrets: secrets}
	if ref.File != "" && ref.Env == "" {
		if fi, err := os.Stat(ref.File); err == nil {
			s.modTime, s.size = fi.ModTime(), fi.Size()
		}
	}
	v, err := ref.ResolveAt(path)
	if err != nil {
		return nil, err
	}
	s.val = v.Reveal()
	secrets.add(s.val)
	return s, nil
}

// get returns the current value. A file that changed is re-read; if that fails (a
// rotation in progress), the last value stays in use.
func (s *secretSource) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ref.File == "" {
		return s.val
	}
	fi, err := os.Stat(s.ref.File)
	if err != nil || (fi.ModTime().Equal(s.modTime) && fi.Size() == s.size) {
		return s.val
	}
	v, err := s.ref.Resolve()
	if err != nil {
		return s.val
	}
	s.val, s.modTime, s.size = v.Reveal(), fi.ModTime(), fi.Size()
	s.secrets.add(s.val)
	return s.val
}

// basicAuth is HTTP basic authentication.
type basicAuth struct {
	user    string
	pass    *secretSource
	secrets *redactor

	mu       sync.Mutex
	lastPass string
}

func newBasicAuth(path string, b config.BasicAuth, secrets *redactor) (*basicAuth, error) {
	user, err := config.ResolveUser(path+".user", b.User, b.UserEnv)
	if err != nil {
		return nil, err
	}
	pass, err := newSecretSource(path+".password", b.PasswordRef(), secrets)
	if err != nil {
		return nil, err
	}
	return &basicAuth{user: user, pass: pass, secrets: secrets}, nil
}

func (a *basicAuth) apply(_ context.Context, req *http.Request) (string, error) {
	p := a.pass.get()
	a.mu.Lock()
	if p != a.lastPass {
		a.lastPass = p
		// what the Authorization header carries, in case a server echoes it
		a.secrets.add(base64.StdEncoding.EncodeToString([]byte(a.user + ":" + p)))
	}
	a.mu.Unlock()
	req.SetBasicAuth(a.user, p)
	return p, nil
}

func (*basicAuth) invalidate(string) bool { return false }
func (*basicAuth) credentials() bool      { return true }

// headerAuth sends a static token (bearer): "<header>: [<scheme> ]<token>".
type headerAuth struct {
	header, scheme string
	token          *secretSource
}

func (a *headerAuth) apply(_ context.Context, req *http.Request) (string, error) {
	t := a.token.get()
	req.Header.Set(a.header, withScheme(a.scheme, t))
	return t, nil
}

func (*headerAuth) invalidate(string) bool { return false }
func (*headerAuth) credentials() bool      { return true }

func withScheme(scheme, token string) string {
	if scheme == "" {
		return token
	}
	return scheme + " " + token
}

// token is a fetched credential (OAuth2 access token, command output).
type token struct {
	value  string
	scheme string    // header scheme ("" none)
	expiry time.Time // zero: never expires
}

// tokenCache caches one token and fetches a new one when it nears expiry or was
// invalidated. Concurrent callers share one fetch.
type tokenCache struct {
	fetch func(ctx context.Context) (token, time.Duration, error) // the token and how early to renew it
	lock  chan struct{}                                           // held while fetching

	mu    sync.Mutex
	tok   *token
	early time.Duration
}

func newTokenCache(fetch func(ctx context.Context) (token, time.Duration, error)) *tokenCache {
	return &tokenCache{fetch: fetch, lock: make(chan struct{}, 1)}
}

func (c *tokenCache) cached() (token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == nil || (!c.tok.expiry.IsZero() && !time.Now().Before(c.tok.expiry.Add(-c.early))) {
		return token{}, false
	}
	return *c.tok, true
}

func (c *tokenCache) get(ctx context.Context) (token, error) {
	if t, ok := c.cached(); ok {
		return t, nil
	}
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		return token{}, context.Cause(ctx)
	}
	defer func() { <-c.lock }()
	if t, ok := c.cached(); ok { // fetched while we waited
		return t, nil
	}
	t, early, err := c.fetch(ctx)
	if err != nil {
		return token{}, err
	}
	c.mu.Lock()
	c.tok, c.early = &t, early
	c.mu.Unlock()
	return t, nil
}

// invalidate drops the cached token if it is still value.
func (c *tokenCache) invalidate(value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && c.tok.value == value {
		c.tok = nil
	}
}

// tokenAuth sends a fetched, cached token: "<header>: [<scheme> ]<token>".
type tokenAuth struct {
	header string
	cache  *tokenCache
}

func (a *tokenAuth) apply(ctx context.Context, req *http.Request) (string, error) {
	t, err := a.cache.get(ctx)
	if err != nil {
		return "", err
	}
	req.Header.Set(a.header, withScheme(t.scheme, t.value))
	return t.value, nil
}

func (a *tokenAuth) invalidate(used string) bool {
	a.cache.invalidate(used)
	return true
}

func (*tokenAuth) credentials() bool { return true }

// errNoToken is a fetch that produced an empty token.
var errNoToken = errors.New("no token")
