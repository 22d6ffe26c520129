package config

import "time"

// Server is an outbound ITSM server (WFI vocabulary: a workflow's default server, or an
// additional one a route names). itsm-sync sends each of its operations with this
// server's auth, TLS, headers, timeout, proxy, rate limit, concurrency cap, circuit
// breaker and retry policy; servers are isolated from each other (DESIGN §6).
type Server struct {
	// BaseURL is prefixed to every action's path, e.g. https://x.service-now.com.
	BaseURL string `yaml:"base_url"`
	// Headers are sent with every request (an action's headers override them).
	Headers map[string]string `yaml:"headers"`
	// Timeout of one request, connection to last body byte. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// Proxy is an http(s) proxy URL. Empty: the environment's HTTPS_PROXY/NO_PROXY;
	// "none": never a proxy.
	Proxy string `yaml:"proxy"`
	// TLS: verification is on unless insecure_skip_verify (logged at WARN at start-up).
	TLS  ClientTLS  `yaml:"tls"`
	Auth ServerAuth `yaml:"auth"`
	// RateLimit is the most requests per second one replica sends; 0: no limit.
	RateLimit float64 `yaml:"rate_limit"`
	// Burst of the rate limit. Default 1 (or RateLimit rounded up).
	Burst int `yaml:"burst"`
	// Concurrency is the most requests in flight per replica. Default 8.
	Concurrency int     `yaml:"concurrency"`
	Breaker     Breaker `yaml:"breaker"`
	// Retry overrides itsm_sync.retry for this server (zero fields keep the global value).
	Retry Retry `yaml:"retry"`
	// IdempotencyHeader carries the operation id on every request. Default
	// "Idempotency-Key"; "-" sends none.
	IdempotencyHeader string `yaml:"idempotency_header"`
	// Inbound is the server's callback endpoint on the ingress (ITSM-led change).
	Inbound *Inbound `yaml:"inbound"`
}

// ServerAuth is at most one way to authenticate to a server.
type ServerAuth struct {
	Basic   *BasicAuth   `yaml:"basic"`
	Bearer  *BearerAuth  `yaml:"bearer"`
	OAuth2  *OAuth2Auth  `yaml:"oauth2"`
	Command *CommandAuth `yaml:"command"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	User         string `yaml:"user"`
	UserEnv      string `yaml:"user_env"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	Password     string `yaml:"password"` // rejected: secrets never inline
}

// PasswordRef is where the password lives.
func (b BasicAuth) PasswordRef() SecretRef {
	return SecretRef{Env: b.PasswordEnv, File: b.PasswordFile}
}

// BearerAuth sends a static token. A token_file is re-read when it changes (a rotated
// Kubernetes Secret).
type BearerAuth struct {
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	Token     string `yaml:"token"` // rejected: secrets never inline
	// Header carries the token. Default "Authorization".
	Header string `yaml:"header"`
	// Scheme prefixes the token in the header. Default "Bearer" for Authorization, none
	// for any other header.
	Scheme string `yaml:"scheme"`
}

// TokenRef is where the token lives.
func (b BearerAuth) TokenRef() SecretRef { return SecretRef{Env: b.TokenEnv, File: b.TokenFile} }

// OAuth2 grants.
const (
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// OAuth2Auth obtains tokens from a token endpoint (golang.org/x/oauth2); tokens are
// cached and refreshed before they expire.
type OAuth2Auth struct {
	// Grant is password, refresh_token or client_credentials.
	Grant            string   `yaml:"grant"`
	TokenURL         string   `yaml:"token_url"`
	ClientID         string   `yaml:"client_id"`
	ClientSecretEnv  string   `yaml:"client_secret_env"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"`
	// Username and password of the password grant.
	Username     string `yaml:"username"`
	UsernameEnv  string `yaml:"username_env"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// RefreshToken of the refresh_token grant.
	RefreshTokenEnv  string `yaml:"refresh_token_env"`
	RefreshTokenFile string `yaml:"refresh_token_file"`
	// AuthStyle: how the client credentials reach the token endpoint: header (basic),
	// params (form body) or auto (try both, remember). Default auto.
	AuthStyle string `yaml:"auth_style"`
}

// ClientSecretRef is where the client secret lives.
func (o OAuth2Auth) ClientSecretRef() SecretRef {
	return SecretRef{Env: o.ClientSecretEnv, File: o.ClientSecretFile}
}

// PasswordRef is where the password-grant password lives.
func (o OAuth2Auth) PasswordRef() SecretRef {
	return SecretRef{Env: o.PasswordEnv, File: o.PasswordFile}
}

// RefreshTokenRef is where the refresh token lives.
func (o OAuth2Auth) RefreshTokenRef() SecretRef {
	return SecretRef{Env: o.RefreshTokenEnv, File: o.RefreshTokenFile}
}

// CommandAuth runs an executable whose standard output (trimmed) is the token.
type CommandAuth struct {
	Command []string `yaml:"command"`
	// CacheFor is how long a token is reused. Default 5m.
	CacheFor time.Duration `yaml:"cache_for"`
	// Timeout of one run. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	Header  string        `yaml:"header"` // as BearerAuth.Header
	Scheme  string        `yaml:"scheme"` // as BearerAuth.Scheme
}

// Breaker is a per-server circuit breaker: after Failures consecutive transient failures
// no request goes out for OpenFor; then one probe decides.
type Breaker struct {
	// Failures opens the breaker. Default 5; -1 disables the breaker.
	Failures int `yaml:"failures"`
	// OpenFor before a probe. Default 30s.
	OpenFor time.Duration `yaml:"open_for"`
}

// Retry is how transient failures (network errors, timeouts, 408, 429, 5xx) are retried.
// Waits grow exponentially from Backoff with ±20 % jitter up to MaxBackoff; a server's
// Retry-After (seconds or an HTTP date) is honoured, clamped to MaxRetryAfter.
type Retry struct {
	// Attempts is the most requests per operation. Default 8.
	Attempts int `yaml:"attempts"`
	// MaxAge: an operation older than this (since it was planned) is not retried. Default 24h.
	MaxAge        time.Duration `yaml:"max_age"`
	Backoff       time.Duration `yaml:"backoff"`         // default 1s
	MaxBackoff    time.Duration `yaml:"max_backoff"`     // default 5m
	MaxRetryAfter time.Duration `yaml:"max_retry_after"` // default 10m
}

// Merge returns r with its zero fields taken from def.
func (r Retry) Merge(def Retry) Retry {
	if r.Attempts == 0 {
		r.Attempts = def.Attempts
	}
	if r.MaxAge == 0 {
		r.MaxAge = def.MaxAge
	}
	if r.Backoff == 0 {
		r.Backoff = def.Backoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = def.MaxBackoff
	}
	if r.MaxRetryAfter == 0 {
		r.MaxRetryAfter = def.MaxRetryAfter
	}
	return r
}

// ITSMSync configures the service that performs itsm and securechange operations.
type ITSMSync struct {
	// AckWait is how long an operation held by a replica that died (kill -9, node lost)
	// stays unavailable before JetStream redelivers it; a live replica keeps the
	// operations it is performing with in-progress acks. Default 30s.
	AckWait time.Duration `yaml:"ack_wait"`
	// PullBatch, WaitForCreate and WaitPoll are no longer used (a warning says so):
	// each lane performs one operation at a time, and an update waits for its create by
	// being behind it in its lane.
	PullBatch     int           `yaml:"pull_batch"`
	WaitForCreate time.Duration `yaml:"wait_for_create"`
	WaitPoll      time.Duration `yaml:"wait_poll"`
	// Retry is the default retry policy of every server and of SecureChange write-backs.
	Retry Retry `yaml:"retry"`
	// Placeholders are custom WFI placeholders: name → template (may use other
	// placeholders). Resolved before the predefined ones and the ticket's fields, as in WFI.
	Placeholders map[string]string `yaml:"placeholders"`
	// ExcerptBytes bounds the response excerpt kept per attempt. Default 512.
	ExcerptBytes int `yaml:"excerpt_bytes"`
	// Instance names this replica in results. Default: the host name.
	Instance string `yaml:"instance"`
}

// Lookup is a lookup-before-create: before re-sending a create that may already have
// been accepted (a redelivery), ask the server whether the record exists. Its path and
// body are templates; Found is a path (gjson syntax) in the answer that exists when the
// record does. The answer then stands in for the create's response: Response maps it
// (default: the action's own response mapping).
type Lookup struct {
	Method   string       `yaml:"method"` // default GET
	Path     string       `yaml:"path"`
	Found    string       `yaml:"found"`
	Response *ResponseMap `yaml:"response"`
}

func (c *Config) setITSMDefaults() {
	s := &c.ITSMSync
	orDefault(&s.AckWait, 30*time.Second)
	s.Retry = s.Retry.Merge(Retry{Attempts: 8, MaxAge: 24 * time.Hour, Backoff: time.Second, MaxBackoff: 5 * time.Minute, MaxRetryAfter: 10 * time.Minute})
	if s.ExcerptBytes == 0 {
		s.ExcerptBytes = 512
	}
	for name, sv := range c.Servers {
		orDefault(&sv.Timeout, 30*time.Second)
		if sv.Concurrency == 0 {
			sv.Concurrency = 8
		}
		if sv.Burst == 0 {
			sv.Burst = max(1, int(sv.RateLimit+0.999))
		}
		if sv.Breaker.Failures == 0 {
			sv.Breaker.Failures = 5
		}
		orDefault(&sv.Breaker.OpenFor, 30*time.Second)
		sv.Retry = sv.Retry.Merge(s.Retry)
		if sv.IdempotencyHeader == "" {
			sv.IdempotencyHeader = "Idempotency-Key"
		}
		if a := sv.Auth.Command; a != nil {
			orDefault(&a.CacheFor, 5*time.Minute)
			orDefault(&a.Timeout, 10*time.Second)
		}
		if a := sv.Auth.OAuth2; a != nil && a.AuthStyle == "" {
			a.AuthStyle = "auto"
		}
		c.Servers[name] = sv
	}
}
