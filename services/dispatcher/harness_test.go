package dispatcher_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/health"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/dispatcher"
)

// rig is a running dispatcher (the real fx module) on a real JetStream.
type rig struct {
	t    testing.TB
	JS   jetstream.JetStream
	NC   *nats.Conn
	Logs *natstest.LogBuffer
	// Health serves the process's /healthz, /readyz and /metrics; Registry is its registry.
	Health   health.Handler
	Registry *prometheus.Registry
}

// baseConfig is a config with one server and fast retries, for natsURL.
func baseConfig(natsURL string) *config.Config {
	cfg := config.Default()
	cfg.NATS.URL = natsURL
	cfg.Log.Level = "info"
	cfg.Servers = map[string]config.Server{"servicenow": {BaseURL: "https://snow.example"}}
	cfg.Dispatcher.Backoff = []time.Duration{10 * time.Millisecond}
	cfg.Dispatcher.MaxDeliver = 3
	cfg.Dispatcher.AckWait = 30 * time.Second
	cfg.Dispatcher.Instance = "dispatcher-test"
	return cfg
}

// startDispatcher runs the dispatcher module; mutate adjusts the config first.
func startDispatcher(t testing.TB, natsURL string, mutate func(*config.Config)) *rig {
	t.Helper()
	cfg := baseConfig(natsURL)
	if mutate != nil {
		mutate(cfg)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	logs := &natstest.LogBuffer{}
	var h health.Handler
	var reg *prometheus.Registry
	app := fxtest.New(t,
		fx.Supply(cfg), fx.NopLogger,
		fx.Provide(func() *slog.Logger { return logging.New(logs, cfg.Log) }),
		natsconn.Module, health.Module, bus.RouterModule, dispatcher.Module,
		fx.Populate(&h, &reg),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	nc := natstest.Connect(t, natsURL)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, JS: js, NC: nc, Logs: logs, Health: h, Registry: reg}
}

// publishTrigger stores a trigger the way the ingress does.
func (g *rig) publishTrigger(ev events.TriggerEvent) {
	g.t.Helper()
	b, err := ev.Marshal()
	if err != nil {
		g.t.Fatal(err)
	}
	m := nats.NewMsg(ev.Subject())
	m.Data = b
	for k, v := range ev.Headers() {
		m.Header.Set(k, v)
	}
	m.Header.Set(nats.MsgIdHdr, ev.ID)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.JS.PublishMsg(ctx, m); err != nil {
		g.t.Fatal(err)
	}
}

// trigger builds a trigger event for ticket id with the given stages.
func trigger(event events.Trigger, id string, current, completion string) events.TriggerEvent {
	info := events.TicketInfo{ID: id, Subject: "Allow web to db", UpdateDate: "1763884860000"}
	if current != "" {
		info.CurrentStage = &events.Stage{ID: "3", Name: current}
	}
	if completion != "" {
		info.CompletionStage = &events.Stage{ID: "2", Name: completion}
	}
	info.OpenRequestStage = &events.Stage{ID: "1", Name: "Open request"}
	ev := events.NewTriggerEvent(event, info, []byte("<ticket_info/>"), "", "")
	ev.ReceivedAt = time.Now().UTC()
	ev.Ingress = "test"
	return ev
}

// msgs returns every message of a stream (with subject filter), in order.
func (g *rig) msgs(stream, subject string) []*jetstream.RawStreamMsg {
	g.t.Helper()
	return natstest.Msgs(g.t, g.JS, stream, subject)
}

func (g *rig) count(stream string) uint64 {
	g.t.Helper()
	return natstest.StreamMsgs(g.t, g.JS, stream)
}

// waitCount polls until stream holds n messages.
func (g *rig) waitCount(stream string, n uint64) {
	g.t.Helper()
	natstest.CheckFor(g.t, 120*time.Second, 20*time.Millisecond, func() error {
		if got := g.count(stream); got != n {
			return fmt.Errorf("%s holds %d messages, want %d", stream, got, n)
		}
		return nil
	})
}
