package itsmsync_test

// Unit tests of Service.Perform without a broker: the Service is built from its exported
// fields, each operation is one runner.Job, and the tests assert what Perform returns,
// the attempts it records and what the (real, httptest) servers saw. Correlations are a
// map, write-backs go to watermill's in-memory gochannel.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
	itsmsync "github.com/triggerflow/triggerflow/services/itsm-sync"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

var unitLog = slog.New(slog.DiscardHandler)

// unitCorrelations is Correlations in a map (what correlation.KV keeps in scw_correlation).
type unitCorrelations struct {
	mu     sync.Mutex
	vals   map[string]map[string]string // by events.CorrelationKey
	getErr error
	gets   int
}

func (c *unitCorrelations) Get(_ context.Context, ticket, server string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	if c.getErr != nil {
		return nil, c.getErr
	}
	out := map[string]string{}
	maps.Copy(out, c.vals[events.CorrelationKey(ticket, server)])
	return out, nil
}

func (c *unitCorrelations) Merge(_ context.Context, ticket, server string, vals map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := events.CorrelationKey(ticket, server)
	if c.vals[k] == nil {
		c.vals[k] = map[string]string{}
	}
	maps.Copy(c.vals[k], vals)
	return nil
}

func (c *unitCorrelations) Index(_ context.Context, server, key, value, ticket string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.vals[events.RecordIndexKey(server, key, value)] = map[string]string{"": ticket}
	return nil
}

func (c *unitCorrelations) Ticket(_ context.Context, server, key, value string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.vals[events.RecordIndexKey(server, key, value)][""]
	return t, ok, nil
}

func (c *unitCorrelations) of(ticket, server string) map[string]string {
	m, _ := c.Get(context.Background(), ticket, server)
	return m
}

// unitRig is a Service built by hand: no broker.
type unitRig struct {
	svc  *itsmsync.Service
	corr *unitCorrelations
	pub  *gochannel.GoChannel
}

// newUnit builds the service over servers (config defaults applied) and, if sc is not
// nil, a SecureChange client for it.
func newUnit(t *testing.T, servers map[string]config.Server, sc *securechangetest.Server) *unitRig {
	t.Helper()
	cfg := config.Default()
	cfg.Servers = servers
	cfg.SetDefaults()
	srvs, err := outbound.NewSet(cfg.Servers, outbound.Options{ExcerptBytes: cfg.ITSMSync.ExcerptBytes, Log: unitLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range srvs {
			s.Close()
		}
	})
	var client *securechange.Client
	if sc != nil {
		if client, err = securechange.New(sc.Config(), unitLog); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(client.Close)
	}
	pub := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 16}, watermill.NopLogger{})
	t.Cleanup(func() { _ = pub.Close() })
	corr := &unitCorrelations{vals: map[string]map[string]string{}}
	return &unitRig{
		svc: &itsmsync.Service{
			Log: unitLog, Cfg: cfg.ITSMSync, Servers: srvs, SecureChange: client, Correlations: corr, Pub: pub,
		},
		corr: corr, pub: pub,
	}
}

// snowServers configures the fake as server "snow".
func snowServers(sn *snow, mutate func(*config.Server)) map[string]config.Server {
	sv := config.Server{BaseURL: sn.URL, Proxy: "none"}
	if mutate != nil {
		mutate(&sv)
	}
	return map[string]config.Server{"snow": sv}
}

func unitJob(o events.Operation, delivered int, prior ...events.Attempt) *runner.Job {
	return &runner.Job{Op: o, Delivered: delivered, Attempts: slices.Clone(prior), Log: unitLog}
}

// writeBacks subscribes to the write-backs of ticket (before Commit publishes them).
func (g *unitRig) writeBacks(t *testing.T, ticket string) <-chan *message.Message {
	t.Helper()
	subj := events.Operation{Kind: events.OpSecureChange, Target: itsmsync.TargetSecureChange, Ticket: ticket}.Subject()
	ch, err := g.pub.Subscribe(t.Context(), subj)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func nextMsg(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m := <-ch:
		m.Ack()
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no write-back published")
		return nil
	}
}

func noMsg(t *testing.T, ch <-chan *message.Message) {
	t.Helper()
	select {
	case m := <-ch:
		m.Ack()
		t.Errorf("unexpected write-back %s: %s", m.UUID, m.Payload)
	case <-time.After(100 * time.Millisecond):
	}
}

// hit is one request a server received.
type hit struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

func (h hit) String() string { return h.Method + " " + h.Path }

type hitLog struct {
	mu   sync.Mutex
	hits []hit
}

func (l *hitLog) add(r *http.Request, body []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hits = append(l.hits, hit{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body), Header: r.Header.Clone()})
}

func (l *hitLog) all() []hit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.hits)
}

func (l *hitLog) methods() string {
	var out []string
	for _, h := range l.all() {
		out = append(out, h.Method)
	}
	return strings.Join(out, ",")
}

// watchSnow records every request the fake receives; answer, if not nil, may answer
// instead (a status, 0 to let the fake answer).
func watchSnow(sn *snow, answer func(r *http.Request) (int, http.Header)) *hitLog {
	l := &hitLog{}
	sn.setFault(func(r *http.Request, body []byte) (int, http.Header) {
		l.add(r, body)
		if answer != nil {
			return answer(r)
		}
		return 0, nil
	})
	return l
}

// noLookupSpec is the create without a lookup-before-create.
func noLookupSpec() events.ITSMSpec {
	s := createSpec()
	s.Lookup = nil
	return s
}

func wantPermanent(t *testing.T, err error, mentions ...string) {
	t.Helper()
	if err == nil || !failure.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
}

// A create answered 201: the correlation values mapped from the response are the Done's;
// Commit stores them and publishes the write-back the response's fields ask for, an
// update_fields operation with a deterministic id (a second Commit publishes the same id).
func TestPerformCreateMapsResponseAndCommits(t *testing.T) {
	t.Parallel()
	sn := newSnow(t)
	hits := watchSnow(sn, nil)
	g := newUnit(t, snowServers(sn, nil), nil)
	spec := createSpec()
	spec.Response.Fields = map[string]string{"ITSM Change": "#result.number#"}
	o := op(events.OpITSM, "snow", "2101", events.Create, "open-change", "create", spec)
	j := unitJob(o, 1)

	done, err := g.svc.Perform(t.Context(), j)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"sys_id": fmt.Sprintf("%032x", 1), "number": "CHG0000001"}
	if !maps.Equal(done.Correlation, want) {
		t.Errorf("Done.Correlation = %v, want %v", done.Correlation, want)
	}
	if done.Note != "" {
		t.Errorf("Done.Note = %q, want none (no lookup)", done.Note)
	}
	if len(j.Attempts) != 1 {
		t.Fatalf("attempts %+v, want 1", j.Attempts)
	}
	if a := j.Attempts[0]; a.N != 1 || a.Status != http.StatusCreated || a.Lookup || a.Error != "" || a.Transient || a.At.IsZero() {
		t.Errorf("attempt %+v, want n 1, status 201, no lookup, no error", a)
	}
	hs := hits.all()
	if len(hs) != 1 || hs[0].Method != http.MethodPost || hs[0].Path != snowPath {
		t.Fatalf("the server saw %v, want one POST %s", hs, snowPath)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(hs[0].Body), &body); err != nil {
		t.Fatalf("body %s: %v", hs[0].Body, err)
	}
	if body["short_description"] != `SecureChange 2101: Allow web to db "prod"` || body["correlation_id"] != o.TriggerID || body["u_securechange_ticket"] != "2101" {
		t.Errorf("body %v", body)
	}
	if k := hs[0].Header.Get("Idempotency-Key"); k != o.ID {
		t.Errorf("Idempotency-Key = %q, want the operation id %s", k, o.ID)
	}

	// Nothing is stored or published before Commit.
	if got := g.corr.of("2101", "snow"); len(got) != 0 {
		t.Errorf("correlations before Commit: %v", got)
	}
	wbs := g.writeBacks(t, "2101")
	if done.Commit == nil {
		t.Fatal("Done.Commit is nil")
	}
	if err := done.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := g.corr.of("2101", "snow"); !maps.Equal(got, want) {
		t.Errorf("correlations after Commit: %v, want %v", got, want)
	}
	m := nextMsg(t, wbs)
	wantID := events.OperationID(o.TriggerID, o.Route, "create.writeback")
	if m.UUID != wantID {
		t.Errorf("write-back message id %s, want %s", m.UUID, wantID)
	}
	wb, err := events.UnmarshalOperation(m.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if wb.ID != wantID || wb.Kind != events.OpSecureChange || wb.Target != itsmsync.TargetSecureChange || wb.Action != "create.writeback" ||
		wb.Ticket != "2101" || wb.TriggerID != o.TriggerID || wb.Route != o.Route || wb.Context == nil {
		t.Errorf("write-back operation %+v", wb)
	}
	sc, err := wb.SecureChange()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(sc.UpdateFields, map[string]string{"ITSM Change": "CHG0000001"}) || sc.Advance || sc.Approve != "" {
		t.Errorf("write-back spec %+v, want update_fields ITSM Change=CHG0000001", sc)
	}
	if c := m.Metadata.Get(events.HdrCausationID); c != o.ID {
		t.Errorf("write-back %s = %q, want the create's id", events.HdrCausationID, c)
	}

	// Commit again (the runner retries a Commit whose done marker was not written): the
	// same write-back id, so JetStream would store it once.
	if err := done.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m2 := nextMsg(t, wbs); m2.UUID != wantID {
		t.Errorf("second Commit published %s, want the same id %s", m2.UUID, wantID)
	}
	noMsg(t, wbs)
	if got := g.corr.of("2101", "snow"); !maps.Equal(got, want) {
		t.Errorf("correlations after a second Commit: %v", got)
	}
}

// A create without response fields publishes nothing when committed.
func TestPerformCreateWithoutFieldsPublishesNothing(t *testing.T) {
	t.Parallel()
	sn := newSnow(t)
	g := newUnit(t, snowServers(sn, nil), nil)
	o := op(events.OpITSM, "snow", "2102", events.Create, "open-change", "create", createSpec())
	done, err := g.svc.Perform(t.Context(), unitJob(o, 1))
	if err != nil {
		t.Fatal(err)
	}
	wbs := g.writeBacks(t, "2102")
	if err := done.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	noMsg(t, wbs)
	if got := g.corr.of("2102", "snow"); got["number"] != "CHG0000001" {
		t.Errorf("correlations %v", got)
	}
}

// An update renders #correlation.sys_id# (path) and #correlation.number# (body) from
// what the create stored.
func TestPerformUpdateUsesStoredCorrelation(t *testing.T) {
	t.Parallel()
	sn := newSnow(t)
	g := newUnit(t, snowServers(sn, nil), nil)
	create := op(events.OpITSM, "snow", "2201", events.Create, "open-change", "create", createSpec())
	done, err := g.svc.Perform(t.Context(), unitJob(create, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := done.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	hits := watchSnow(sn, nil)
	update := op(events.OpITSM, "snow", "2201", events.Advance, "open-change", "update", updateSpec())
	j := unitJob(update, 1)
	done, err = g.svc.Perform(t.Context(), j)
	if err != nil {
		t.Fatal(err)
	}
	hs := hits.all()
	wantPath := snowPath + "/" + fmt.Sprintf("%032x", 1)
	if len(hs) != 1 || hs[0].Method != http.MethodPatch || hs[0].Path != wantPath {
		t.Fatalf("the server saw %v, want PATCH %s", hs, wantPath)
	}
	if want := `{"work_notes":"Step Business Approval done (CHG0000001)"}`; hs[0].Body != want {
		t.Errorf("body %s, want %s", hs[0].Body, want)
	}
	if ups := sn.updatesOf("2201"); len(ups) != 1 {
		t.Errorf("updates of the record: %v", ups)
	}
	if len(done.Correlation) != 0 {
		t.Errorf("Done.Correlation = %v, want none (the update maps nothing)", done.Correlation)
	}
	if len(j.Attempts) != 1 || j.Attempts[0].Status != http.StatusOK || j.Attempts[0].Lookup || j.Attempts[0].Error != "" {
		t.Errorf("attempts %+v", j.Attempts)
	}
}

// An update whose correlation values nobody stored fails permanently without a request,
// naming the missing values and saying that no earlier operation stored them.
func TestPerformUpdateWithoutCorrelationIsPermanent(t *testing.T) {
	t.Parallel()
	sn := newSnow(t)
	hits := watchSnow(sn, nil)
	g := newUnit(t, snowServers(sn, nil), nil)
	j := unitJob(op(events.OpITSM, "snow", "2301", events.Advance, "open-change", "update", updateSpec()), 1)
	_, err := g.svc.Perform(t.Context(), j)
	wantPermanent(t, err, "sys_id", "number", "2301", "no earlier operation stored them")
	if hs := hits.all(); len(hs) != 0 {
		t.Errorf("the server saw %v, want no request", hs)
	}
	if len(j.Attempts) != 0 {
		t.Errorf("attempts %+v, want none", j.Attempts)
	}

	// Only the value that is missing is named.
	_ = g.corr.Merge(t.Context(), "2301", "snow", map[string]string{"sys_id": "abc"})
	_, err = g.svc.Perform(t.Context(), unitJob(j.Op, 1))
	wantPermanent(t, err, "values number of ticket 2301")
	if strings.Contains(err.Error(), "sys_id") {
		t.Errorf("error %q names sys_id, which is stored", err)
	}
	if hs := hits.all(); len(hs) != 0 {
		t.Errorf("the server saw %v, want no request", hs)
	}
}

// Lookup-before-create on a create whose outcome may be unknown (a redelivery, or an
// earlier attempt): a GET first; found, no POST and the Done comes from the lookup's
// mapping; not found (an empty list or a 404), the POST follows; a failed lookup is the
// operation's failure, without a POST.
func TestPerformLookupBeforeCreate(t *testing.T) {
	t.Parallel()
	earlier := events.Attempt{N: 1, At: time.Now().Add(-time.Minute), Status: 503, Error: "503 Service Unavailable", Transient: true}
	cases := []struct {
		name      string
		exists    bool // a record with the trigger's correlation_id is already there
		delivered int
		prior     []events.Attempt
		lookup    int // the status the lookup gets (0: the fake's answer)
		// wanted
		found      bool
		methods    string
		statuses   []int // of the attempts recorded by this Perform
		transient  bool  // Perform fails, transient
		writeBacks int
	}{
		{name: "redelivery finds the record", exists: true, delivered: 2, found: true, methods: "GET", statuses: []int{200}, writeBacks: 1},
		{name: "earlier attempt, record absent", delivered: 1, prior: []events.Attempt{earlier}, methods: "GET,POST", statuses: []int{200, 201}, writeBacks: 1},
		{name: "lookup answers 404", delivered: 3, lookup: http.StatusNotFound, methods: "GET,POST", statuses: []int{404, 201}, writeBacks: 1},
		{name: "lookup fails 503", exists: true, delivered: 2, lookup: http.StatusServiceUnavailable, methods: "GET", statuses: []int{503}, transient: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sn := newSnow(t)
			g := newUnit(t, snowServers(sn, nil), nil)
			spec := createSpec()
			spec.Response.Fields = map[string]string{"ITSM Change": "#result.number#"}
			spec.Lookup.Response.Fields = map[string]string{"ITSM Change": "#result.0.number#"}
			o := op(events.OpITSM, "snow", "2401", events.Create, "open-change", "create", spec)
			if tc.exists { // the first delivery's POST reached the server; its outcome was lost
				if _, err := g.svc.Perform(t.Context(), unitJob(o, 1)); err != nil {
					t.Fatal(err)
				}
			}
			hits := watchSnow(sn, func(r *http.Request) (int, http.Header) {
				if r.Method == http.MethodGet {
					return tc.lookup, nil
				}
				return 0, nil
			})
			j := unitJob(o, tc.delivered, tc.prior...)
			done, err := g.svc.Perform(t.Context(), j)

			if got := hits.methods(); got != tc.methods {
				t.Errorf("the server saw %s, want %s", got, tc.methods)
			}
			for _, h := range hits.all() {
				if h.Method == http.MethodGet && (h.Path != snowPath || h.Query != "sysparm_query=correlation_id="+o.TriggerID) {
					t.Errorf("lookup %s?%s", h.Path, h.Query)
				}
			}
			got := j.Attempts[len(tc.prior):]
			if len(got) != len(tc.statuses) {
				t.Fatalf("attempts %+v, want %d after the %d earlier", j.Attempts, len(tc.statuses), len(tc.prior))
			}
			for i, a := range got {
				lookup := i == 0
				if a.N != len(tc.prior)+i+1 || a.Status != tc.statuses[i] || a.Lookup != lookup {
					t.Errorf("attempt %d: %+v, want n %d, status %d, lookup %v", i, a, len(tc.prior)+i+1, tc.statuses[i], lookup)
				}
				if failed := a.Status >= 500; (a.Error != "") != failed || a.Transient != failed {
					t.Errorf("attempt %d: %+v: error/transient wrong for status %d", i, a, a.Status)
				}
			}
			if tc.transient {
				if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "lookup-before-create") {
					t.Fatalf("err = %v, want a transient lookup-before-create error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			creates, _ := sn.counts("2401")
			if creates != 1 {
				t.Errorf("%d records created, want 1", creates)
			}
			want := map[string]string{"sys_id": fmt.Sprintf("%032x", 1), "number": "CHG0000001"}
			if !maps.Equal(done.Correlation, want) {
				t.Errorf("Done.Correlation = %v, want %v", done.Correlation, want)
			}
			if found := strings.Contains(done.Note, "lookup found the record"); found != tc.found {
				t.Errorf("Done.Note = %q, found %v", done.Note, tc.found)
			}
			wbs := g.writeBacks(t, "2401")
			if err := done.Commit(t.Context()); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(g.corr.of("2401", "snow"), want) {
				t.Errorf("stored %v", g.corr.of("2401", "snow"))
			}
			for range tc.writeBacks {
				m := nextMsg(t, wbs)
				wb, _ := events.UnmarshalOperation(m.Payload)
				if sc, _ := wb.SecureChange(); sc.UpdateFields["ITSM Change"] != "CHG0000001" {
					t.Errorf("write-back %s", m.Payload)
				}
			}
			noMsg(t, wbs)
		})
	}
}

// A first delivery with no earlier attempt never looks up, even when the record exists
// (the lookup costs a request on every create); an action without a lookup just sends.
func TestPerformFirstDeliveryNeverLooksUp(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		spec      events.ITSMSpec
		delivered int
	}{
		{"first delivery", createSpec(), 1},
		{"redelivery of an action without a lookup", noLookupSpec(), 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sn := newSnow(t)
			g := newUnit(t, snowServers(sn, nil), nil)
			o := op(events.OpITSM, "snow", "2501", events.Create, "open-change", "create", tc.spec)
			if _, err := g.svc.Perform(t.Context(), unitJob(o, 1)); err != nil { // the record exists
				t.Fatal(err)
			}
			hits := watchSnow(sn, nil)
			j := unitJob(o, tc.delivered)
			done, err := g.svc.Perform(t.Context(), j)
			if err != nil {
				t.Fatal(err)
			}
			if got := hits.methods(); got != "POST" {
				t.Errorf("the server saw %s, want POST only", got)
			}
			if creates, _ := sn.counts("2501"); creates != 2 {
				t.Errorf("%d creates, want 2", creates)
			}
			if len(j.Attempts) != 1 || j.Attempts[0].Lookup || done.Note != "" {
				t.Errorf("attempts %+v, note %q", j.Attempts, done.Note)
			}
		})
	}
}

// How the server's answers are classified: 5xx transient (with the server's
// Retry-After), 4xx permanent, each recorded as one attempt with its status.
func TestPerformHTTPFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		status     int
		header     http.Header
		permanent  bool
		retryAfter time.Duration // 0: none
	}{
		{name: "503", status: 503},
		{name: "503 Retry-After 2", status: 503, header: http.Header{"Retry-After": {"2"}}, retryAfter: 2 * time.Second},
		{name: "429 Retry-After 7", status: 429, header: http.Header{"Retry-After": {"7"}}, retryAfter: 7 * time.Second},
		{name: "400", status: 400, permanent: true},
		{name: "403", status: 403, permanent: true},
		{name: "409", status: 409, permanent: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sn := newSnow(t)
			hits := watchSnow(sn, func(*http.Request) (int, http.Header) { return tc.status, tc.header })
			g := newUnit(t, snowServers(sn, nil), nil)
			j := unitJob(op(events.OpITSM, "snow", "2601", events.Create, "open-change", "create", createSpec()), 1)
			done, err := g.svc.Perform(t.Context(), j)
			if err == nil {
				t.Fatalf("no error; done %+v", done)
			}
			if failure.IsPermanent(err) != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, failure.IsPermanent(err), tc.permanent)
			}
			if failure.IsOutage(err) || failure.IsNotAttempted(err) {
				t.Errorf("err %v is an outage / not attempted (no breaker tripped)", err)
			}
			var oe *outbound.Error
			if !errors.As(err, &oe) || oe.Status != tc.status || oe.Server != "snow" {
				t.Errorf("errors.As *outbound.Error: %+v", oe)
			}
			ra, ok := failure.RetryAfter(err)
			if ok != (tc.retryAfter != 0) || ra != tc.retryAfter {
				t.Errorf("RetryAfter = %v, %v; want %v", ra, ok, tc.retryAfter)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tc.status)) || !strings.Contains(err.Error(), "injected") {
				t.Errorf("error %q lacks the status or the body's excerpt", err)
			}
			if len(j.Attempts) != 1 {
				t.Fatalf("attempts %+v", j.Attempts)
			}
			a := j.Attempts[0]
			if a.Status != tc.status || a.Transient == tc.permanent || a.Error == "" || a.Lookup || a.Outage || !strings.Contains(a.Excerpt, "injected") {
				t.Errorf("attempt %+v", a)
			}
			if got := hits.methods(); got != "POST" {
				t.Errorf("the server saw %s", got)
			}
		})
	}
}

// A template placeholder without a value is permanent, names the placeholder and sends
// nothing.
func TestPerformMissingPlaceholderIsPermanent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		mod  func(*events.ITSMSpec)
	}{
		{"body", func(s *events.ITSMSpec) { s.Body = `{"x":"#No Such Field#"}` }},
		{"path", func(s *events.ITSMSpec) { s.Path = snowPath + "?q=#No Such Field#" }},
		{"header", func(s *events.ITSMSpec) { s.Headers = map[string]string{"X-Ref": "#No Such Field#"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sn := newSnow(t)
			hits := watchSnow(sn, nil)
			g := newUnit(t, snowServers(sn, nil), nil)
			spec := noLookupSpec()
			tc.mod(&spec)
			j := unitJob(op(events.OpITSM, "snow", "2701", events.Create, "open-change", "create", spec), 1)
			_, err := g.svc.Perform(t.Context(), j)
			wantPermanent(t, err, "#No Such Field#")
			if !errors.Is(err, wfi.ErrMissing) {
				t.Errorf("err %v is not wfi.ErrMissing", err)
			}
			if hs := hits.all(); len(hs) != 0 || len(j.Attempts) != 0 {
				t.Errorf("requests %v, attempts %+v; want none", hs, j.Attempts)
			}
		})
	}
}

// A 2xx whose response cannot be mapped (a placeholder the answer lacks) is permanent:
// the call succeeded, which the error says.
func TestPerformUnmappableResponseIsPermanent(t *testing.T) {
	t.Parallel()
	sn := newSnow(t)
	g := newUnit(t, snowServers(sn, nil), nil)
	spec := noLookupSpec()
	spec.Response.Correlate = map[string]string{"ref": "#nope#"}
	j := unitJob(op(events.OpITSM, "snow", "2702", events.Create, "open-change", "create", spec), 1)
	_, err := g.svc.Perform(t.Context(), j)
	wantPermanent(t, err, "the call succeeded", "#nope#")
	if len(j.Attempts) != 1 || j.Attempts[0].Status != http.StatusCreated || j.Attempts[0].Error != "" {
		t.Errorf("attempts %+v: the request itself succeeded", j.Attempts)
	}
}

// The circuit breaker (failures 2): the failure that trips it is an outage of the
// server (IsOutage, recorded as such); then no request is made: an outage that was not
// attempted, with no attempt recorded and the time to the probe as its Retry-After.
func TestPerformBreakerOpens(t *testing.T) {
	t.Parallel()
	sn := newSnow(t)
	hits := watchSnow(sn, func(*http.Request) (int, http.Header) { return http.StatusServiceUnavailable, nil })
	g := newUnit(t, snowServers(sn, func(s *config.Server) { s.Breaker = config.Breaker{Failures: 2, OpenFor: time.Minute} }), nil)
	o := op(events.OpITSM, "snow", "2801", events.Create, "open-change", "create", noLookupSpec())

	j1 := unitJob(o, 1)
	_, err := g.svc.Perform(t.Context(), j1)
	if err == nil || failure.IsPermanent(err) || failure.IsOutage(err) || failure.IsNotAttempted(err) {
		t.Fatalf("first failure: %v; want transient, not an outage", err)
	}
	if len(j1.Attempts) != 1 || j1.Attempts[0].Outage || !j1.Attempts[0].Transient {
		t.Errorf("first attempts %+v", j1.Attempts)
	}
	if st := g.svc.Servers["snow"].BreakerState(); st != "closed" {
		t.Errorf("breaker %s after one failure", st)
	}

	j2 := unitJob(o, 2)
	_, err = g.svc.Perform(t.Context(), j2)
	if err == nil || failure.IsPermanent(err) || !failure.IsOutage(err) || failure.IsNotAttempted(err) {
		t.Fatalf("tripping failure: %v; want a transient outage that was attempted", err)
	}
	if len(j2.Attempts) != 1 || !j2.Attempts[0].Outage || j2.Attempts[0].Status != 503 {
		t.Errorf("tripping attempts %+v, want one outage with status 503", j2.Attempts)
	}
	if st := g.svc.Servers["snow"].BreakerState(); st != "open" {
		t.Errorf("breaker %s after two failures", st)
	}

	j3 := unitJob(o, 3, j2.Attempts...)
	_, err = g.svc.Perform(t.Context(), j3)
	if err == nil || failure.IsPermanent(err) || !failure.IsOutage(err) || !failure.IsNotAttempted(err) {
		t.Fatalf("breaker open: %v; want an outage, not attempted", err)
	}
	var oe *outbound.Error
	if !errors.As(err, &oe) || !oe.BreakerOpen {
		t.Errorf("*outbound.Error %+v, want BreakerOpen", oe)
	}
	if !strings.Contains(err.Error(), "circuit breaker open") {
		t.Errorf("error %q", err)
	}
	if ra, ok := failure.RetryAfter(err); !ok || ra <= 0 || ra > time.Minute {
		t.Errorf("RetryAfter = %v, %v; want the time to the probe (≤ 1m)", ra, ok)
	}
	if len(j3.Attempts) != 1 {
		t.Errorf("attempts %+v: the refused call recorded an attempt", j3.Attempts)
	}
	if n := len(hits.all()); n != 2 {
		t.Errorf("the server saw %d requests, want 2", n)
	}
}

// A request cut off by its context (a stop's deadline) while the server holds it:
// Perform returns an error and ctx.Err() is set, which the runner treats as "cut off".
func TestPerformCutOffByContext(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-r.Context().Done() // until the client goes away
	}))
	t.Cleanup(srv.Close)
	g := newUnit(t, map[string]config.Server{"snow": {BaseURL: srv.URL, Proxy: "none"}}, nil)
	j := unitJob(op(events.OpITSM, "snow", "2901", events.Create, "open-change", "create", createSpec()), 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type outcome struct {
		done runner.Done
		err  error
	}
	res := make(chan outcome, 1)
	go func() {
		d, err := g.svc.Perform(ctx, j)
		res <- outcome{d, err}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not arrive")
	}
	cancel()
	var out outcome
	select {
	case out = <-res:
	case <-time.After(10 * time.Second):
		t.Fatal("Perform did not return after its context ended")
	}
	if out.err == nil || ctx.Err() == nil {
		t.Fatalf("err %v, ctx.Err %v: want both", out.err, ctx.Err())
	}
	if failure.IsPermanent(out.err) || !errors.Is(out.err, context.Canceled) {
		t.Errorf("err = %v, want a transient error wrapping context.Canceled", out.err)
	}
	if len(j.Attempts) != 1 || j.Attempts[0].Error == "" || j.Attempts[0].Status != 0 {
		t.Errorf("attempts %+v, want the cut-off request", j.Attempts)
	}
}

// What Perform refuses: an unknown server, a kind it does not perform, a securechange
// operation without securechange.url, an undecodable spec (all permanent); a
// Correlations read that fails is transient. None sends a request.
func TestPerformRejects(t *testing.T) {
	t.Parallel()
	sn := newSnow(t)
	hits := watchSnow(sn, nil)
	g := newUnit(t, snowServers(sn, nil), nil)
	bad := op(events.OpITSM, "snow", "3001", events.Advance, "r", "bad", updateSpec())
	bad.Spec = json.RawMessage(`{"path":42}`)
	cases := []struct {
		name      string
		op        events.Operation
		getErr    error
		permanent bool
		mentions  string
	}{
		{"unknown server", op(events.OpITSM, "jira", "3001", events.Create, "r", "a", noLookupSpec()), nil, true, `server "jira" is not configured in this itsm-sync (servers: snow)`},
		{"email", op(events.OpEmail, "smtp", "3001", events.Create, "r", "a", events.EmailSpec{To: []string{"a@example.com"}}), nil, true, `kind "email"`},
		{"securechange without a client", op(events.OpSecureChange, "securechange", "3001", events.Advance, "r", "a", events.SecureChangeSpec{Advance: true}), nil, true, "securechange.url is not configured"},
		{"spec not an itsm call", bad, nil, true, "spec"},
		{"correlations unreadable", op(events.OpITSM, "snow", "3001", events.Advance, "r", "u", updateSpec()), errors.New("scw_correlation: nats: timeout"), false, "scw_correlation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := &itsmsync.Service{Log: unitLog, Cfg: g.svc.Cfg, Servers: g.svc.Servers, Pub: g.pub,
				Correlations: &unitCorrelations{vals: map[string]map[string]string{}, getErr: tc.getErr}}
			j := unitJob(tc.op, 1)
			_, err := svc.Perform(t.Context(), j)
			if err == nil || failure.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.mentions) {
				t.Errorf("err = %v, want permanent %v mentioning %q", err, tc.permanent, tc.mentions)
			}
			if len(j.Attempts) != 0 {
				t.Errorf("attempts %+v", j.Attempts)
			}
		})
	}
	if hs := hits.all(); len(hs) != 0 {
		t.Errorf("the server saw %v", hs)
	}
}

// Each SecureChange write-back against the simulator, with the ticket's state read
// back; one attempt each. "Nothing to do" and an unknown field are permanent; a write
// SecureChange answers 503 is transient with its Retry-After.
func TestPerformSecureChange(t *testing.T) {
	t.Parallel()
	sc := securechangetest.New(t)
	g := newUnit(t, nil, sc)
	requestsOf := func(id string) []securechangetest.Request {
		var out []securechangetest.Request
		for _, r := range sc.Requests() {
			if strings.Contains(r.Path, "/tickets/"+id) {
				out = append(out, r)
			}
		}
		return out
	}
	puts := func(id string) int {
		n := 0
		for _, r := range requestsOf(id) {
			if r.Method == http.MethodPut {
				n++
			}
		}
		return n
	}
	cases := []struct {
		ticket string
		name   string
		spec   events.SecureChangeSpec
		check  func(t *testing.T, tk securechange.Ticket)
	}{
		{"3101", "update_fields", events.SecureChangeSpec{UpdateFields: map[string]string{"ITSM Change": "from #ticket_requester#", "Risk": "High"}}, func(t *testing.T, tk securechange.Ticket) {
			if v, _ := tk.Value("ITSM Change"); v != "from a.smith" {
				t.Errorf("ITSM Change = %q, want the planned requester", v)
			}
			if v, _ := tk.Value("Risk"); v != "High" {
				t.Errorf("Risk = %q", v)
			}
		}},
		{"3102", "approve", events.SecureChangeSpec{Approve: "approved by the CAB for #ticket_id#"}, func(t *testing.T, tk securechange.Ticket) {
			if f, _ := tk.Field("Approve Access"); f.Approved == nil || !*f.Approved || f.Reason != "approved by the CAB for 3102" {
				t.Errorf("Approve Access = %+v", f)
			}
		}},
		{"3103", "reject", events.SecureChangeSpec{Reject: "not now (#ticket_id#)"}, func(t *testing.T, tk securechange.Ticket) {
			if f, _ := tk.Field("Approve Access"); f.Approved == nil || *f.Approved || f.Reason != "not now (3103)" {
				t.Errorf("Approve Access = %+v", f)
			}
		}},
		{"3104", "advance", events.SecureChangeSpec{Advance: true}, func(t *testing.T, tk securechange.Ticket) {
			if tk.CurrentStep == nil || tk.CurrentStep.Name != "Implementation" {
				t.Errorf("current step %+v, want Implementation", tk.CurrentStep)
			}
		}},
		{"3105", "redo", events.SecureChangeSpec{Redo: "Submit Request", Comment: "please justify #ticket_id#"}, func(t *testing.T, tk securechange.Ticket) {
			if tk.CurrentStep == nil || tk.CurrentStep.Name != "Submit Request" {
				t.Errorf("current step %+v, want Submit Request", tk.CurrentStep)
			}
		}},
		{"3106", "reject_ticket", events.SecureChangeSpec{RejectTicket: "rejected in ServiceNow"}, func(t *testing.T, tk securechange.Ticket) {
			if tk.CurrentStep != nil || tk.Status != securechangetest.StatusRejected {
				t.Errorf("ticket status %q, current step %+v", tk.Status, tk.CurrentStep)
			}
		}},
	}
	for _, tc := range cases {
		sc.Put(securechangetest.Fixture(tc.ticket))
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			j := unitJob(op(events.OpSecureChange, "securechange", tc.ticket, events.Advance, "r", tc.name, tc.spec), 1)
			done, err := g.svc.Perform(t.Context(), j)
			if err != nil {
				t.Fatal(err)
			}
			if len(done.Correlation) != 0 || done.Commit != nil {
				t.Errorf("Done %+v: a write-back stores nothing", done)
			}
			if len(j.Attempts) != 1 || j.Attempts[0].Error != "" || j.Attempts[0].N != 1 || j.Attempts[0].At.IsZero() {
				t.Errorf("attempts %+v", j.Attempts)
			}
			if n := puts(tc.ticket); n != 1 {
				t.Errorf("%d PUTs, want 1", n)
			}
			tc.check(t, sc.Ticket(tc.ticket))
		})
	}

	t.Run("redelivered advance", func(t *testing.T) {
		t.Parallel()
		sc.Put(securechangetest.Fixture("3107"))
		o := op(events.OpSecureChange, "securechange", "3107", events.Advance, "r", "advance", events.SecureChangeSpec{Advance: true})
		for d := 1; d <= 2; d++ {
			if _, err := g.svc.Perform(t.Context(), unitJob(o, d)); err != nil {
				t.Fatalf("delivery %d: %v", d, err)
			}
		}
		// Pinned to the step it was planned at: the redelivery does not complete the next.
		if st := sc.Ticket("3107").CurrentStep; st == nil || st.Name != "Implementation" {
			t.Errorf("current step %+v, want Implementation", st)
		}
		if n := puts("3107"); n != 1 {
			t.Errorf("%d PUTs, want 1", n)
		}
	})

	t.Run("nothing to do", func(t *testing.T) {
		t.Parallel()
		sc.Put(securechangetest.Fixture("3108"))
		j := unitJob(op(events.OpSecureChange, "securechange", "3108", events.Advance, "r", "noop", events.SecureChangeSpec{}), 1)
		_, err := g.svc.Perform(t.Context(), j)
		wantPermanent(t, err, "nothing to do")
		if rs := requestsOf("3108"); len(rs) != 0 || len(j.Attempts) != 0 {
			t.Errorf("requests %d, attempts %+v; want none", len(rs), j.Attempts)
		}
	})

	t.Run("unknown field", func(t *testing.T) {
		t.Parallel()
		sc.Put(securechangetest.Fixture("3109"))
		j := unitJob(op(events.OpSecureChange, "securechange", "3109", events.Advance, "r", "f", events.SecureChangeSpec{UpdateFields: map[string]string{"No Such Field": "x"}}), 1)
		_, err := g.svc.Perform(t.Context(), j)
		wantPermanent(t, err, `"No Such Field"`, "ITSM Change")
		if len(j.Attempts) != 1 || j.Attempts[0].Transient || j.Attempts[0].Error == "" {
			t.Errorf("attempts %+v", j.Attempts)
		}
		if n := puts("3109"); n != 0 {
			t.Errorf("%d PUTs, want none", n)
		}
	})

	t.Run("read-only field", func(t *testing.T) {
		t.Parallel()
		sc.Put(json.RawMessage(strings.Replace(string(securechangetest.Fixture("3112")),
			`"name": "ITSM Change", "text": ""`, `"name": "ITSM Change", "text": "", "read_only": true`, 1)))
		j := unitJob(op(events.OpSecureChange, "securechange", "3112", events.Advance, "r", "f", events.SecureChangeSpec{UpdateFields: map[string]string{"ITSM Change": "x"}}), 1)
		_, err := g.svc.Perform(t.Context(), j)
		wantPermanent(t, err, `"ITSM Change"`, "read-only")
		if n := puts("3112"); n != 0 {
			t.Errorf("%d PUTs, want none", n)
		}
	})

	t.Run("missing placeholder", func(t *testing.T) {
		t.Parallel()
		sc.Put(securechangetest.Fixture("3110"))
		j := unitJob(op(events.OpSecureChange, "securechange", "3110", events.Advance, "r", "f", events.SecureChangeSpec{RejectTicket: "#nope#"}), 1)
		_, err := g.svc.Perform(t.Context(), j)
		wantPermanent(t, err, "#nope#")
		if rs := requestsOf("3110"); len(rs) != 0 || len(j.Attempts) != 0 {
			t.Errorf("requests %d, attempts %+v; want none", len(rs), j.Attempts)
		}
	})

	t.Run("correlation placeholder", func(t *testing.T) {
		t.Parallel()
		sc.Put(securechangetest.Fixture("3111"))
		// securechange operations read the values stored under the securechange target
		_ = g.corr.Merge(t.Context(), "3111", itsmsync.TargetSecureChange, map[string]string{"chg": "CHG0000042"})
		j := unitJob(op(events.OpSecureChange, "securechange", "3111", events.Advance, "r", "f",
			events.SecureChangeSpec{UpdateFields: map[string]string{"ITSM Change": "#correlation.chg#"}}), 1)
		if _, err := g.svc.Perform(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		if v, _ := sc.Ticket("3111").Value("ITSM Change"); v != "CHG0000042" {
			t.Errorf("ITSM Change = %q", v)
		}
	})
}

// A write SecureChange answers 503 with Retry-After is transient and carries the delay;
// the attempt is recorded as transient. (Its own server: FailNextWrites is server-wide.)
func TestPerformSecureChangeTransient(t *testing.T) {
	t.Parallel()
	sc := securechangetest.New(t)
	sc.Put(securechangetest.Fixture("3201"))
	g := newUnit(t, nil, sc)
	sc.FailNextWrites(1, http.StatusServiceUnavailable, http.Header{"Retry-After": {"3"}})
	j := unitJob(op(events.OpSecureChange, "securechange", "3201", events.Advance, "r", "advance", events.SecureChangeSpec{Advance: true}), 1)
	_, err := g.svc.Perform(t.Context(), j)
	if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want transient 503", err)
	}
	if ra, ok := failure.RetryAfter(err); !ok || ra != 3*time.Second {
		t.Errorf("RetryAfter = %v, %v; want 3s", ra, ok)
	}
	if len(j.Attempts) != 1 || !j.Attempts[0].Transient || j.Attempts[0].Error == "" {
		t.Errorf("attempts %+v", j.Attempts)
	}
	if st := sc.Ticket("3201").CurrentStep; st == nil || st.Name != "Business Approval" {
		t.Errorf("current step %+v: the failed write advanced it", st)
	}
	// The retry (the next delivery) goes through.
	if _, err := g.svc.Perform(t.Context(), unitJob(j.Op, 2, j.Attempts...)); err != nil {
		t.Fatal(err)
	}
	if st := sc.Ticket("3201").CurrentStep; st == nil || st.Name != "Implementation" {
		t.Errorf("current step %+v after the retry", st)
	}
}

// halfOpen waits until the breaker of s lets a probe through (open_for passed).
func halfOpen(t *testing.T, s *outbound.Server) {
	t.Helper()
	natstest.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
		if st := s.BreakerState(); st != "half-open" {
			return fmt.Errorf("breaker %s, waiting for half-open", st)
		}
		return nil
	})
}

// After open_for the breaker lets one probe through: a probe that fails is an outage
// (and opens the breaker again); one that succeeds closes it.
func TestPerformBreakerProbe(t *testing.T) {
	t.Parallel()
	sn := newSnow(t)
	var mu sync.Mutex
	status := http.StatusServiceUnavailable
	hits := watchSnow(sn, func(*http.Request) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		return status, nil
	})
	const openFor = 100 * time.Millisecond
	g := newUnit(t, snowServers(sn, func(s *config.Server) { s.Breaker = config.Breaker{Failures: 1, OpenFor: openFor} }), nil)
	o := op(events.OpITSM, "snow", "2802", events.Create, "open-change", "create", noLookupSpec())
	if _, err := g.svc.Perform(t.Context(), unitJob(o, 1)); !failure.IsOutage(err) || failure.IsNotAttempted(err) {
		t.Fatalf("tripping failure %v, want an attempted outage", err)
	}
	if _, err := g.svc.Perform(t.Context(), unitJob(o, 2)); !failure.IsNotAttempted(err) {
		t.Fatalf("while open: %v, want not attempted", err)
	}
	halfOpen(t, g.svc.Servers["snow"])
	j := unitJob(o, 3)
	_, err := g.svc.Perform(t.Context(), j)
	if !failure.IsOutage(err) || failure.IsNotAttempted(err) || len(j.Attempts) != 1 || !j.Attempts[0].Outage {
		t.Fatalf("failed probe: %v, attempts %+v; want an attempted outage", err, j.Attempts)
	}
	if st := g.svc.Servers["snow"].BreakerState(); st != "open" {
		t.Errorf("breaker %s after the failed probe, want open", st)
	}
	mu.Lock()
	status = 0 // the fake answers
	mu.Unlock()
	halfOpen(t, g.svc.Servers["snow"])
	if _, err := g.svc.Perform(t.Context(), unitJob(o, 4)); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if st := g.svc.Servers["snow"].BreakerState(); st != "closed" {
		t.Errorf("breaker %s after a successful probe, want closed", st)
	}
	if got := hits.methods(); got != "POST,POST,POST" {
		t.Errorf("the server saw %s, want the tripping request and two probes", got)
	}
}

// A Perform whose context ends while it waits for one of the server's concurrency slots
// sent nothing: the error is failure.NotAttempted and no attempt is recorded (so the
// runner does not list a request that never went out as one of unknown outcome).
func TestPerformCutOffWaitingForASlot(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	g := newUnit(t, map[string]config.Server{"snow": {BaseURL: srv.URL, Proxy: "none", Concurrency: 1}}, nil)
	o := op(events.OpITSM, "snow", "2902", events.Create, "open-change", "create", noLookupSpec())

	holder, release := context.WithCancel(t.Context())
	defer release()
	held := make(chan error, 1)
	go func() {
		_, err := g.svc.Perform(holder, unitJob(o, 1))
		held <- err
	}()
	select {
	case <-arrived: // the only slot is taken
	case <-time.After(10 * time.Second):
		t.Fatal("the first request did not arrive")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	j := unitJob(o, 1)
	_, err := g.svc.Perform(ctx, j)
	if err == nil || ctx.Err() == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "waiting for a concurrency slot") {
		t.Fatalf("err = %v (ctx %v), want a transient error while waiting for a slot", err, ctx.Err())
	}
	select {
	case <-arrived:
		t.Fatal("the second request was sent")
	default:
	}
	if !failure.IsNotAttempted(err) {
		t.Errorf("nothing was sent, but the error is not failure.NotAttempted: %v", err)
	}
	if len(j.Attempts) != 0 {
		t.Errorf("nothing was sent, but an attempt was recorded: %+v", j.Attempts)
	}
	release()
	<-held
}

// TestPerformReadsCorrelationsOnlyWhenUsed: correlation values are read (a JetStream
// request) only for an action whose templates may use them — a placeholder, ph, or
// .Correlation, in any template it renders or in a custom placeholder — and not for a
// create whose body merely has ServiceNow's correlation_id key.
func TestPerformReadsCorrelationsOnlyWhenUsed(t *testing.T) {
	t.Parallel()
	upd := func(mutate func(*events.ITSMSpec)) events.ITSMSpec {
		sp := events.ITSMSpec{Server: "snow", Method: "PATCH", Path: snowPath + "/0123", Body: `{"work_notes":"x"}`}
		mutate(&sp)
		return sp
	}
	for _, tc := range []struct {
		name   string
		spec   events.ITSMSpec
		custom map[string]string
		reads  bool
	}{
		{"create with correlation_id", createSpec(), nil, false},
		{"placeholder in the path", updateSpec(), nil, true},
		{"ph in the body", upd(func(s *events.ITSMSpec) { s.Body = `{"n":"{{ph "correlation.number"}}"}` }), nil, true},
		{".Correlation in the body", upd(func(s *events.ITSMSpec) { s.Body = `{"n":"{{index .Correlation "number"}}"}` }), nil, true},
		{"placeholder in a header", upd(func(s *events.ITSMSpec) { s.Headers = map[string]string{"X-Chg": "#correlation.number#"} }), nil, true},
		{"custom placeholder", upd(func(s *events.ITSMSpec) { s.Body = `{"n":"#chg#"}` }), map[string]string{"chg": "#correlation.number#"}, true},
		{"response mapping", upd(func(s *events.ITSMSpec) {
			s.Response.Correlate = map[string]string{"prev": "#correlation.number#"}
		}), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sn := newSnow(t)
			g := newUnit(t, snowServers(sn, nil), nil)
			g.svc.Cfg.Placeholders = tc.custom
			g.corr.vals[events.CorrelationKey("2301", "snow")] = map[string]string{"sys_id": fmt.Sprintf("%032x", 1), "number": "CHG0000001"}
			o := op(events.OpITSM, "snow", "2301", events.Advance, "r", "a", tc.spec)
			// The fake has no such record (a 404 is fine here): what matters is that the
			// request was rendered, with the values read when the templates need them.
			if _, err := g.svc.Perform(t.Context(), unitJob(o, 1)); err != nil && strings.Contains(err.Error(), "correlation") {
				t.Fatal(err)
			}
			if got := g.corr.gets > 0; got != tc.reads {
				t.Errorf("correlation read %d times, want a read: %v", g.corr.gets, tc.reads)
			}
		})
	}
}
