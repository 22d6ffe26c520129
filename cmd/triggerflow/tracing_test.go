package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

// traceRig is `triggerflow all` in this process (testrig: app.Options, as the command
// composes it) on a JetStream of its own, with an ITSM stand-in that records each request's
// traceparent, the SecureChange simulator (enrichment and write-backs) and an SMTP test
// server: one route on CREATE sends an ITSM create whose answer is written back to the
// ticket, and an email.
type traceRig struct {
	*testrig.Rig
	mail *smtptest.Server
	sc   *securechangetest.Server

	mu          sync.Mutex
	itsmParents []string // traceparent of each ITSM request ("" when none)
}

// failingTicket is the ticket whose ITSM create the stand-in refuses (400: permanent).
const failingTicket = "4444"

func startTraceRig(t *testing.T, tracingYAML string, extra ...fx.Option) *traceRig {
	t.Helper()
	g := &traceRig{mail: smtptest.New(t), sc: securechangetest.New(t)}
	for _, id := range []string{"4242", "4343", failingTicket} {
		g.sc.Put(securechangetest.Fixture(id))
	}
	scc := g.sc.Config()
	itsm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.itsmParents = append(g.itsmParents, r.Header.Get("traceparent"))
		g.mu.Unlock()
		if strings.Contains(string(body), failingTicket) {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"result":{"sys_id":"abc123","number":"CHG0001"}}`)
	}))
	t.Cleanup(itsm.Close)
	t.Setenv("TF_TRACE_PW", "pw")
	y := fmt.Sprintf(`log: {level: warn}
ingress:
  users: [{name: mediator, password_env: TF_TRACE_PW}]
securechange: {url: %q, user: %q, password_file: %q}
servers:
  snow: {base_url: %q}
smtp: {host: 127.0.0.1, port: %d, starttls: false, from: "triggerflow@example.com"}
notifications: {on_failure: [oncall@example.com]}
routes:
  - name: open-change
    on: {event: CREATE}
    actions:
      - name: create-change
        itsm: {server: snow, method: POST, path: /api/now/table/change_request, body: '{"u_ticket":"#ticket_id#"}', lookup: {path: /api/now/table/change_request, found: result.0.sys_id},
               response: {fields: {ITSM Change: '#result.number#'}}}
      - name: tell-ops
        email: {to: [ops@example.com], subject: "Ticket #ticket_id# opened"}
`, scc.URL, scc.User, scc.PasswordFile, itsm.URL, g.mail.Port) + tracingYAML
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "triggerflow.yaml"), []byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g.Rig = testrig.Start(t, "all", cfg, extra...)
	return g
}

// post sends one CREATE for ticket to the ingress, as the bash mediator would.
func (g *traceRig) post(t *testing.T, ticket string) {
	t.Helper()
	xml := "<ticket_info><id>" + ticket + "</id><subject>Open port 443</subject><updateDate>1763884860000</updateDate></ticket_info>"
	req, err := http.NewRequest(http.MethodPost, g.Ingress+"/v1/triggers/CREATE", bytes.NewBufferString(xml))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("mediator", "pw")
	req.Header.Set("Content-Type", "application/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"stored":true`) {
		t.Fatalf("POST: %s %s", resp.Status, body)
	}
}

// traceparents returns the traceparent header of every message of a stream.
func (g *traceRig) traceparents(t *testing.T, stream string) []string {
	t.Helper()
	var out []string
	for _, m := range g.Msgs(stream, ">") {
		out = append(out, nats.Header(m.Header).Get(tracing.HdrTraceparent))
	}
	return out
}

func traceparentOf(s tracetest.SpanStub) string {
	return "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// TestTracingOneTracePerTrigger: one trigger POSTed to the ingress is one trace: the
// ingress's server span is its root; the dispatcher's plan span (with its SecureChange
// enrichment call), itsm-sync's operation span and its ITSM HTTP client span, the
// write-back's operation span and its SecureChange call, the notifier's operation span
// and its SMTP span all share its trace id, each the child of the span that published
// the message it consumed (the traceparent header on SCW_TRIGGERS and SCW_OPS); the ITSM
// request carries its client span's traceparent. The in-memory exporter is installed
// through the tracing fx module, where the OTLP one would be.
func TestTracingOneTracePerTrigger(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	g := startTraceRig(t, "", fx.Supply(fx.Annotate(exp, fx.As(new(sdktrace.SpanExporter)))))
	g.post(t, "4242")

	// The spans, by a name that says where each one is.
	type want struct{ name, kind string } // kind: the operation kind of a runner's span
	wants := map[string]want{
		"ingress":    {tracing.SpanIngress, ""},
		"plan":       {tracing.SpanPlan, ""},
		"plan.sc":    {tracing.SpanSecureChange, ""}, // GET the ticket (enrichment)
		"itsm":       {"itsm-sync.operation", "itsm"},
		"itsm.http":  {tracing.SpanITSM, ""},
		"wb":         {"itsm-sync.operation", "securechange"}, // the write-back
		"email":      {"notifier.operation", "email"},
		"email.smtp": {tracing.SpanSMTP, ""},
	}
	var spans tracetest.SpanStubs
	got := map[string]tracetest.SpanStub{}
	find := func() error {
		spans = exp.GetSpans()
		clear(got)
		for _, s := range spans {
			for k, w := range wants {
				if s.Name == w.name && (w.kind == "" || attr(s, "scw.operation.kind") == w.kind) {
					got[k] = s
				}
			}
		}
		// Two securechange.http spans: the enrichment's (child of the plan) and the
		// write-back's (child of the write-back's operation).
		for _, s := range spans {
			if s.Name == tracing.SpanSecureChange && s.Parent.SpanID() == got["wb"].SpanContext.SpanID() {
				got["wb.sc"] = s
			}
			if s.Name == tracing.SpanSecureChange && s.Parent.SpanID() == got["plan"].SpanContext.SpanID() {
				got["plan.sc"] = s
			}
		}
		for _, k := range []string{"ingress", "plan", "plan.sc", "itsm", "itsm.http", "wb", "wb.sc", "email", "email.smtp"} {
			if _, ok := got[k]; !ok {
				return fmt.Errorf("no %s span yet (%d spans)", k, len(spans))
			}
		}
		return nil
	}
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, find)

	root := got["ingress"]
	traceID := root.SpanContext.TraceID()
	if root.Parent.IsValid() || root.SpanKind != trace.SpanKindServer {
		t.Errorf("ingress span: parent %v kind %v, want a root server span", root.Parent, root.SpanKind)
	}
	for _, s := range spans {
		if s.SpanContext.TraceID() != traceID {
			t.Errorf("%s (%s): trace %s, want the trigger's %s", s.Name, attr(s, "scw.operation.kind"), s.SpanContext.TraceID(), traceID)
		}
	}
	parentOf := map[string]string{ // span -> the span it is the child of
		"plan": "ingress", "plan.sc": "plan",
		"itsm": "plan", "itsm.http": "itsm",
		"wb": "itsm", "wb.sc": "wb",
		"email": "plan", "email.smtp": "email",
	}
	for child, parent := range parentOf {
		if c, p := got[child], got[parent]; c.Parent.SpanID() != p.SpanContext.SpanID() {
			t.Errorf("%s: parent span %s, want %s's %s", child, c.Parent.SpanID(), parent, p.SpanContext.SpanID())
		}
	}
	kinds := map[string]trace.SpanKind{"plan": trace.SpanKindConsumer, "plan.sc": trace.SpanKindClient, "itsm": trace.SpanKindConsumer,
		"itsm.http": trace.SpanKindClient, "wb": trace.SpanKindConsumer, "wb.sc": trace.SpanKindClient, "email": trace.SpanKindConsumer, "email.smtp": trace.SpanKindClient}
	for k, kind := range kinds {
		if got[k].SpanKind != kind {
			t.Errorf("%s: kind %v, want %v", k, got[k].SpanKind, kind)
		}
	}

	// Attributes: the trigger on the ingress's span, the operation on the runner's.
	trigID := attr(root, "scw.trigger_id")
	if attr(root, "scw.event") != "CREATE" || attr(root, "scw.ticket_id") != "4242" || len(trigID) != 32 || attr(root, "scw.outcome") != "stored" || attr(root, "http.response.status_code") != "200" {
		t.Errorf("ingress span attributes: %v", root.Attributes)
	}
	if p := got["plan"]; attr(p, "scw.trigger_id") != trigID || attr(p, "scw.plan.operations") != "2" || attr(p, "scw.outcome") != "planned" {
		t.Errorf("plan span attributes: %v", p.Attributes)
	}
	op := got["itsm"]
	if attr(op, "scw.operation.target") != "snow" || attr(op, "scw.outcome") != "succeeded" || attr(op, "scw.trigger_id") != trigID ||
		attr(op, "scw.ticket_id") != "4242" || len(attr(op, "scw.operation_id")) != 32 || attr(op, "scw.route") != "open-change" || attr(op, "scw.action") != "create-change" {
		t.Errorf("itsm-sync operation span attributes: %v", op.Attributes)
	}
	if h := got["itsm.http"]; attr(h, "http.request.method") != "POST" || attr(h, "http.response.status_code") != "201" || attr(h, "scw.server") != "snow" || attr(h, "url.path") != "/api/now/table/change_request" {
		t.Errorf("ITSM client span attributes: %v", h.Attributes)
	}
	if h := got["plan.sc"]; attr(h, "http.request.method") != "GET" || attr(h, "http.response.status_code") != "200" {
		t.Errorf("SecureChange client span attributes: %v", h.Attributes)
	}
	for _, k := range []string{"wb", "email"} {
		if attr(got[k], "scw.outcome") != "succeeded" {
			t.Errorf("%s span attributes: %v", k, got[k].Attributes)
		}
	}

	// On the wire: the trigger carries the ingress's span, the plan and its operations
	// the plan's, the write-back the ITSM operation's, each result its operation's.
	if tps := g.traceparents(t, events.StreamTriggers); len(tps) != 1 || tps[0] != traceparentOf(root) {
		t.Errorf("SCW_TRIGGERS traceparent %q, want %q", tps, traceparentOf(root))
	}
	plan := traceparentOf(got["plan"])
	if tps := g.traceparents(t, events.StreamPlans); len(tps) != 1 || tps[0] != plan {
		t.Errorf("SCW_PLANS traceparent %q, want %q", tps, plan)
	}
	if tps := g.traceparents(t, events.StreamOps); len(tps) != 3 || tps[0] != plan || tps[1] != plan || tps[2] != traceparentOf(op) {
		t.Errorf("SCW_OPS traceparents %q, want the plan span's %q twice, then the ITSM operation's %q", tps, plan, traceparentOf(op))
	}
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		tps := g.traceparents(t, events.StreamResults)
		if len(tps) != 3 {
			return fmt.Errorf("%d results, want 3", len(tps))
		}
		for _, tp := range tps {
			if tp != traceparentOf(op) && tp != traceparentOf(got["wb"]) && tp != traceparentOf(got["email"]) {
				return fmt.Errorf("result traceparent %q is not an operation span's", tp)
			}
		}
		return nil
	})
	g.mu.Lock()
	if len(g.itsmParents) != 1 || g.itsmParents[0] != traceparentOf(got["itsm.http"]) {
		t.Errorf("ITSM request traceparent %q, want the client span's %q", g.itsmParents, traceparentOf(got["itsm.http"]))
	}
	g.mu.Unlock()

	// A trigger without traceparent (republished by hand with the nats CLI) is planned
	// as ever, in a trace of its own.
	stored := g.Msgs(events.StreamTriggers, ">")[0]
	m := nats.NewMsg("scw.trigger.create.4242")
	m.Data = stored.Data
	m.Header.Set(nats.MsgIdHdr, "by-hand-1")
	if _, err := g.JS.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		for _, s := range exp.GetSpans() {
			if s.Name == tracing.SpanPlan && !s.Parent.IsValid() && s.SpanContext.TraceID() != traceID && attr(s, "scw.outcome") == "planned" {
				return nil
			}
		}
		return fmt.Errorf("the trigger without traceparent is not planned yet")
	})
}

// TestTracingOff: with tracing off (the default) nothing is exported, even with an
// endpoint configured and OTEL_EXPORTER_OTLP_ENDPOINT set; no message and no ITSM
// request carries a traceparent, and the trigger still flows to the ITSM call and the
// email (messages without traceparent are the normal case then).
func TestTracingOff(t *testing.T) {
	var collected sync.Map
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		collected.Store(r.URL.Path, true)
	}))
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Cleanup(func() { // after the app stopped (cleanups run last first): a flush would have come by now
		n := 0
		collected.Range(func(any, any) bool { n++; return true })
		if n != 0 {
			t.Errorf("%d exports reached the collector with tracing off", n)
		}
	})
	g := startTraceRig(t, "tracing: {exporter: none, endpoint: "+collector.URL+", insecure: true}\n")
	g.post(t, "4343")
	g.mail.WaitMessages(t, 1, 60*time.Second)
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if n := len(g.traceparents(t, events.StreamResults)); n != 3 {
			return fmt.Errorf("%d results, want 3 (ITSM, write-back, email)", n)
		}
		return nil
	})
	for _, stream := range []string{events.StreamTriggers, events.StreamPlans, events.StreamOps, events.StreamResults} {
		for _, tp := range g.traceparents(t, stream) {
			if tp != "" {
				t.Errorf("%s: a message carries traceparent %q with tracing off", stream, tp)
			}
		}
	}
	g.mu.Lock()
	if len(g.itsmParents) != 1 || g.itsmParents[0] != "" {
		t.Errorf("ITSM requests' traceparents %q, want one request without", g.itsmParents)
	}
	g.mu.Unlock()
}

// TestTracingFailureAlert: an operation that fails for good records the error on its
// span (outcome failed, dead-lettered, error status); the failure alert the notifier
// sends is in the same trace, a child of the failed operation's span (the failed
// result's traceparent), and so is its SMTP span.
func TestTracingFailureAlert(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	g := startTraceRig(t, "", fx.Supply(fx.Annotate(exp, fx.As(new(sdktrace.SpanExporter)))))
	g.post(t, failingTicket)

	var failed, alert, smtp tracetest.SpanStub
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		spans := exp.GetSpans()
		for _, s := range spans {
			if s.Name == "itsm-sync.operation" && attr(s, "scw.outcome") == "failed" {
				failed = s
			}
		}
		for _, s := range spans {
			if s.Name == "notifier.operation" && attr(s, "scw.operation.kind") == "alert" && s.Parent.SpanID() == failed.SpanContext.SpanID() {
				alert = s
			}
		}
		for _, s := range spans {
			if s.Name == tracing.SpanSMTP && s.Parent.SpanID() == alert.SpanContext.SpanID() {
				smtp = s
			}
		}
		if !smtp.SpanContext.IsValid() {
			return fmt.Errorf("no failed operation, alert and SMTP span chain yet (%d spans)", len(spans))
		}
		return nil
	})
	var root tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == tracing.SpanIngress {
			root = s
		}
	}
	for _, s := range []tracetest.SpanStub{failed, alert, smtp} {
		if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Errorf("%s: trace %s, want the trigger's %s", s.Name, s.SpanContext.TraceID(), root.SpanContext.TraceID())
		}
	}
	if attr(failed, "scw.dead_lettered") != "true" || failed.Status.Code != codes.Error ||
		failed.Status.Description != "server snow: POST /api/now/table/change_request: 400 Bad Request" {
		t.Errorf("failed operation span: %v status %+v", failed.Attributes, failed.Status)
	}
	// No response body on any span (the stand-in answered {"error":"bad request"}).
	for _, s := range exp.GetSpans() {
		for _, e := range s.Events {
			for _, a := range e.Attributes {
				if strings.Contains(a.Value.Emit(), "bad request") {
					t.Errorf("%s: event %s holds the response body: %s", s.Name, e.Name, a.Value.Emit())
				}
			}
		}
		if strings.Contains(s.Status.Description, "bad request") {
			t.Errorf("%s: status holds the response body: %s", s.Name, s.Status.Description)
		}
	}
	var http400 bool
	for _, s := range exp.GetSpans() {
		if s.Name == tracing.SpanITSM && s.Parent.SpanID() == failed.SpanContext.SpanID() && s.Status.Code == codes.Error && s.Status.Description == "HTTP 400" {
			http400 = true
		}
	}
	if !http400 {
		t.Error("no ITSM client span with the 400 as its error under the failed operation")
	}
	// The dead letter carries the failed operation's span too.
	if tps := g.traceparents(t, events.StreamDLQ); len(tps) != 1 || tps[0] != traceparentOf(failed) {
		t.Errorf("SCW_DLQ traceparent %q, want the failed operation's %q", tps, traceparentOf(failed))
	}
}
