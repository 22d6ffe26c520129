// Package testrig is the one service test rig: it runs a triggerflow command (a service,
// or "all") in the test's process, wired by internal/app exactly as `triggerflow
// <command>` wires it, against a JetStream of its own (natstest.RunJetStream) or the one
// the config names, with everything the services log in a buffer. Every component test
// of a service, and every in-process test of the commands, starts the services through
// Start; what a test varies is its config and, rarely, an fx option (a hook, a span
// exporter, an fx.Replace).
//
// The helpers that need no running service (a JetStream, publishing, CheckFor, a log
// buffer, a self-signed certificate) are in natstest, which this package builds on.
package testrig

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/triggerflow/triggerflow/internal/app"
	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/health"
	"github.com/triggerflow/triggerflow/internal/runtime/health/metricstest"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/ingress"
)

// Patience is how long the rig's waits poll before they fail the test: generous, so a
// loaded machine slows a test down rather than failing it.
const Patience = 2 * time.Minute

// poll is the interval of the rig's waits.
const poll = 20 * time.Millisecond

// Rig is a running command: its services started, a connection of the test's own to
// their JetStream, and what the process exposes.
type Rig struct {
	t testing.TB
	// Cfg is the config the services run with (defaults set, validated).
	Cfg *config.Config
	// NATS is the client URL of the services' JetStream.
	NATS string
	// NC and JS are the test's own connection to that JetStream (not the services').
	NC *nats.Conn
	JS jetstream.JetStream
	// Logs is everything the services logged, at cfg.Log's level and format.
	Logs *natstest.LogBuffer
	// Health serves the process's /healthz, /readyz and /metrics; Registry is its
	// metrics registry.
	Health   health.Handler
	Registry *prometheus.Registry
	// Ingress is the ingress's base URL (http://127.0.0.1:port) when the command runs it.
	Ingress string

	app  *fxtest.App
	stop sync.Once
}

// Start runs command (one of app.Commands) with cfg and the extra fx options, and
// stops it at cleanup (or at Stop). Before it starts:
//   - an empty cfg.NATS.URL becomes a JetStream of the test's own (natstest.RunJetStream),
//     never the embedded server on the default port;
//   - an admin or ingress listener at its default address (:9090, :8000) becomes
//     127.0.0.1:0, so tests run in parallel;
//   - cfg gets its defaults and must validate (the test fails otherwise).
//
// The services log into Rig.Logs; fx's own events are not logged.
func Start(t testing.TB, command string, cfg *config.Config, extra ...fx.Option) *Rig {
	t.Helper()
	if !slices.Contains(app.Commands, command) {
		t.Fatalf("testrig: %q is not a command (%v)", command, app.Commands)
	}
	if cfg.NATS.URL == "" {
		cfg.NATS.URL = natstest.RunJetStream(t).ClientURL()
	}
	def := config.Default()
	if cfg.Admin.Listen == "" || cfg.Admin.Listen == def.Admin.Listen {
		cfg.Admin.Listen = "127.0.0.1:0"
	}
	if cfg.Ingress.Listen == "" || cfg.Ingress.Listen == def.Ingress.Listen {
		cfg.Ingress.Listen = "127.0.0.1:0"
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("testrig: test config: %v", err)
	}
	g := &Rig{t: t, Cfg: cfg, NATS: cfg.NATS.URL, Logs: &natstest.LogBuffer{}}
	opts := append(app.Options(command, cfg, ingress.Options{}),
		fx.Decorate(func(c *config.Config) *slog.Logger { return logging.New(g.Logs, c.Log) }),
		fx.Populate(&g.Health, &g.Registry),
	)
	var srv *ingress.Server
	if slices.Contains(app.Services(command, cfg), "ingress") {
		opts = append(opts, fx.Populate(&srv))
	}
	opts = append(opts, extra...)
	g.app = fxtest.New(t, append(opts, fx.NopLogger)...)
	g.app.RequireStart()
	t.Cleanup(g.Stop)
	if srv != nil {
		g.Ingress = "http://" + srv.Addr()
	}
	g.NC = natstest.Connect(t, g.NATS)
	js, err := jetstream.New(g.NC)
	if err != nil {
		t.Fatalf("testrig: jetstream: %v", err)
	}
	g.JS = js
	return g
}

// T is the test the rig runs for (for helpers built on a Rig).
func (g *Rig) T() testing.TB { return g.t }

// Stop stops the services now (a graceful stop: the drain, then fx's stop hooks), once;
// the cleanup then does nothing.
func (g *Rig) Stop() { g.stop.Do(g.app.RequireStop) }

// Publish stores msgs in order, every acknowledgement awaited (natstest.Publish).
func (g *Rig) Publish(msgs ...*nats.Msg) {
	g.t.Helper()
	natstest.Publish(g.t, g.NC, msgs)
}

// PublishTriggers stores trigger events the way the ingress does.
func (g *Rig) PublishTriggers(evs ...events.TriggerEvent) {
	g.t.Helper()
	natstest.PublishTriggers(g.t, g.NC, evs...)
}

// PublishOps stores operations the way the dispatcher does, with the headers hdr; a
// non-empty idSuffix makes a replay (natstest.PublishOps).
func (g *Rig) PublishOps(hdr map[string]string, idSuffix string, ops ...events.Operation) {
	g.t.Helper()
	natstest.PublishOps(g.t, g.NC, hdr, idSuffix, ops...)
}

// Msgs returns every message of stream whose subject matches subject (NATS wildcards;
// "" for all), in order.
func (g *Rig) Msgs(stream, subject string) []*jetstream.RawStreamMsg {
	g.t.Helper()
	return natstest.Msgs(g.t, g.JS, stream, subject)
}

// Count is the number of messages stored in stream.
func (g *Rig) Count(stream string) uint64 {
	g.t.Helper()
	return natstest.StreamMsgs(g.t, g.JS, stream)
}

// WaitCount polls until stream holds exactly n messages.
func (g *Rig) WaitCount(stream string, n uint64) {
	g.t.Helper()
	natstest.CheckFor(g.t, Patience, poll, func() error {
		if got := g.Count(stream); got != n {
			return fmt.Errorf("%s holds %d messages, want %d", stream, got, n)
		}
		return nil
	})
}

// WaitMsgs polls until at least n messages of stream match subject, and returns them.
func (g *Rig) WaitMsgs(stream, subject string, n int) []*jetstream.RawStreamMsg {
	g.t.Helper()
	var ms []*jetstream.RawStreamMsg
	natstest.CheckFor(g.t, Patience, poll, func() error {
		if ms = g.Msgs(stream, subject); len(ms) < n {
			return fmt.Errorf("%d messages on %s in %s, want %d", len(ms), subject, stream, n)
		}
		return nil
	})
	return ms
}

// Results decodes the results stored on subject (in SCW_RESULTS), in order.
func (g *Rig) Results(subject string) []events.Result {
	g.t.Helper()
	var out []events.Result
	for _, m := range g.Msgs(events.StreamResults, subject) {
		r, err := events.UnmarshalResult(m.Data)
		if err != nil {
			g.t.Fatalf("testrig: result on %s: %v", m.Subject, err)
		}
		out = append(out, r)
	}
	return out
}

// WaitResults polls until at least n results are stored on subject, and returns them.
func (g *Rig) WaitResults(subject string, n int) []events.Result {
	g.t.Helper()
	var rs []events.Result
	natstest.CheckFor(g.t, Patience, poll, func() error {
		if rs = g.Results(subject); len(rs) < n {
			return fmt.Errorf("%d results on %s, want %d", len(rs), subject, n)
		}
		return nil
	})
	return rs
}

// ServeHealth serves Health (/healthz, /readyz, /metrics) on an httptest server closed
// at cleanup, and returns its URL.
func (g *Rig) ServeHealth() string {
	g.t.Helper()
	return metricstest.Serve(g.t, g.Health)
}

// WaitMetric polls until the series of the metric name matching labels sum to want.
func (g *Rig) WaitMetric(name string, labels map[string]string, want float64) {
	g.t.Helper()
	natstest.CheckFor(g.t, Patience, poll, func() error {
		return metricstest.Want(g.Registry, name, labels, want)
	})
}
