package ingress

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/health"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Handler turns mediator requests into trigger events stored in SCW_TRIGGERS.
type Handler struct {
	cfg      config.Ingress
	log      *slog.Logger
	pub      message.Publisher
	auth     *authenticator
	metrics  *metrics
	instance string
	now      func() time.Time
	mux      *http.ServeMux
	tracer   trace.Tracer
}

// HandlerParams are the inputs of NewHandler; plain values, so tests can build one
// without fx.
type HandlerParams struct {
	Config    config.Ingress
	Log       *slog.Logger
	Publisher message.Publisher
	Metrics   *metrics
	Health    *health.Handler // nil: no /healthz, /readyz, /metrics on this listener
	// AllowNoAuth lets the ingress run without users (the --dev flag).
	AllowNoAuth bool
	Instance    string
	// Tracing: a server span per trigger request (trace.go); nil: none.
	Tracing trace.TracerProvider
	// Inbound: the ITSM servers with a callback endpoint (servers.<name>.inbound).
	Inbound InboundServers
}

// ErrNoUsers refuses an ingress without credentials.
var ErrNoUsers = errors.New("ingress.users is empty: refusing to accept triggers without credentials (add users, or start with --dev for a local trial)")

// NewHandler builds the HTTP handler.
func NewHandler(p HandlerParams) (*Handler, error) {
	if len(p.Config.Users) == 0 && !p.AllowNoAuth {
		return nil, ErrNoUsers
	}
	auth, err := newAuthenticator(p.Config.Users)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg: p.Config, log: p.Log, pub: p.Publisher, auth: auth, metrics: p.Metrics,
		instance: p.Instance, now: time.Now, mux: http.NewServeMux(), tracer: tracing.Tracer(p.Tracing),
	}
	h.mux.HandleFunc(p.Config.Path, h.traced(h.serveMediator))
	h.mux.HandleFunc("/v1/triggers/{event}", h.traced(h.serveRaw))
	if err := h.mountInbound(p.Inbound, p.AllowNoAuth); err != nil {
		return nil, err
	}
	if p.Health != nil {
		p.Health.Mount(h.mux)
	}
	if p.Config.Path != "/" { // "/" already takes every path
		h.mux.HandleFunc("/", h.notFound)
	}
	return h, nil
}

// ServeHTTP routes the request by its cleaned path (see cleanPath): `//trigger_file`
// reaches the mediator's handler instead of being redirected.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, cleanPath(r))
}

// notFound answers a path no endpoint serves, with the same JSON as every other error.
// It also gets the paths served only to GET (/healthz, /readyz, /metrics) with another
// method, because "/" matches them: those are a 405.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	get := *r
	get.Method = http.MethodGet
	if _, pattern := h.mux.Handler(&get); pattern != "/" {
		w.Header().Set("Allow", "GET, HEAD")
		h.rejected(w, r, "unknown", "", &InputError{Status: http.StatusMethodNotAllowed, Msg: fmt.Sprintf(
			"method %s is not allowed on %s: GET it", r.Method, quoteShort(r.URL.Path))}, false)
		return
	}
	h.rejected(w, r, "unknown", "", &InputError{Status: http.StatusNotFound, Msg: fmt.Sprintf(
		"no endpoint at %s: POST the mediator's JSON to %s, or the ticket_info XML to /v1/triggers/{EVENT}",
		quoteShort(r.URL.Path), h.cfg.Path)}, false)
}

// serveMediator speaks the seed mediator's contract: JSON {ticket_info: base64(XML),
// event, args, script}.
func (h *Handler) serveMediator(w http.ResponseWriter, r *http.Request) {
	h.metrics.inFlight.Inc()
	defer h.metrics.inFlight.Dec()
	inBody := rejectInBody(h.cfg.Rejections, r)
	body, user, ierr := h.admit(w, r, jsonBody)
	if ierr != nil {
		h.rejected(w, r, "mediator", user, ierr, inBody)
		return
	}
	mb, err := DecodeMediatorBody(body)
	if err != nil {
		h.rejected(w, r, "mediator", user, asInput(err), inBody)
		return
	}
	h.accept(w, r, submission{
		endpoint: "mediator", user: user, event: mb.Event, xml: mb.TicketInfo,
		args: mb.Args, script: mb.Script, recovered: mb.Recovered, inBody: inBody,
	})
}

// serveRaw is POST /v1/triggers/{EVENT}: the raw XML as the body, args as repeated
// `arg` query parameters (joined by spaces, as the seed mediator joins argv).
func (h *Handler) serveRaw(w http.ResponseWriter, r *http.Request) {
	h.metrics.inFlight.Inc()
	defer h.metrics.inFlight.Dec()
	body, user, ierr := h.admit(w, r, xmlBody)
	if ierr != nil {
		h.rejected(w, r, "raw", user, ierr, false)
		return
	}
	q := r.URL.Query()
	args := strings.Join(q["arg"], " ")
	if !utf8.ValidString(args) {
		h.rejected(w, r, "raw", user, badInput("query parameter arg is not valid UTF-8"), false)
		return
	}
	h.accept(w, r, submission{
		endpoint: "raw", user: user, event: r.PathValue("event"), xml: body, args: args, script: q.Get("script"),
	})
}

// submission is one trigger as received, before validation.
type submission struct {
	endpoint, user string // "mediator" or "raw"; the authenticated user
	event          string
	xml            []byte
	args, script   string
	recovered      bool // args/script read literally from the seed's layout
	inBody         bool // rejections travel as 200 + {"error":…} (see rejectInBody)
}

// admit checks method, credentials and Content-Type, and reads the body within the size
// limit.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, want bodyKind) ([]byte, string, *InputError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, "", &InputError{Status: http.StatusMethodNotAllowed, Msg: fmt.Sprintf("method %s is not allowed: POST the trigger", r.Method)}
	}
	user, ierr := h.auth.check(r)
	if ierr != nil {
		return nil, "", ierr
	}
	if ierr := checkContentType(r, want); ierr != nil {
		return nil, user, ierr
	}
	body, ierr := readBody(w, r, h.cfg.MaxBodyBytes, "ingress.max_body_bytes")
	return body, user, ierr
}

// readBody reads the body up to limit bytes (key: the setting, for the 413).
func readBody(w http.ResponseWriter, r *http.Request, limit int64, key string) ([]byte, *InputError) {
	// A compressed body would reach the decoders as bytes that are not UTF-8 ("not valid
	// UTF-8 at byte 1"): say what it is instead.
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 0 && !(len(ce) == 1 && strings.EqualFold(strings.TrimSpace(ce[0]), "identity")) {
		return nil, &InputError{Status: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("Content-Encoding %s is not supported: send the body uncompressed", quoteShort(strings.Join(ce, ", ")))}
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit, key)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit, key)
		}
		return nil, badInput("reading the body failed: %v", err)
	}
	return body, nil
}

func tooLarge(limit int64, key string) *InputError {
	return &InputError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body is larger than %d bytes (%s)", limit, key)}
}

// accept validates the trigger, stores it and answers only after JetStream acknowledged.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request, s submission) {
	endpoint, user, inBody := s.endpoint, s.user, s.inBody
	if securechange.IsTestPayload(s.xml) {
		traceOutcome(r, "test")
		h.testRun(w, endpoint, s.event)
		return
	}
	trig, err := events.ParseTrigger(s.event)
	if err != nil {
		h.rejected(w, r, endpoint, user, badInput("event: %v", err), inBody)
		return
	}
	if trig == events.Test {
		traceOutcome(r, "test")
		h.metrics.requests.WithLabelValues(endpoint, "test").Inc()
		out := "triggerflow: TEST received from SecureChange's Test button; nothing stored\n"
		if _, err := decodeTicket(s.xml); err != nil {
			out = "triggerflow: TEST received; nothing stored; note: " + err.Error() + "\n"
		}
		writeJSON(w, http.StatusOK, reply{Output: out, Event: string(trig)})
		return
	}
	info, err := decodeTicket(s.xml)
	if err != nil {
		h.metrics.triggers.WithLabelValues(trig.Token(), "rejected").Inc()
		h.rejected(w, r, endpoint, user, asInput(err), inBody)
		return
	}
	ev := events.NewTriggerEvent(trig, info, s.xml, s.args, s.script)
	ev.ReceivedAt = h.now().UTC()
	ev.Ingress = h.instance
	ev.Recovered = s.recovered
	payload, err := ev.Marshal()
	if err != nil {
		h.rejected(w, r, endpoint, user, badInput("cannot encode the event: %v", err), inBody)
		return
	}
	traceTrigger(r, ev)
	if err := h.publish(r, ev.ID, ev.Subject(), ev.Headers(), payload); err != nil {
		h.metrics.requests.WithLabelValues(endpoint, "unavailable").Inc()
		h.metrics.triggers.WithLabelValues(trig.Token(), "unavailable").Inc()
		traceOutcome(r, "unavailable")
		h.log.Error("trigger not stored", "endpoint", endpoint, "event", trig, "ticket", info.ID, "trigger_id", ev.ID, "err", err)
		unavailable(w, h.notStored(fmt.Sprintf("%s for ticket %s", trig, info.ID), err))
		return
	}
	h.metrics.requests.WithLabelValues(endpoint, "stored").Inc()
	h.metrics.triggers.WithLabelValues(trig.Token(), "stored").Inc()
	traceOutcome(r, "stored")
	h.log.Debug("trigger stored", "endpoint", endpoint, "user", user, "event", trig, "ticket", info.ID, "trigger_id", ev.ID, "subject", ev.Subject(), "recovered", s.recovered)
	writeJSON(w, http.StatusOK, reply{
		Output: fmt.Sprintf("triggerflow: stored %s for ticket %s as trigger %s\n", trig, info.ID, ev.ID),
		ID:     ev.ID, Event: string(trig), Ticket: info.ID, Subject: ev.Subject(), Stored: true,
	})
}

// testRun answers an empty ticket_info (nothing, white space, `<ticket_info/>` or
// `<ticket_info></ticket_info>`), which is what SecureChange's Test button sends, under
// whatever event the script is configured for: pytos too takes any empty ticket_info for
// the Test run. Nothing is stored and the mediator exits 0, so an admin who presses Test on
// a script configured for ADVANCE sees success.
func (h *Handler) testRun(w http.ResponseWriter, endpoint, event string) {
	h.metrics.requests.WithLabelValues(endpoint, "test").Inc()
	out := "triggerflow: TEST received from SecureChange's Test button; nothing stored\n"
	if event != string(events.Test) {
		out = fmt.Sprintf("triggerflow: empty ticket_info under event %s treated as SecureChange's Test run (the Test button); nothing stored\n", quoteShort(event))
	}
	writeJSON(w, http.StatusOK, reply{Output: out, Event: string(events.Test)})
}

// publish stores one event under id (its Nats-Msg-Id: JetStream stores a retry within
// the dedup window once) and returns when JetStream acknowledged it, or why it did not.
func (h *Handler) publish(r *http.Request, id, subject string, headers map[string]string, payload []byte) error {
	msg := message.NewMessage(id, payload)
	for k, v := range headers {
		msg.Metadata.Set(k, v)
	}
	msg.SetContext(r.Context()) // the event carries the request span's traceparent
	start := time.Now()
	err := h.pub.Publish(subject, msg)
	h.metrics.publish.Observe(time.Since(start).Seconds())
	return err
}

// notStored says why what was not stored: the connection was down (nothing was sent), or
// JetStream did not acknowledge it within the publish timeout.
func (h *Handler) notStored(what string, err error) string {
	if errors.Is(err, bus.ErrNotConnected) {
		return fmt.Sprintf("%s: %v", what, err)
	}
	return fmt.Sprintf("JetStream did not acknowledge %s within %s: %v", what, h.cfg.PublishTimeout, err)
}

func (h *Handler) rejected(w http.ResponseWriter, r *http.Request, endpoint, user string, e *InputError, inBody bool) {
	h.noteRejected(r, endpoint, user, e, "trigger rejected")
	reject(w, e, inBody)
}

// noteRejected counts, traces and logs (as what) a request rejected for e.
func (h *Handler) noteRejected(r *http.Request, endpoint, user string, e *InputError, what string) {
	outcome := "rejected"
	if e.Status == http.StatusUnauthorized {
		outcome = "unauthorized"
	}
	h.metrics.requests.WithLabelValues(endpoint, outcome).Inc()
	traceOutcome(r, outcome)
	h.log.Warn(what, "endpoint", endpoint, "user", user, "remote", r.RemoteAddr, "status", e.Status, "reason", e.Msg)
}

// asInput converts a decoder error into an InputError (they already are, by contract).
func asInput(err error) *InputError {
	var ie *InputError
	if errors.As(err, &ie) {
		return ie
	}
	return badInput("%v", err)
}
