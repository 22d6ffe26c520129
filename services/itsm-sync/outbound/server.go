// Package outbound is the per-server HTTP client of itsm-sync: each configured server
// gets its own transport (TLS, proxy), auth, rate limit, concurrency cap and circuit
// breaker, and every failure is classified once as transient or permanent (DESIGN §6, §10).
package outbound

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/egress"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
)

// MaxBody is the largest response body Do accepts.
const MaxBody = 1 << 20

// userAgent is sent unless the server's or the action's headers say otherwise.
const userAgent = "triggerflow-itsm-sync"

// Request is one call to a server.
type Request struct {
	Method string
	// Path is appended to the server's base_url and may hold a query. It is never a URL:
	// outbound hosts come only from config (a path with "://" or starting with "//" is a
	// permanent error).
	Path string
	Body []byte
	// Headers are the action's headers; they override the server's.
	Headers map[string]string
	// IdempotencyKey is sent in the server's idempotency_header (unless that is "-" or
	// this is empty).
	IdempotencyKey string
}

// Response is a 2xx answer.
type Response struct {
	Status  int
	Header  http.Header
	Body    []byte // at most MaxBody
	Latency time.Duration
}

// Options are settings shared by every server.
type Options struct {
	// ExcerptBytes bounds response excerpts. Default 512.
	ExcerptBytes int
	// Log receives start-up warnings and breaker transitions. Default slog.Default().
	Log *slog.Logger
	// Tracing makes each request a client span (itsm-sync.http) carrying its
	// traceparent; nil: none.
	Tracing trace.TracerProvider
}

// Server sends requests to one configured server. Safe for concurrent use.
type Server struct {
	name    string
	path    string // servers.<name>
	cfg     config.Server
	base    *url.URL
	baseStr string // base_url without trailing slashes

	transport *http.Transport
	client    *http.Client
	auth      authenticator // nil: none
	limiter   *rate.Limiter // nil: unlimited
	slots     chan struct{}
	breaker   *breaker // nil: disabled
	secrets   *redactor
	excerpt   int
	log       *slog.Logger
}

// tlsRisk completes the insecure_skip_verify warning.
const tlsRisk = "anyone on the network path can read and change the requests to this server, credentials included"

// New builds the client of servers.<name>, as config.Validate accepted it; it does not
// check cfg again. It resolves the secrets once (token and password files are re-read
// when they change), builds TLS, the transport (proxy: the configured URL, "" the
// environment's, "none" none), auth, rate limiter and breaker. Zero settings take their
// config defaults. Errors (a secret or TLS file that does not read) name the config key.
func New(name string, cfg config.Server, o Options) (*Server, error) {
	cfg = withDefaults(name, cfg)
	path := "servers." + name
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("server", name)
	if o.ExcerptBytes <= 0 {
		o.ExcerptBytes = 512
	}

	base, err := url.Parse(cfg.BaseURL)
	if err != nil { // config.Validate reports it; the error quotes the URL, so it is not wrapped
		return nil, fmt.Errorf("%s.base_url: does not parse", path)
	}

	tlsCfg, err := egress.TLSConfig(path+".tls", cfg.TLS, log, tlsRisk)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.MaxIdleConnsPerHost = cfg.Concurrency
	switch cfg.Proxy {
	case "":
		tr.Proxy = http.ProxyFromEnvironment
	case "none":
		tr.Proxy = nil
	default:
		pu, err := url.Parse(cfg.Proxy)
		if err != nil { // as base_url
			return nil, fmt.Errorf("%s.proxy: does not parse", path)
		}
		tr.Proxy = http.ProxyURL(pu)
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	s := &Server{
		name: name, path: path, cfg: cfg, base: base, baseStr: strings.TrimRight(cfg.BaseURL, "/"),
		transport: tr,
		client:    &http.Client{Transport: tracing.Transport(tr, o.Tracing, tracing.SpanITSM, tracing.AttrServer.String(name)), CheckRedirect: noRedirect},
		slots:     make(chan struct{}, cfg.Concurrency),
		secrets:   &redactor{},
		excerpt:   o.ExcerptBytes,
		log:       log,
	}
	s.auth, err = newAuth(path+".auth", cfg.Auth, authDeps{
		server:  path,
		secrets: s.secrets,
		client:  &http.Client{Transport: tr, CheckRedirect: noRedirect, Timeout: cfg.Timeout},
	})
	if err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	if cfg.RateLimit > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.Burst)
	}
	s.breaker = newBreaker(name, cfg.Breaker, log)
	if base.Scheme == "http" && s.auth != nil && s.auth.credentials() {
		log.Warn(path + ".base_url is plain http: the credentials of " + path + ".auth travel unencrypted")
	}
	if o := cfg.Auth.OAuth2; o != nil && strings.HasPrefix(o.TokenURL, "http://") {
		log.Warn(path + ".auth.oauth2.token_url is plain http: client secrets and tokens travel unencrypted")
	}
	return s, nil
}

// withDefaults fills cfg's zero settings with the config defaults (the same code as
// config.Config.SetDefaults), without touching the caller's auth structs.
func withDefaults(name string, cfg config.Server) config.Server {
	a := &cfg.Auth
	if a.Command != nil {
		c := *a.Command
		c.Command = slices.Clone(c.Command)
		a.Command = &c
	}
	if a.OAuth2 != nil {
		c := *a.OAuth2
		a.OAuth2 = &c
	}
	c := config.Config{Servers: map[string]config.Server{name: cfg}}
	c.SetDefaults()
	return c.Servers[name]
}

// NewSet builds every server, all or nothing (the errors joined).
func NewSet(servers map[string]config.Server, o Options) (map[string]*Server, error) {
	names := make([]string, 0, len(servers))
	for n := range servers {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make(map[string]*Server, len(servers))
	var errs []error
	for _, n := range names {
		s, err := New(n, servers[n], o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[n] = s
	}
	if len(errs) > 0 {
		for _, s := range out {
			s.Close()
		}
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Name is the server's name in config.
func (s *Server) Name() string { return s.name }

// Retry is the server's retry policy (itsm_sync.retry merged in).
func (s *Server) Retry() config.Retry { return s.cfg.Retry }

// Excerpt is a bounded one-line excerpt of body with the server's secrets and anything
// that looks like a credential stripped.
func (s *Server) Excerpt(body []byte) string {
	return egress.Snippet(body, s.secrets.list(), s.excerpt)
}

// BreakerState is "closed", "open" or "half-open" ("closed" when the breaker is disabled).
func (s *Server) BreakerState() string { return s.breaker.state() }

// Close closes idle connections.
func (s *Server) Close() { s.transport.CloseIdleConnections() }
