package itsmsync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// benchWorkers is the concurrency of both the raw loop and the server under test.
const benchWorkers = 8

// sink is a local ITSM endpoint: 201 with a ServiceNow-shaped body. failPct percent of
// the operations (chosen by a hash of the body) get a 503 on their first request.
type sink struct {
	*httptest.Server
	failPct uint32
	mu      sync.Mutex
	failed  map[uint32]bool
	n       atomic.Int64
}

func newSink(tb testing.TB, failPct uint32) *sink {
	s := &sink{failPct: failPct, failed: map[uint32]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if s.failPct > 0 {
			h := fnv.New32a()
			_, _ = h.Write(body)
			k := h.Sum32()
			if k%100 < s.failPct {
				s.mu.Lock()
				first := !s.failed[k]
				s.failed[k] = true
				s.mu.Unlock()
				if first {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
			}
		}
		s.n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"result":{"sys_id":"0123456789abcdef0123456789abcdef","number":"CHG0000001"}}`))
	}))
	tb.Cleanup(s.Close)
	return s
}

// benchSpec is the create every benchmark operation performs.
var benchSpec = events.ITSMSpec{Server: "sink", Method: "POST", Path: "/api/now/table/change_request",
	Body:     `{"short_description":"SecureChange #ticket_id#: #ticket_subject#","requested_by":"#ticket_requester#","correlation_id":"#trigger_id#"}`,
	Response: events.ResponseSpec{Correlate: map[string]string{"sys_id": "#result.sys_id#"}}}

// preloadOps stores n operations for server "sink" in a fresh JetStream, one per ticket
// (so spread over every lane of the server).
func preloadOps(b *testing.B, n int) *server.Server {
	b.Helper()
	ops := make([]events.Operation, n)
	for i := range ops {
		ops[i] = op(events.OpITSM, "sink", fmt.Sprint(100000+i), events.Create, "open-change", "create", benchSpec)
	}
	return preload(b, ops)
}

// preloadOneTicket stores n operations of ONE ticket for server "sink" (so all in one
// lane): the create, then updates of the record it made (PATCH …/#correlation.sys_id#).
func preloadOneTicket(b *testing.B, n int) *server.Server {
	b.Helper()
	update := events.ITSMSpec{Server: "sink", Method: "PATCH", Path: "/api/now/table/change_request/#correlation.sys_id#",
		Body: `{"work_notes":"SecureChange #ticket_id#: #ticket_subject#","correlation_id":"#trigger_id#"}`}
	ops := make([]events.Operation, n)
	ops[0] = op(events.OpITSM, "sink", "100000", events.Create, "open-change", "create", benchSpec)
	for i := 1; i < n; i++ {
		ops[i] = op(events.OpITSM, "sink", "100000", events.Advance, "update-change", fmt.Sprint("update-", i), update)
	}
	return preload(b, ops)
}

// preload stores ops in a fresh JetStream and returns its server.
func preload(b *testing.B, ops []events.Operation) *server.Server {
	b.Helper()
	s := natstest.RunJetStream(b)
	nc := natstest.Connect(b, s.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig(s.ClientURL(), nil)
	if err := natsconn.EnsureStreams(context.Background(), js, natsconn.StreamSpecs(cfg), slog.New(slog.DiscardHandler)); err != nil {
		b.Fatal(err)
	}
	natstest.PublishOps(b, nc, nil, "", ops...)
	return s
}

// clientMsgs is how many messages the server has received from clients so far: every
// publish, acknowledgement, key-value write or read and pull request is one (what
// js-msgs/op counts per operation).
func clientMsgs(s *server.Server) int64 {
	v, err := s.Varz(nil)
	if err != nil {
		return 0
	}
	return v.InMsgs
}

// rawLimit consumes n operations with benchWorkers workers from one durable pull
// consumer, POSTs each body to the sink and double-acks: the floor itsm-sync's work sits on.
func rawLimit(b *testing.B, url, target string, n int) time.Duration {
	b.Helper()
	nc := natstest.Connect(b, url)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers}}
	return natstest.RawConsume(b, js, events.StreamOps, benchWorkers, n, func(m jetstream.Msg) (bool, error) {
		resp, err := client.Post(target+"/api/now/table/change_request", "application/json", bytes.NewReader(m.Data()))
		if err != nil {
			return false, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode >= 300 {
			return false, m.Nak()
		}
		return true, m.DoubleAck(ctx)
	})
}

// rawLane is the floor of one ordered lane: one worker on one durable pull consumer with
// one message in flight (MaxAckPending 1, as a lane), POSTing each body to the sink and
// double-acking, one message after the other, for n messages.
func rawLane(b *testing.B, url, target string, n int) time.Duration {
	b.Helper()
	nc := natstest.Connect(b, url)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamOps, jetstream.ConsumerConfig{
		Durable: "raw-lane", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxAckPending: 1,
	})
	if err != nil {
		b.Fatal(err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1))
	if err != nil {
		b.Fatal(err)
	}
	defer it.Stop()
	client := &http.Client{}
	start := time.Now()
	for done := 0; done < n; {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		resp, err := client.Post(target+"/api/now/table/change_request", "application/json", bytes.NewReader(m.Data()))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err := m.DoubleAck(ctx); err != nil {
			b.Fatal(err)
		}
		done++
	}
	return time.Since(start)
}

// rawLanes is the floor of ordered delivery: the consume → POST → ack loop over the
// server's Partitions lanes, each one durable pull consumer with one message in flight
// (MaxAckPending 1, as itsm-sync's lanes), one worker per lane, acking without waiting
// (as itsm-sync's lanes do). What it loses against rawLimit is what ordering itself costs.
func rawLanes(b *testing.B, url, target string, n int) time.Duration {
	b.Helper()
	nc := natstest.Connect(b, url)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: events.Partitions}}
	var done, end atomic.Int64
	errc := make(chan error, events.Partitions)
	start := time.Now()
	for p := range events.Partitions {
		cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamOps, jetstream.ConsumerConfig{
			Durable: fmt.Sprint("raw-lane-", p), FilterSubject: events.OpLane(events.OpITSM, "sink", p),
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxAckPending: 1,
		})
		if err != nil {
			b.Fatal(err)
		}
		go func() { errc <- rawLaneWorker(cons, client, target, n, &done, &end) }()
	}
	for range events.Partitions {
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	return time.Unix(0, end.Load()).Sub(start)
}

// rawLaneWorker is one lane of rawLanes: it works until done reaches n (end is when).
func rawLaneWorker(cons jetstream.Consumer, client *http.Client, target string, n int, done, end *atomic.Int64) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(16))
	if err != nil {
		return err
	}
	defer it.Stop()
	for done.Load() < int64(n) {
		m, err := it.Next(jetstream.NextMaxWait(100 * time.Millisecond))
		if errors.Is(err, nats.ErrTimeout) {
			continue
		}
		if err != nil {
			return err
		}
		resp, err := client.Post(target+"/api/now/table/change_request", "application/json", bytes.NewReader(m.Data()))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err := m.Ack(); err != nil {
			return err
		}
		if done.Add(1) == int64(n) {
			end.Store(time.Now().UnixNano())
		}
	}
	return nil
}

// BenchmarkITSMSync measures deliveries per second (b.N operations, each rendered from a
// WFI template, POSTed, its response mapped into scw_correlation, recorded in scw_done and
// reported on SCW_RESULTS) next to the raw consume → POST → ack limit measured in the same
// run (raw/s, ratio) and next to the same loop over ordered lanes (lanes-raw/s,
// lanes-ratio), with 0 %, 1 % and 10 % of operations failing transiently once.
func BenchmarkITSMSync(b *testing.B) {
	for _, pct := range []uint32{0, 1, 10} {
		b.Run(fmt.Sprintf("transient=%d%%", pct), func(b *testing.B) {
			n := max(b.N, 100)
			b.StopTimer()
			rs := preloadOps(b, n)
			in0 := clientMsgs(rs)
			raw := rawLimit(b, rs.ClientURL(), newSink(b, 0).URL, n)
			b.ReportMetric(float64(clientMsgs(rs)-in0)/float64(n), "raw-js-msgs/op")
			lanes := rawLanes(b, preloadOps(b, n).ClientURL(), newSink(b, 0).URL, n)
			took := runSync(b, preloadOps(b, n), newSink(b, pct), n)
			b.ReportMetric(float64(n)/took.Seconds(), "ops/s")
			b.ReportMetric(float64(n)/raw.Seconds(), "raw/s")
			b.ReportMetric(raw.Seconds()/took.Seconds(), "ratio")
			b.ReportMetric(float64(n)/lanes.Seconds(), "lanes-raw/s")
			b.ReportMetric(lanes.Seconds()/took.Seconds(), "lanes-ratio")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkITSMSyncOneTicket is BenchmarkITSMSync for one busy ticket: every operation
// belongs to ONE ticket (a create, then updates of its record), so all of them are in the
// same lane and performed strictly one after the other, in order, however many lanes and
// request slots the server has. raw/s and ratio are against BenchmarkITSMSync's floor (8
// unordered workers); lane-raw/s and lane-ratio against the floor of one ordered lane
// (rawLane). At most 2000 operations, whatever -benchtime asks.
func BenchmarkITSMSyncOneTicket(b *testing.B) {
	n := min(max(b.N, 100), 2000)
	b.StopTimer()
	raw := rawLimit(b, preloadOneTicket(b, n).ClientURL(), newSink(b, 0).URL, n)
	laneRaw := rawLane(b, preloadOneTicket(b, n).ClientURL(), newSink(b, 0).URL, n)

	took := runSync(b, preloadOneTicket(b, n), newSink(b, 0), n)
	b.ReportMetric(float64(n)/took.Seconds(), "ops/s")
	b.ReportMetric(float64(n)/raw.Seconds(), "raw/s")
	b.ReportMetric(raw.Seconds()/took.Seconds(), "ratio")
	b.ReportMetric(float64(n)/laneRaw.Seconds(), "lane-raw/s")
	b.ReportMetric(laneRaw.Seconds()/took.Seconds(), "lane-ratio")
	b.ReportMetric(0, "ns/op")
}

// runSync runs itsm-sync (timed) on the n operations stored in s until each has a
// result, and checks the sink accepted each once. js-msgs/op counts what the server
// received from clients per operation (itsm-sync's requests, and the benchmark's own
// polling of the results stream, a few in all).
func runSync(b *testing.B, s *server.Server, sk *sink, n int) time.Duration {
	b.Helper()
	url := s.ClientURL()
	in0 := clientMsgs(s)
	start, cpu0 := time.Now(), cpuTime()
	b.StartTimer()
	g := testrig.Start(b, "itsm-sync", testConfig(url, func(c *config.Config) {
		c.Log.Level = "error"
		c.Servers["sink"] = config.Server{BaseURL: sk.URL, Concurrency: benchWorkers, Breaker: config.Breaker{Failures: -1}}
		c.ITSMSync.Retry.Backoff = 10 * time.Millisecond
	}))
	// Polled every 10 ms (≤ 0.3 % of a run): each poll is a stream info request the
	// server answers while it serves itsm-sync, which the raw loop does not pay for.
	natstest.CheckFor(b, 10*time.Minute, 10*time.Millisecond, func() error {
		if got := natstest.StreamMsgs(b, g.JS, events.StreamResults); got < uint64(n) {
			return fmt.Errorf("%d of %d delivered", got, n)
		}
		return nil
	})
	b.StopTimer()
	took := time.Since(start)
	// CPU per operation, of the whole process (itsm-sync, the embedded nats-server and the
	// sink): what saturates a machine, and what the benchmark's machine load cannot skew.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/op")
	b.ReportMetric(float64(clientMsgs(s)-in0)/float64(n), "js-msgs/op")
	if got := sk.n.Load(); got != int64(n) {
		b.Fatalf("the sink accepted %d operations, want %d", got, n)
	}
	return took
}

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}
