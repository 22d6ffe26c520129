package ingress

import (
	"fmt"
	"maps"
	"net/http"
	"slices"

	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// InboundServers are the ITSM servers with a callback endpoint on the ingress: server
// name → its servers.<name>.inbound section (defaults filled, validated).
type InboundServers map[string]config.Inbound

// InboundOf picks the inbound sections out of the config.
func InboundOf(c *config.Config) InboundServers {
	out := InboundServers{}
	for name, s := range c.Servers {
		if s.Inbound != nil {
			out[name] = *s.Inbound
		}
	}
	return out
}

// inboundEndpoint is one server's callback endpoint.
type inboundEndpoint struct {
	server   string
	cfg      config.Inbound
	auth     callbackAuth // nil: no auth (--dev only)
	paths    CallbackPaths
	endpoint string // the metrics and log label: inbound:<server>
	key      string // servers.<server>.inbound
}

// mountInbound registers POST <path> for every inbound server. A server without auth is
// refused unless allowNoAuth (--dev).
func (h *Handler) mountInbound(servers InboundServers, allowNoAuth bool) error {
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		in := servers[name]
		key := "servers." + name + ".inbound"
		auth, err := newCallbackAuth(key+".auth", in.Auth)
		if err != nil {
			return err
		}
		if auth == nil {
			if !allowNoAuth {
				return fmt.Errorf("%s.auth is empty: refusing callbacks without credentials (set basic, bearer or hmac, or start with --dev for a local trial)", key)
			}
			h.log.Warn("inbound endpoint WITHOUT authentication (--dev): anyone who can reach it can store callbacks", "server", name, "path", in.Path)
		}
		ep := &inboundEndpoint{
			server: name, cfg: in, auth: auth, endpoint: "inbound:" + name, key: key,
			paths: CallbackPaths{ID: in.ID, Ticket: in.Ticket, Record: in.Record},
		}
		h.mux.HandleFunc(in.Path, h.traced(h.serveInbound(ep)))
	}
	return nil
}

// inboundReply is the answer to a callback: {"status":"stored","id":…,"subject":…}, or
// {"status":"rejected"|"unavailable","error":…}.
type inboundReply struct {
	Status  string `json:"status"`
	ID      string `json:"id,omitempty"`
	Subject string `json:"subject,omitempty"`
	Error   string `json:"error,omitempty"`
}

// serveInbound is POST <path> of one ITSM server: the callback is authenticated, checked,
// stored in SCW_INBOUND and answered 202 only once JetStream acknowledged it.
func (h *Handler) serveInbound(ep *inboundEndpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.metrics.inFlight.Inc()
		defer h.metrics.inFlight.Dec()
		body, user, ierr := h.admitCallback(w, r, ep)
		if ierr != nil {
			h.rejectCallback(w, r, ep, user, ierr)
			return
		}
		cb, err := DecodeCallback(body, ep.paths)
		if err != nil {
			h.rejectCallback(w, r, ep, user, asInput(err))
			return
		}
		ev := events.InboundEvent{
			ID: events.InboundID(ep.server, cb.ID, body), Server: ep.server, Ticket: cb.Ticket,
			Body: body, ReceivedAt: h.now().UTC(), Ingress: h.instance,
		}
		if cb.Record != "" {
			ev.Record = &events.InboundRecord{Key: ep.cfg.RecordKey, Value: cb.Record}
		}
		h.storeCallback(w, r, ep, user, cb, ev)
	}
}

// admitCallback checks method, credentials and Content-Type, reads the body within the
// server's limit and checks its signature.
func (h *Handler) admitCallback(w http.ResponseWriter, r *http.Request, ep *inboundEndpoint) ([]byte, string, *InputError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, "", &InputError{Status: http.StatusMethodNotAllowed, Msg: fmt.Sprintf("method %s is not allowed on %s: POST the callback", r.Method, quoteShort(r.URL.Path))}
	}
	user := ""
	if ep.auth != nil {
		var ierr *InputError
		if user, ierr = ep.auth.header(r, h.now()); ierr != nil {
			return nil, "", ierr
		}
	}
	if ierr := checkContentType(r, callbackBody); ierr != nil {
		return nil, user, ierr
	}
	body, ierr := readBody(w, r, int64(ep.cfg.MaxBodyBytes), ep.key+".max_body_bytes")
	if ierr != nil {
		return nil, user, ierr
	}
	if ep.auth != nil {
		if ierr := ep.auth.body(r, body); ierr != nil {
			return nil, user, ierr
		}
	}
	return body, user, nil
}

// storeCallback publishes the callback's event and answers: 202 once stored, 503 (with
// Retry-After) when JetStream did not acknowledge it.
func (h *Handler) storeCallback(w http.ResponseWriter, r *http.Request, ep *inboundEndpoint, user string, cb Callback, ev events.InboundEvent) {
	payload, err := ev.Marshal()
	if err != nil {
		h.rejectCallback(w, r, ep, user, badInput("cannot encode the callback: %v", err))
		return
	}
	trace.SpanFromContext(r.Context()).SetAttributes(
		tracing.AttrTicketID.String(ev.Ticket), tracing.AttrTriggerID.String(ev.ID),
	)
	if err := h.publish(r, ev.ID, ev.Subject(), ev.Headers(), payload); err != nil {
		h.metrics.requests.WithLabelValues(ep.endpoint, "unavailable").Inc()
		traceOutcome(r, "unavailable")
		h.log.Error("callback not stored", "endpoint", ep.endpoint, "server", ep.server, "callback_id", ev.ID, "err", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, inboundReply{Status: "unavailable", Error: "not stored, try again: " + h.notStored("callback "+ev.ID, err)})
		return
	}
	h.metrics.requests.WithLabelValues(ep.endpoint, "stored").Inc()
	traceOutcome(r, "stored")
	h.log.Debug("callback stored", "endpoint", ep.endpoint, "server", ep.server, "user", user, "callback_id", ev.ID,
		"ticket", cb.Ticket, "record", cb.Record, "subject", ev.Subject())
	writeJSON(w, http.StatusAccepted, inboundReply{Status: "stored", ID: ev.ID, Subject: ev.Subject()})
}

// rejectCallback answers a callback refused for e (never stored).
func (h *Handler) rejectCallback(w http.ResponseWriter, r *http.Request, ep *inboundEndpoint, user string, e *InputError) {
	h.noteRejected(r, ep.endpoint, user, e, "callback rejected")
	if e.Status == http.StatusUnauthorized && ep.auth != nil {
		if c := ep.auth.challenge(); c != "" {
			w.Header().Set("WWW-Authenticate", c)
		}
	}
	writeJSON(w, e.Status, inboundReply{Status: "rejected", Error: e.Msg})
}
