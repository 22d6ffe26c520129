// Package config loads and validates triggerflow.yaml: one file, every service reads its part.
//
// Loading is two steps, as in Caddy: Load decodes the YAML (unknown keys are errors, with
// their line) and fills defaults; Validate reports every remaining problem at once, each
// naming its key path. Secrets are never read from the YAML itself: a key names an
// environment variable (`password_env`) or a file (`password_file`, e.g. a Kubernetes Secret).
package config

import (
	"time"
)

// Config is the whole of triggerflow.yaml.
type Config struct {
	Log     Log     `yaml:"log"`
	NATS    NATS    `yaml:"nats"`
	Streams Streams `yaml:"streams"`
	Ingress Ingress `yaml:"ingress"`

	// Admin is the operational listener (/healthz, /readyz, /metrics) of the commands
	// without the ingress (which serves them on its own port).
	Admin Admin `yaml:"admin"`

	SecureChange SecureChange      `yaml:"securechange"`
	Servers      map[string]Server `yaml:"servers"`
	Dispatcher   Dispatcher        `yaml:"dispatcher"`
	ITSMSync     ITSMSync          `yaml:"itsm_sync"`
	Routes       []Route           `yaml:"routes"`
	// InboundRoutes map ITSM callbacks to SecureChange actions.
	InboundRoutes []InboundRoute `yaml:"inbound_routes"`

	SMTP          SMTP          `yaml:"smtp"`
	Notifications Notifications `yaml:"notifications"`
	Notifier      Notifier      `yaml:"notifier"`

	Shutdown Shutdown `yaml:"shutdown"`

	// Tracing is OpenTelemetry tracing (off by default).
	Tracing Tracing `yaml:"tracing"`

	// Warnings are what Load found worth saying that does not stop a start: keys that no
	// longer do anything, risky but valid settings. `config check` prints them and the
	// services log them at start-up.
	Warnings []*Problem `yaml:"-"`

	lines lineIndex // key path -> line, for Line
}

// Shutdown configures the graceful stop (SIGTERM) of the services that consume streams
// (dispatcher, itsm-sync, notifier).
type Shutdown struct {
	// DrainTimeout: on SIGTERM every consumer stops pulling at once and gives back what it
	// had not started; operations in flight get this long to finish and be recorded.
	// Then they are cut off and given back (their outcome is unknown: the next attempt
	// runs the action's lookup). Default 10s; keep it well under the pod's
	// terminationGracePeriodSeconds (30s by default).
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// StopTimeout is how long a process gives its services to stop: the drain plus the
// time to record and hand back what was in flight.
func (c *Config) StopTimeout() time.Duration { return c.Shutdown.DrainTimeout + 10*time.Second }

// Admin configures the operational HTTP listener.
type Admin struct {
	// Listen address. Default ":9090".
	Listen string `yaml:"listen"`
	// Pprof serves net/http/pprof's /debug/pprof/ on this listener too (CPU, heap,
	// goroutine profiles, execution traces, the command line). Default false: it is for
	// a diagnosis, and logs a warning at start.
	Pprof bool `yaml:"pprof"`
}

// Log configures log/slog.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// NATS is the connection every service uses. An empty URL means "run an embedded
// nats-server with JetStream in this process" (only `triggerflow all` and tests can).
type NATS struct {
	URL  string `yaml:"url"`
	Name string `yaml:"name"`
	// User and PasswordEnv/PasswordFile: user/password authentication.
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	Password     string `yaml:"password"` // rejected: secrets never inline
	// NKeySeedFile: NKey authentication with the seed in this file.
	NKeySeedFile string `yaml:"nkey_seed_file"`
	// CredsFile: a decentralised-auth credentials file (JWT + seed).
	CredsFile      string        `yaml:"creds_file"`
	TLS            ClientTLS     `yaml:"tls"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Replicas of every stream (1 on a single server, 3 on a cluster).
	Replicas int      `yaml:"replicas"`
	Embedded Embedded `yaml:"embedded"`
}

// ClientTLS configures TLS towards a server.
type ClientTLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify turns certificate verification off. Logged loudly at start-up.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Enabled reports whether any TLS setting is present.
func (t ClientTLS) Enabled() bool {
	return t.CAFile != "" || t.CertFile != "" || t.InsecureSkipVerify
}

// Embedded configures the in-process nats-server used when nats.url is empty.
type Embedded struct {
	// Host and Port the embedded server listens on so the `nats` CLI can reach it.
	// Port -1 picks a free port. Default 127.0.0.1:4222.
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// StoreDir holds JetStream's files. Default .triggerflow/nats.
	StoreDir string `yaml:"store_dir"`
	// MonitorPort, when set, serves nats-server's monitoring endpoints (/varz, /jsz,
	// /connz, /healthz) on Host:MonitorPort, as nats-server's -m does. 0 (the default):
	// none; -1 picks a free port.
	MonitorPort int `yaml:"monitor_port"`
	// MemoryLimit is the Go soft memory limit (runtime/debug.SetMemoryLimit) of the
	// process that runs the embedded server: the garbage collector works harder as the
	// heap nears it, so that `triggerflow all` stays near it with tens of thousands of
	// triggers stored, at the cost of some CPU. GOMEMLIMIT in the environment wins;
	// "unlimited" sets none. Default DefaultEmbeddedMemoryLimit; at least
	// MinEmbeddedMemoryLimit.
	MemoryLimit ByteSize `yaml:"memory_limit"`
}

// DefaultEmbeddedMemoryLimit is nats.embedded.memory_limit's default: `triggerflow all`
// with 60,000 triggers stored peaks at about 190 MiB under it (README, "Whole-pipeline
// benchmark").
const DefaultEmbeddedMemoryLimit ByteSize = 150 << 20

// MinEmbeddedMemoryLimit is the smallest nats.embedded.memory_limit accepted: below it
// the collector of a working `triggerflow all` would run nearly all the time.
const MinEmbeddedMemoryLimit ByteSize = 96 << 20

// Streams holds the stream knobs of DESIGN §5 (see streams.go).
type Streams struct {
	// Limits by stream name (SCW_TRIGGERS, SCW_OPS, …): how long, and how many bytes, each
	// keeps. Unset streams and fields take events.DefaultLimits (a year of a large
	// SecureChange's triggers; README, "Stream limits and sizing").
	Limits map[string]StreamLimit `yaml:"limits"`
	// TriggerMaxAge is deprecated (a warning says so): limits.SCW_TRIGGERS.max_age.
	TriggerMaxAge time.Duration `yaml:"trigger_max_age"`
	// Duplicates is the dedup window; SecureChange's five retries must fall inside it.
	// Default and minimum 10m.
	Duplicates time.Duration `yaml:"duplicates"`
}

// Ingress configures the HTTP endpoint the mediator posts to.
type Ingress struct {
	// Listen address. Default ":8000".
	Listen string `yaml:"listen"`
	// Path of the seed mediator's endpoint. Default "/trigger_file".
	Path string `yaml:"path"`
	// Users allowed to post (HTTP basic auth). Required unless started with --dev.
	Users []User `yaml:"users"`
	// MaxBodyBytes caps a request body. Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Timeouts of the HTTP server.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// PublishTimeout bounds the wait for JetStream's acknowledgement. Default 5s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// ShutdownTimeout bounds the graceful drain of in-flight requests. Default 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Rejections chooses how bad input is answered on the mediator path:
	//   auto   (default) curl clients (the seed mediator) get 200 {"error":{output, returnCode:65}},
	//          so the mediator prints the reason and exits 65; other clients get a 4xx.
	//   status always a 4xx with the JSON error body.
	//   body   always 200 with {"error":{…}}.
	Rejections string `yaml:"rejections"`
	// TLS serves HTTPS when both files are set.
	TLS ServerTLS `yaml:"tls"`
	// Instance names this ingress in stored events. Default: the host name.
	Instance string `yaml:"instance"`
}

// ServerTLS configures a TLS listener.
type ServerTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// User is one HTTP basic-auth identity.
type User struct {
	Name         string `yaml:"name"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	Password     string `yaml:"password"` // rejected: secrets never inline
}

// Rejection styles for Ingress.Rejections.
const (
	RejectAuto   = "auto"
	RejectStatus = "status"
	RejectBody   = "body"
)

// MinDuplicates is the smallest dedup window accepted: SecureChange retries a failed
// script up to five times, and every retry must land inside the window.
const MinDuplicates = 10 * time.Minute

// orDefault sets *p to v when *p is the zero value: the one way a default is applied.
func orDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// SetDefaults fills every zero value with its default.
func (c *Config) SetDefaults() {
	orDefault(&c.Log.Level, "info")
	orDefault(&c.Log.Format, "text")
	orDefault(&c.Admin.Listen, ":9090")

	orDefault(&c.NATS.Name, "triggerflow")
	orDefault(&c.NATS.ConnectTimeout, 5*time.Second)
	orDefault(&c.NATS.Replicas, 1)
	orDefault(&c.NATS.Embedded.Host, "127.0.0.1")
	orDefault(&c.NATS.Embedded.Port, 4222)
	orDefault(&c.NATS.Embedded.StoreDir, ".triggerflow/nats")
	orDefault(&c.NATS.Embedded.MemoryLimit, DefaultEmbeddedMemoryLimit)

	c.setStreamDefaults()
	orDefault(&c.Streams.Duplicates, MinDuplicates)

	in := &c.Ingress
	orDefault(&in.Listen, ":8000")
	orDefault(&in.Path, "/trigger_file")
	orDefault(&in.MaxBodyBytes, 1<<20)
	orDefault(&in.ReadHeaderTimeout, 5*time.Second)
	orDefault(&in.ReadTimeout, 30*time.Second)
	orDefault(&in.WriteTimeout, 30*time.Second)
	orDefault(&in.IdleTimeout, 120*time.Second)
	orDefault(&in.PublishTimeout, 5*time.Second)
	orDefault(&in.ShutdownTimeout, 10*time.Second)
	orDefault(&in.Rejections, RejectAuto)

	sc := &c.SecureChange
	orDefault(&sc.Timeout, 30*time.Second)
	orDefault(&sc.RetryBackoff, 500*time.Millisecond)

	c.setDispatcherDefaults()
	c.setITSMDefaults()
	c.setInboundDefaults()
	c.setNotifierDefaults()
	orDefault(&c.Shutdown.DrainTimeout, 10*time.Second)
	c.setTracingDefaults()
	for i := range c.Routes {
		on := &c.Routes[i].On
		if on.Point == "" {
			on.Point = PointWorkflow
			if on.Step != "" {
				on.Point = PointStep
			}
		}
	}
}

// setDispatcherDefaults fills the dispatcher's and its plugins' defaults.
func (c *Config) setDispatcherDefaults() {
	d := &c.Dispatcher
	orDefault(&d.AckWait, 30*time.Second)
	orDefault(&d.MaxAge, 24*time.Hour)
	if d.Backoff == nil {
		d.Backoff = []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute}
	}
	for i := range d.Plugins {
		p := &d.Plugins[i]
		if p.Format == "" {
			p.Format = "json"
			if len(p.Command) > 0 {
				p.Format = "kvgroup"
			}
		}
		orDefault(&p.Timeout, 10*time.Second)
		orDefault(&p.MaxRuns, 3)
	}
}

// Default returns a Config with every default filled in.
func Default() *Config {
	c := &Config{}
	c.SetDefaults()
	return c
}
