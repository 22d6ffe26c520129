// Package natsconn connects to NATS (or to the embedded server) and owns the connection's
// life: one *nats.Conn per process, closed by its own fx hook after every service using
// it has stopped. It is also the one owner of what is provisioned on JetStream
// (provision.go): the streams, the key-value buckets and the durable consumers.
package natsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
)

// Embedded is a nats-server running in this process: internal/runtime/embedded provides
// one when nats.url is empty (`triggerflow all`, tests).
type Embedded interface {
	ClientURL() string
	InProcessConn() (net.Conn, error)
}

// ErrNoServer is returned when nats.url is empty and no embedded server was wired in.
var ErrNoServer = errors.New("nats.url is empty and this binary has no embedded nats-server: set nats.url, or run `triggerflow all`")

// Options turns the config into nats.go options. Secrets are resolved here and never logged.
func Options(c config.NATS, log *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.Timeout(c.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err == nil {
				return // our own Drain/Close at shutdown
			}
			log.Warn("nats disconnected", "url", nc.ConnectedUrlRedacted(), "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("nats async error", "subject", subj, "err", err)
		}),
	}
	if c.User != "" {
		pw, err := c.PasswordRef().Resolve()
		if err != nil {
			return nil, fmt.Errorf("nats.password: %w", err)
		}
		opts = append(opts, nats.UserInfo(c.User, pw.Reveal()))
	}
	if c.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats.nkey_seed_file: %w", err)
		}
		opts = append(opts, o)
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLS.Enabled() {
		if c.TLS.CAFile != "" {
			opts = append(opts, nats.RootCAs(c.TLS.CAFile))
		}
		if c.TLS.CertFile != "" {
			opts = append(opts, nats.ClientCert(c.TLS.CertFile, c.TLS.KeyFile))
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.TLS.InsecureSkipVerify {
			log.Warn("nats.tls.insecure_skip_verify is on: the NATS server's certificate is NOT verified; anyone on the path can read and forge events")
			tc.InsecureSkipVerify = true
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

// Params are the inputs of NewConn.
type Params struct {
	fx.In
	Config    *config.Config
	Log       *slog.Logger
	Lifecycle fx.Lifecycle
	Embedded  Embedded `optional:"true"`
}

// NewConn connects to the configured server, or in-process to the embedded one. It
// fails fast when the server cannot be reached; once connected, it reconnects forever.
// The connection drains when the app stops, after the services (fx stops in reverse).
func NewConn(p Params) (*nats.Conn, error) {
	opts, err := Options(p.Config.NATS, p.Log)
	if err != nil {
		return nil, err
	}
	url := p.Config.NATS.URL
	if url == "" {
		if p.Embedded == nil {
			return nil, ErrNoServer
		}
		url = p.Embedded.ClientURL()
		opts = append(opts, nats.InProcessServer(p.Embedded))
	}
	closed := make(chan struct{})
	opts = append(opts, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", Redact(url), err)
	}
	if err := CheckServerVersion(nc.ConnectedServerVersion()); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats %s: %w", Redact(url), err)
	}
	p.Log.Info("nats connected", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
	p.Lifecycle.Append(fx.StopHook(func(ctx context.Context) error {
		if err := nc.Drain(); err != nil {
			nc.Close()
			return nil
		}
		select { // Drain is asynchronous; the stop deadline bounds it
		case <-closed:
		case <-ctx.Done():
			nc.Close()
		}
		return nil
	}))
	return nc, nil
}

// MinServerMinor is the oldest nats-server 2.x triggerflow works with: 2.11 answers direct
// gets of several subjects at once (multi_last, the runner's done check); 2.10 brought
// the partition() subject transforms of the lanes.
const MinServerMinor = 11

// CheckServerVersion refuses a server older than 2.MinServerMinor, naming what it lacks
// (rather than every operation failing later with the server's "bad request").
func CheckServerVersion(v string) error {
	major, rest, _ := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	minor, _, _ := strings.Cut(rest, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return nil // not a version we can read (a proxy, a dev build): let it try
	}
	if ma < 2 || ma == 2 && mi < MinServerMinor {
		return fmt.Errorf("nats-server %s is too old: triggerflow needs 2.%d or newer (direct gets of several subjects, used to check whether an operation is done)", v, MinServerMinor)
	}
	return nil
}

// NewJetStream wraps the connection in the jetstream API (stream management, KV).
func NewJetStream(nc *nats.Conn) (jetstream.JetStream, error) { return jetstream.New(nc) }

// Ready reports whether JetStream answers, within ctx.
func Ready(ctx context.Context, js jetstream.JetStream) error {
	if _, err := js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream not answering: %w", err)
	}
	return nil
}

// Module provides *nats.Conn and jetstream.JetStream and ensures the streams at start.
var Module = fx.Module("nats",
	fx.Provide(NewConn, NewJetStream),
	fx.Invoke(func(lc fx.Lifecycle, c *config.Config, js jetstream.JetStream, log *slog.Logger) {
		lc.Append(fx.StartHook(func(ctx context.Context) error {
			return EnsureStreams(ctx, js, StreamSpecs(c), log)
		}))
	}),
)

// Redact drops credentials from every URL of a comma-separated server list.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, raw := range parts {
		u, err := neturl.Parse(strings.TrimSpace(raw))
		if err != nil {
			parts[i] = "[unparsable url]"
			continue
		}
		parts[i] = u.Redacted()
		if u.User != nil && u.User.Username() != "" {
			if _, hasPw := u.User.Password(); !hasPw { // a token in the user part
				u.User = neturl.User("[REDACTED]")
				parts[i] = u.String()
			}
		}
	}
	return strings.Join(parts, ",")
}

// IsWrongRevision reports whether a key-value compare-and-set (Update, Delete with
// LastRevision) failed because the key changed meanwhile.
func IsWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
