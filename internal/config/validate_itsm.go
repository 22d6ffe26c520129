package config

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// itsmSync checks itsm_sync, every server's client settings (base_url itself is checked
// by validateDispatcher) and the lookups of routes' itsm actions.
func (v *validator) itsmSync(c *Config) {
	s := &c.ITSMSync
	v.positive("itsm_sync.ack_wait", s.AckWait)
	v.retry("itsm_sync.retry", s.Retry, nil)
	if s.ExcerptBytes < 64 || s.ExcerptBytes > 64<<10 {
		v.add("itsm_sync.excerpt_bytes", fmt.Sprintf("%d is out of range (64 to 65536)", s.ExcerptBytes))
	}
	for _, name := range sortedKeys(s.Placeholders) {
		switch {
		case strings.TrimSpace(name) == "":
			v.add("itsm_sync.placeholders", fmt.Sprintf("%q: a placeholder needs a name", name))
		case strings.Contains(name, "#"):
			v.add("itsm_sync.placeholders."+name, fmt.Sprintf("%q must not contain '#' (it is written #%s# in templates)", name, strings.Trim(name, "#")))
		}
	}

	for _, name := range slices.Sorted(maps.Keys(c.Servers)) {
		sv := c.Servers[name]
		v.server("servers."+name, sv, s.Retry)
		v.inbound(c, name)
	}

	for i, r := range c.Routes {
		for j, a := range r.Actions {
			if a.ITSM == nil {
				continue
			}
			path := fmt.Sprintf("routes[%d].actions[%d].itsm", i, j)
			v.serverPath(path+".path", a.ITSM.Path)
			if l := a.ITSM.Lookup; l != nil {
				if l.Method != "" {
					v.oneOf(path+".lookup.method", l.Method, http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete)
				}
				if !strings.HasPrefix(l.Path, "/") {
					v.add(path+".lookup.path", fmt.Sprintf("%q must start with /", l.Path))
				} else {
					v.serverPath(path+".lookup.path", l.Path)
				}
				if strings.TrimSpace(l.Found) == "" {
					v.add(path+".lookup.found", "is required: the path in the answer that exists when the record does (e.g. result.0.sys_id)")
				}
			}
		}
	}
}

// baseURL checks what a base URL (an http(s) URL: httpURL) must not hold: credentials,
// which belong in the keys credsIn names, and a query or fragment (why says why).
func (v *validator) baseURL(path, raw, credsIn, why string) {
	u, err := url.Parse(raw)
	if err != nil {
		return
	}
	if u.User != nil {
		v.add(path, "must not hold credentials (user:password@): secrets are never inline; use "+credsIn)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		v.add(path, fmt.Sprintf("%q must not hold a query or fragment: %s", redactURL(raw), why))
	}
}

// serverPath rejects a path that would name another host: outbound hosts come only from
// servers.<name>.base_url (DESIGN §12). A missing leading / is reported elsewhere.
func (v *validator) serverPath(path, p string) {
	beforeQuery, _, _ := strings.Cut(p, "?")
	if strings.HasPrefix(p, "/") && (strings.HasPrefix(p, "//") || strings.Contains(beforeQuery, "://")) {
		v.add(path, fmt.Sprintf("%q must be a path on the server, not a URL: hosts come only from servers.<name>.base_url", p))
	}
}

// server checks one servers.<name> entry; global is itsm_sync.retry, which the server's
// retry inherits (so an inherited bad value is reported once, under itsm_sync.retry).
func (v *validator) server(path string, s Server, global Retry) {
	v.baseURL(path+".base_url", s.BaseURL, path+".auth", "actions' paths carry queries")
	authHeader := ""
	switch {
	case s.Auth.Bearer != nil:
		authHeader = http.CanonicalHeaderKey(defaultStr(s.Auth.Bearer.Header, "Authorization"))
	case s.Auth.Command != nil:
		authHeader = http.CanonicalHeaderKey(defaultStr(s.Auth.Command.Header, "Authorization"))
	case s.Auth.Basic != nil || s.Auth.OAuth2 != nil:
		authHeader = "Authorization"
	}
	for _, k := range sortedKeys(s.Headers) {
		hp := path + ".headers." + k
		switch ck := http.CanonicalHeaderKey(k); {
		case !ValidHeaderName(k):
			v.add(hp, fmt.Sprintf("%q is not a valid header name", k))
		case ck == authHeader:
			v.add(hp, fmt.Sprintf("%s is set by %s.auth; remove it here", ck, path))
		case ck == "Authorization":
			v.add(hp, "inline secrets are not accepted; use "+path+".auth (bearer with header and scheme for a custom one)")
		}
		if strings.ContainsAny(s.Headers[k], "\r\n\x00") {
			v.add(hp, "the value must not contain line breaks or NUL")
		}
	}
	v.positive(path+".timeout", s.Timeout)
	switch s.Proxy {
	case "", "none":
	default:
		u, err := url.Parse(s.Proxy)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.add(path+".proxy", fmt.Sprintf("%q is not an http(s) URL (or empty for the environment's proxy, or none)", redactURL(s.Proxy)))
		case u.User != nil:
			v.add(path+".proxy", fmt.Sprintf("%q holds credentials: secrets are never inline", redactURL(s.Proxy)))
		}
	}
	v.clientTLS(path+".tls", s.TLS)
	if math.IsNaN(s.RateLimit) || math.IsInf(s.RateLimit, 0) || s.RateLimit < 0 {
		v.add(path+".rate_limit", fmt.Sprintf("%v must be 0 (no limit) or a positive number of requests per second", s.RateLimit))
	}
	if s.Burst < 1 {
		v.add(path+".burst", fmt.Sprintf("%d must be at least 1", s.Burst))
	}
	if s.Concurrency < 1 {
		v.add(path+".concurrency", fmt.Sprintf("%d must be at least 1", s.Concurrency))
	}
	if s.Breaker.Failures < 1 && s.Breaker.Failures != -1 {
		v.add(path+".breaker.failures", fmt.Sprintf("%d must be at least 1 (or -1 to disable the breaker)", s.Breaker.Failures))
	}
	v.positive(path+".breaker.open_for", s.Breaker.OpenFor)
	v.retry(path+".retry", s.Retry, &global)
	if h := s.IdempotencyHeader; h != "-" && !ValidHeaderName(h) {
		v.add(path+".idempotency_header", fmt.Sprintf("%q is not a valid header name (or - to send none)", h))
	}
	v.serverAuth(path+".auth", s.Auth)
}

// retry checks a retry policy. With inherited set, only the fields that differ from it
// are checked: the others were merged in from it and are reported there.
func (v *validator) retry(path string, r Retry, inherited *Retry) {
	var in Retry
	if inherited != nil {
		in = *inherited
	}
	own := func(differs bool) bool { return inherited == nil || differs }
	if own(r.Attempts != in.Attempts) && r.Attempts < 1 {
		v.add(path+".attempts", fmt.Sprintf("%d must be at least 1", r.Attempts))
	}
	for _, d := range []struct {
		key   string
		d, in time.Duration
	}{
		{"max_age", r.MaxAge, in.MaxAge},
		{"backoff", r.Backoff, in.Backoff},
		{"max_backoff", r.MaxBackoff, in.MaxBackoff},
		{"max_retry_after", r.MaxRetryAfter, in.MaxRetryAfter},
	} {
		if own(d.d != d.in) {
			v.positive(path+"."+d.key, d.d)
		}
	}
	if own(r.Backoff != in.Backoff || r.MaxBackoff != in.MaxBackoff) && r.Backoff > 0 && r.MaxBackoff > 0 && r.MaxBackoff < r.Backoff {
		v.add(path+".max_backoff", fmt.Sprintf("%s is shorter than %s.backoff %s", r.MaxBackoff, path, r.Backoff))
	}
}

// serverAuth checks servers.<name>.auth: at most one mode, secrets from env or files.
func (v *validator) serverAuth(path string, a ServerAuth) {
	if countSet(a.Basic != nil, a.Bearer != nil, a.OAuth2 != nil, a.Command != nil) > 1 {
		v.add(path, "set at most one of basic, bearer, oauth2 and command")
	}
	if b := a.Basic; b != nil {
		p := path + ".basic"
		v.basicAuthUser(p+".user", b.User, b.UserEnv)
		if b.Password != "" {
			v.add(p+".password", "inline secrets are not accepted; use password_env or password_file")
		} else {
			v.secret(p+".password", b.PasswordRef())
		}
	}
	if b := a.Bearer; b != nil {
		p := path + ".bearer"
		if b.Token != "" {
			v.add(p+".token", "inline secrets are not accepted; use token_env or token_file")
		} else {
			v.secret(p+".token", b.TokenRef())
		}
		v.headerScheme(p, b.Header, b.Scheme)
	}
	if o := a.OAuth2; o != nil {
		p := path + ".oauth2"
		v.oneOf(p+".grant", o.Grant, GrantPassword, GrantRefreshToken, GrantClientCredentials)
		v.httpURL(p+".token_url", o.TokenURL)
		if o.ClientID == "" {
			v.add(p+".client_id", "is required")
		}
		if o.ClientSecretRef().IsSet() || o.Grant == GrantClientCredentials {
			v.secret(p+".client_secret", o.ClientSecretRef())
		}
		if o.Grant == GrantPassword {
			v.userOrEnv(p+".username", o.Username, o.UsernameEnv)
			v.secret(p+".password", o.PasswordRef())
		} else if o.Username != "" || o.UsernameEnv != "" || o.PasswordRef().IsSet() {
			v.add(p+".username", fmt.Sprintf("username and password are only used by the password grant, not %q", o.Grant))
		}
		if o.Grant == GrantRefreshToken {
			v.secret(p+".refresh_token", o.RefreshTokenRef())
		} else if o.RefreshTokenRef().IsSet() {
			v.add(p+".refresh_token_env", fmt.Sprintf("a refresh token is only used by the refresh_token grant, not %q", o.Grant))
		}
		v.oneOf(p+".auth_style", o.AuthStyle, "header", "params", "auto")
	}
	if c := a.Command; c != nil {
		p := path + ".command"
		switch {
		case len(c.Command) == 0 || c.Command[0] == "":
			v.add(p+".command", "is required: the program and its arguments, e.g. [/usr/local/bin/get-token, --audience, itsm]")
		case strings.Contains(c.Command[0], "/"):
			v.file(p+".command", c.Command[0])
		}
		v.positive(p+".cache_for", c.CacheFor)
		v.positive(p+".timeout", c.Timeout)
		v.headerScheme(p, c.Header, c.Scheme)
	}
}

// userOrEnv checks a user name given literally or through an environment variable.
func (v *validator) userOrEnv(path, user, env string) {
	switch {
	case user == "" && env == "":
		v.add(path, "is required (or "+lastKey(path)+"_env)")
	case user != "" && env != "":
		v.add(path, "set "+lastKey(path)+" or "+lastKey(path)+"_env, not both")
	case env != "":
		v.secret(path, SecretRef{Env: env})
	}
}

func (v *validator) headerScheme(path, header, scheme string) {
	if header != "" && !ValidHeaderName(header) {
		v.add(path+".header", fmt.Sprintf("%q is not a valid header name", header))
	}
	if scheme != "" && !ValidHeaderName(scheme) {
		v.add(path+".scheme", fmt.Sprintf("%q must be one word (e.g. Bearer, Token)", scheme))
	}
}

// ValidHeaderName reports whether s is an HTTP field name (RFC 9110 token).
func ValidHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// redactURL hides whatever may be userinfo (between :// and the last @) of a URL in a
// message, even when the URL does not parse.
func redactURL(raw string) string {
	i, j := strings.Index(raw, "://"), strings.LastIndexByte(raw, '@')
	if i >= 0 && j > i {
		return raw[:i+3] + "[REDACTED]" + raw[j:]
	}
	return raw
}

func defaultStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
