package ingress_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestIngressSpan: a request that carries a W3C traceparent joins the caller's trace
// (the stored trigger carries the ingress span, in that trace); a rejected request is a
// span with its outcome and status, not an error (the client's mistake), and names no
// credentials.
func TestIngressSpan(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	g := startIngress(t, "", nil, fx.Supply(fx.Annotate(exp, fx.As(new(sdktrace.SpanExporter)))))

	post := func(user, pass, traceparent string) int {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/triggers/CREATE", bytes.NewBufferString(ticketXML("5150", "1763884860000")))
		req.Header.Set("Content-Type", "application/xml")
		req.SetBasicAuth(user, pass)
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	if code := post(testUser, testPassword, "00-"+callerTrace+"-"+callerSpan+"-01"); code != http.StatusOK {
		t.Fatalf("POST: %d", code)
	}
	if code := post(testUser, "hunter2", ""); code != http.StatusUnauthorized {
		t.Fatalf("POST with a wrong password: %d", code)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	ok, bad := spans[0], spans[1]
	if ok.Name != tracing.SpanIngress || ok.SpanKind != trace.SpanKindServer || ok.SpanContext.TraceID().String() != callerTrace || ok.Parent.SpanID().String() != callerSpan {
		t.Errorf("span %s kind %v trace %s parent %s: want a server span in the caller's trace", ok.Name, ok.SpanKind, ok.SpanContext.TraceID(), ok.Parent.SpanID())
	}
	msgs := g.Msgs(events.StreamTriggers, ">")
	if len(msgs) != 1 {
		t.Fatalf("%d triggers stored", len(msgs))
	}
	if tp := nats.Header(msgs[0].Header).Get("traceparent"); tp != "00-"+callerTrace+"-"+ok.SpanContext.SpanID().String()+"-01" {
		t.Errorf("stored trigger's traceparent %q, want the ingress span in the caller's trace", tp)
	}
	attrs := map[string]string{}
	for _, a := range bad.Attributes {
		attrs[string(a.Key)] = a.Value.Emit()
		if strings.Contains(a.Value.Emit(), "hunter2") || strings.Contains(a.Value.Emit(), testUser) {
			t.Errorf("attribute %s names a credential: %s", a.Key, a.Value.Emit())
		}
	}
	if attrs["scw.outcome"] != "unauthorized" || attrs["http.response.status_code"] != "401" || bad.Status.Code == codes.Error || bad.Parent.IsValid() {
		t.Errorf("rejected request's span: %v status %+v parent %v", attrs, bad.Status, bad.Parent)
	}
}
