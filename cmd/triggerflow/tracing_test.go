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
	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/pkg/natsserver/natstest"
	"github.com/triggerflow/triggerflow/pkg/platform/tracing"
	"github.com/triggerflow/triggerflow/services/ingress"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

// traceRig is `triggerflow all` in this process (appOptions, as the command composes
// it) on an embedded JetStream, with an ITSM stand-in that records each request's
// traceparent and an SMTP test server: one route sends an ITSM create and an email.
type traceRig struct {
	ingress string // host:port
	js      jetstream.JetStream
	mail    *smtptest.Server

	mu          sync.Mutex
	itsmParents []string // traceparent of each ITSM request ("" when none)
}

func startTraceRig(t *testing.T, tracingYAML string, extra ...fx.Option) *traceRig {
	t.Helper()
	ns := natstest.RunJetStream(t)
	g := &traceRig{mail: smtptest.New(t)}
	itsm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		g.mu.Lock()
		g.itsmParents = append(g.itsmParents, r.Header.Get("traceparent"))
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"result":{"sys_id":"abc123","number":"CHG0001"}}`)
	}))
	t.Cleanup(itsm.Close)
	g.ingress = fmt.Sprintf("127.0.0.1:%d", natstest.FreePort(t))
	t.Setenv("TF_TRACE_PW", "pw")
	y := fmt.Sprintf(`log: {level: warn}
nats: {url: %q}
admin: {listen: "127.0.0.1:0"}
ingress:
  listen: %q
  users: [{name: mediator, password_env: TF_TRACE_PW}]
servers:
  snow: {base_url: %q}
smtp: {host: 127.0.0.1, port: %d, starttls: false, from: "triggerflow@example.com"}
routes:
  - name: open-change
    on: {event: CREATE}
    actions:
      - name: create-change
        itsm: {server: snow, method: POST, path: /api/now/table/change_request, body: '{"u_ticket":"#ticket_id#"}', lookup: {path: /api/now/table/change_request, found: result.0.sys_id}}
      - name: tell-ops
        email: {to: [ops@example.com], subject: "Ticket #ticket_id# opened"}
`, ns.ClientURL(), g.ingress, itsm.URL, g.mail.Port) + tracingYAML
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "triggerflow.yaml"), []byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	opts := append(appOptions("all", cfg, ingress.Options{}), fx.NopLogger)
	app := fxtest.New(t, append(opts, extra...)...)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	g.js = natstest.JetStream(t, ns.ClientURL())
	return g
}

// post sends one CREATE for ticket to the ingress, as the bash mediator would.
func (g *traceRig) post(t *testing.T, ticket string) {
	t.Helper()
	xml := "<ticket_info><id>" + ticket + "</id><subject>Open port 443</subject><updateDate>1763884860000</updateDate></ticket_info>"
	req, err := http.NewRequest(http.MethodPost, "http://"+g.ingress+"/v1/triggers/CREATE", bytes.NewBufferString(xml))
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
	for _, m := range natstest.Msgs(t, g.js, stream, ">") {
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
// ingress's server span is its root; the dispatcher's plan span, itsm-sync's operation
// span and its HTTP client span, the notifier's operation span and its SMTP span all
// share its trace id, each the child of the span that published the message it
// consumed (the traceparent header on SCW_TRIGGERS and SCW_OPS), and the ITSM request
// carries the HTTP span's traceparent. The exporter is installed through the tracing
// fx module, as a test replaces the OTLP one.
func TestTracingOneTracePerTrigger(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	g := startTraceRig(t, "", fx.Supply(fx.Annotate(exp, fx.As(new(sdktrace.SpanExporter)))))
	g.post(t, "4242")

	names := []string{tracing.SpanIngress, tracing.SpanPlan, "itsm-sync.operation", tracing.SpanITSM, "notifier.operation", tracing.SpanSMTP}
	byName := map[string]tracetest.SpanStub{}
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		for _, s := range exp.GetSpans() {
			if _, seen := byName[s.Name]; !seen {
				byName[s.Name] = s
			}
		}
		for _, n := range names {
			if _, ok := byName[n]; !ok {
				return fmt.Errorf("no %s span yet (have %d spans)", n, len(exp.GetSpans()))
			}
		}
		return nil
	})
	root := byName[tracing.SpanIngress]
	traceID := root.SpanContext.TraceID()
	if root.Parent.IsValid() || root.SpanKind != trace.SpanKindServer {
		t.Errorf("ingress span: parent %v kind %v, want a root server span", root.Parent, root.SpanKind)
	}
	parentOf := map[string]string{ // span -> the span it must be the child of
		tracing.SpanPlan:      tracing.SpanIngress,
		"itsm-sync.operation": tracing.SpanPlan,
		tracing.SpanITSM:      "itsm-sync.operation",
		"notifier.operation":  tracing.SpanPlan,
		tracing.SpanSMTP:      "notifier.operation",
	}
	for child, parent := range parentOf {
		c, p := byName[child], byName[parent]
		if c.SpanContext.TraceID() != traceID {
			t.Errorf("%s: trace %s, want the trigger's %s", child, c.SpanContext.TraceID(), traceID)
		}
		if c.Parent.SpanID() != p.SpanContext.SpanID() {
			t.Errorf("%s: parent span %s, want %s (%s)", child, c.Parent.SpanID(), p.SpanContext.SpanID(), parent)
		}
	}
	kinds := map[string]trace.SpanKind{tracing.SpanPlan: trace.SpanKindConsumer, "itsm-sync.operation": trace.SpanKindConsumer,
		tracing.SpanITSM: trace.SpanKindClient, "notifier.operation": trace.SpanKindConsumer, tracing.SpanSMTP: trace.SpanKindClient}
	for n, k := range kinds {
		if byName[n].SpanKind != k {
			t.Errorf("%s: kind %v, want %v", n, byName[n].SpanKind, k)
		}
	}

	// Attributes: the trigger on the ingress's span, the operation on the runner's.
	trigID := attr(root, "scw.trigger_id")
	if attr(root, "scw.event") != "CREATE" || attr(root, "scw.ticket_id") != "4242" || len(trigID) != 32 || attr(root, "scw.outcome") != "stored" || attr(root, "http.response.status_code") != "200" {
		t.Errorf("ingress span attributes: %v", root.Attributes)
	}
	if p := byName[tracing.SpanPlan]; attr(p, "scw.trigger_id") != trigID || attr(p, "scw.plan.operations") != "2" || attr(p, "scw.outcome") != "planned" {
		t.Errorf("plan span attributes: %v", p.Attributes)
	}
	op := byName["itsm-sync.operation"]
	if attr(op, "scw.operation.kind") != "itsm" || attr(op, "scw.operation.target") != "snow" || attr(op, "scw.outcome") != "succeeded" ||
		attr(op, "scw.trigger_id") != trigID || len(attr(op, "scw.operation_id")) != 32 {
		t.Errorf("itsm-sync operation span attributes: %v", op.Attributes)
	}
	if h := byName[tracing.SpanITSM]; attr(h, "http.request.method") != "POST" || attr(h, "http.response.status_code") != "201" || attr(h, "scw.server") != "snow" {
		t.Errorf("ITSM client span attributes: %v", h.Attributes)
	}
	if m := byName["notifier.operation"]; attr(m, "scw.operation.kind") != "email" || attr(m, "scw.outcome") != "succeeded" {
		t.Errorf("notifier operation span attributes: %v", m.Attributes)
	}

	// On the wire: the trigger carries the ingress's span, each operation the plan's,
	// the ITSM request its client span's.
	if tps := g.traceparents(t, events.StreamTriggers); len(tps) != 1 || tps[0] != traceparentOf(root) {
		t.Errorf("SCW_TRIGGERS traceparent %q, want %q", tps, traceparentOf(root))
	}
	plan := traceparentOf(byName[tracing.SpanPlan])
	if tps := g.traceparents(t, events.StreamOps); len(tps) != 2 || tps[0] != plan || tps[1] != plan {
		t.Errorf("SCW_OPS traceparents %q, want the plan span's %q", tps, plan)
	}
	if tps := g.traceparents(t, events.StreamPlans); len(tps) != 1 || tps[0] != plan {
		t.Errorf("SCW_PLANS traceparent %q, want %q", tps, plan)
	}
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		tps := g.traceparents(t, events.StreamResults)
		if len(tps) != 2 {
			return fmt.Errorf("%d results", len(tps))
		}
		for _, tp := range tps {
			if tp != traceparentOf(op) && tp != traceparentOf(byName["notifier.operation"]) {
				return fmt.Errorf("result traceparent %q is not an operation span's", tp)
			}
		}
		return nil
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.itsmParents) != 1 || g.itsmParents[0] != traceparentOf(byName[tracing.SpanITSM]) {
		t.Errorf("ITSM request traceparent %q, want the client span's %q", g.itsmParents, traceparentOf(byName[tracing.SpanITSM]))
	}
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
		if n := len(g.traceparents(t, events.StreamResults)); n != 2 {
			return fmt.Errorf("%d results, want 2", n)
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
