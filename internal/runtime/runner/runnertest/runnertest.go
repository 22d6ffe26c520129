// Package runnertest is the conformance suite of the operation runner (internal/runtime/runner):
// one table of outcomes (success, transient, Retry-After, permanent, exhausted, outage,
// done-marker write failure, group cancel, cut off by a stop, parked and released lanes)
// run against each service's own runner and consumers on a real JetStream, as
// watermill's pubsub tests are run against every Pub/Sub. A service's test calls Run with
// its Target; what a delivery does is scripted per operation, so the outcomes are the
// runner's and the consumers', not a destination's (the services' own tests cover how
// their destinations' answers are classified).
package runnertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx/fxtest"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Target is one service's runner and consumers.
type Target struct {
	Service string        // its dead letters' service token, e.g. "itsm-sync"
	Kind    events.OpKind // the operations its consumers take
	Dest    string        // their destination (an outbound server, "smtp", …)
	// Configure sets the service's config for the suite: Retry is the retry policy its
	// operations to Dest must get (itsm-sync: servers.<Dest>.retry; notifier:
	// notifier.retry), and whatever else its constructor needs.
	Configure func(c *config.Config, retry config.Retry)
	// New returns the runner the service's module builds, and the service's consumers of
	// Dest, on the given connection.
	New func(t testing.TB, c *config.Config, nc *nats.Conn, js jetstream.JetStream) (*runner.Runner, []natsconn.ConsumerConfig)
}

// retry is the policy of the suite: quick, three attempts.
var retry = config.Retry{Attempts: 3, MaxAge: time.Hour, Backoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, MaxRetryAfter: 5 * time.Second}

// Run runs the table against the target.
func Run(t *testing.T, tg Target) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, start(t, tg)) })
	}
}

// script says what each delivery of an operation does (by operation id); unscripted
// deliveries succeed.
type script struct {
	mu   sync.Mutex
	do   map[string]func(ctx context.Context, j *runner.Job, n int) error
	runs map[string][]run
}

// run is one delivery as Perform saw it.
type run struct {
	at      time.Time
	unknown bool
	forced  bool
}

func (s *script) perform(ctx context.Context, j *runner.Job) (runner.Done, error) {
	s.mu.Lock()
	s.runs[j.Op.ID] = append(s.runs[j.Op.ID], run{at: time.Now(), unknown: j.Unknown(), forced: j.Forced})
	n := len(s.runs[j.Op.ID])
	f := s.do[j.Op.ID]
	s.mu.Unlock()
	var err error
	if f != nil {
		err = f(ctx, j, n)
	}
	if !failure.IsNotAttempted(err) {
		a := events.Attempt{At: time.Now().UTC(), Status: 200}
		runner.Failed(&a, err)
		j.Record(a)
	}
	return runner.Done{Correlation: map[string]string{"n": fmt.Sprint(n)}}, err
}

func (s *script) set(id string, f func(ctx context.Context, j *runner.Job, n int) error) {
	s.mu.Lock()
	s.do[id] = f
	s.mu.Unlock()
}

func (s *script) runsOf(id string) []run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]run(nil), s.runs[id]...)
}

// rig is the target's runner on its consumers, on a fresh JetStream.
type rig struct {
	tg     Target
	cfg    *config.Config
	url    string
	nc     *nats.Conn
	js     jetstream.JetStream
	script *script
	pub    *flakyPub          // the runner's publisher, with injectable result failures
	logs   natstest.LogBuffer // the runner's log (info and above)
	stop   func()             // stops the runner's handlers (a graceful stop with a drain)
	run    *runner.Runner     // the runner of the latest handlers
	// recordFor is the RecordFor of the runners handlers starts (0: the default).
	recordFor time.Duration
	seq       atomic.Int64
}

func start(t *testing.T, tg Target) *rig {
	ns := natstest.RunJetStream(t)
	g := &rig{tg: tg, url: ns.ClientURL(), script: &script{do: map[string]func(context.Context, *runner.Job, int) error{}, runs: map[string][]run{}}}
	g.nc = natstest.Connect(t, g.url)
	g.js, _ = jetstream.New(g.nc)
	cfg := config.Default()
	cfg.NATS.URL = g.url
	cfg.Log.Level = "error"
	tg.Configure(cfg, retry)
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("suite config: %v", err)
	}
	g.cfg = cfg
	ctx := t.Context()
	if err := natsconn.EnsureStreams(ctx, g.js, natsconn.StreamSpecs(cfg), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	g.stop = g.handlers(t, 30*time.Second)
	return g
}

// handlers starts the target's runner (a new instance, as a new replica would) on its
// consumers and returns its graceful stop.
func (g *rig) handlers(t testing.TB, drain time.Duration) func() {
	ctx := t.Context()
	kv, err := natsconn.EnsureBuckets(ctx, g.js, 1)
	if err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, g.url)
	js, _ := jetstream.New(nc)
	r, ccs := g.tg.New(t, g.cfg, nc, js)
	if g.pub == nil {
		g.pub = &flakyPub{fail: map[string]int{}}
	}
	g.pub.Publisher = r.Pub
	r.Pub = g.pub
	r.Bind(kv)
	r.Perform = g.script.perform
	r.RecordFor = g.recordFor
	r.Log = slog.New(slog.NewTextHandler(&g.logs, nil))
	if err := r.AuditHolds(ctx); err != nil { // as the service does at start
		t.Fatal(err)
	}
	g.run = r
	lc := fxtest.NewLifecycle(t)
	router, err := bus.NewRouter(lc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()
	d := bus.NewDrain(drain)
	var hs []*message.Handler
	for _, cc := range ccs {
		h, err := bus.AddHandlers(ctx, js, router, cc, 1, r.Handle, d, logging.Watermill(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h...)
	}
	if err := router.RunHandlers(context.Background()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), drain+30*time.Second)
			defer cancel()
			bus.StopHandlers(sctx, d, hs)
			lc.RequireStop()
		})
	}
	t.Cleanup(stop)
	return stop
}

// op is a test operation of ticket for the target.
func (g *rig) op(ticket, action string) events.Operation {
	trig := events.NewTriggerEvent(events.Advance, events.TicketInfo{ID: ticket, UpdateDate: fmt.Sprint(g.seq.Add(1))}, []byte("<ticket_info/>"), "", "")
	return events.Operation{
		ID: events.OperationID(trig.ID, "suite", action), Kind: g.tg.Kind, Target: g.tg.Dest, Route: "suite", Action: action,
		TriggerID: trig.ID, Ticket: ticket, Event: trig.Event, Spec: json.RawMessage(`{}`), Context: &events.OpContext{Trigger: trig},
	}
}

// publish stores operations in order (msgID suffix: a replay as a new message).
func (g *rig) publish(t testing.TB, hdr map[string]string, suffix string, ops ...events.Operation) {
	t.Helper()
	natstest.PublishOps(t, g.nc, hdr, suffix, ops...)
}

// results of ticket by status ("*" any), in order.
func (g *rig) results(t testing.TB, status, ticket string) []events.Result {
	var out []events.Result
	for _, m := range natstest.Msgs(t, g.js, events.StreamResults, fmt.Sprintf("scw.result.%s.%s.%s.*", g.tg.Kind, status, ticket)) {
		r, err := events.UnmarshalResult(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (g *rig) waitResults(t testing.TB, status, ticket string, n int) []events.Result {
	t.Helper()
	var rs []events.Result
	natstest.CheckFor(t, 2*time.Minute, 10*time.Millisecond, func() error {
		if rs = g.results(t, status, ticket); len(rs) < n {
			return fmt.Errorf("%d %s results for ticket %s, want %d", len(rs), status, ticket, n)
		}
		return nil
	})
	return rs
}

// idle waits until no consumer of the target has anything pending or unacknowledged.
func (g *rig) idle(t testing.TB) {
	t.Helper()
	natstest.CheckFor(t, 2*time.Minute, 10*time.Millisecond, func() error {
		st, err := g.js.Stream(t.Context(), events.StreamOps)
		if err != nil {
			return err
		}
		lister := st.ListConsumers(t.Context())
		for ci := range lister.Info() {
			if ci.NumPending != 0 || ci.NumAckPending != 0 {
				return fmt.Errorf("%s: %d pending, %d unacknowledged", ci.Name, ci.NumPending, ci.NumAckPending)
			}
		}
		return lister.Err()
	})
}

// flakyPub is the runner's real publisher, failing the succeeded results of chosen
// operations a given number of times: our own infrastructure failing at the worst
// moment (the result is the done marker).
type flakyPub struct {
	message.Publisher
	mu   sync.Mutex
	fail map[string]int
}

func (p *flakyPub) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	var n int
	id := topic[strings.LastIndexByte(topic, '.')+1:]
	if strings.Contains(topic, "."+string(events.ResultSucceeded)+".") {
		if n = p.fail[id]; n > 0 {
			p.fail[id] = n - 1
		}
	}
	p.mu.Unlock()
	if n != 0 {
		return fmt.Errorf("injected: %s unavailable", events.StreamResults)
	}
	return p.Publisher.Publish(topic, msgs...)
}

// failResults fails the next n succeeded results of operation id (n < 0: every one,
// until failResults is called again).
func (p *flakyPub) failResults(id string, n int) {
	p.mu.Lock()
	p.fail[id] = n
	p.mu.Unlock()
}

// marker is the done marker of op: a succeeded or skipped result of it, as the runner reads it.
func (g *rig) marker(t testing.TB, op events.Operation) (events.Result, error) {
	t.Helper()
	m, err := natsconn.Reader{NC: g.nc}.Last(t.Context(), events.StreamResults, events.DoneSubjects(op)...)
	if err != nil {
		return events.Result{}, err
	}
	return events.UnmarshalResult(m.Data)
}

// held is the sequence of the lane's hold marker in SCW_RESULTS (0: none).
func (g *rig) held(t testing.TB, o events.Operation) uint64 {
	t.Helper()
	m, err := natsconn.Reader{NC: g.nc}.Last(t.Context(), events.StreamResults, o.HeldSubject())
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return m.Seq
}

// dropHeld removes the lane's hold marker, as SCW_RESULTS' limits would.
func (g *rig) dropHeld(t testing.TB, o events.Operation) {
	t.Helper()
	st, err := g.js.Stream(t.Context(), events.StreamResults)
	if err == nil {
		err = st.Purge(t.Context(), jetstream.WithPurgeSubject(o.HeldSubject()))
	}
	if err != nil {
		t.Fatal(err)
	}
}

func gaps(rs []run) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(rs); i++ {
		out = append(out, rs[i].at.Sub(rs[i-1].at))
	}
	return out
}

func errContains(err, want string) bool { return strings.Contains(err, want) }
