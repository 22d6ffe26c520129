package itsmsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tidwall/gjson"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/pkg/platform/bus"
	"github.com/triggerflow/triggerflow/pkg/platform/failure"
	"github.com/triggerflow/triggerflow/pkg/platform/httpx"
	"github.com/triggerflow/triggerflow/pkg/platform/securechange"
	"github.com/triggerflow/triggerflow/pkg/platform/wfi"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

// ServiceName names itsm-sync in dead letters and logs.
const ServiceName = "itsm-sync"

// Hooks let tests stop the service at the points where a crash matters.
type Hooks struct {
	// AfterSend runs after the server accepted an operation and before anything is
	// recorded or acknowledged. Blocking in it until the message's context ends is a
	// process killed at the worst moment: nothing is recorded, nothing acked.
	AfterSend func(ctx context.Context, op events.Operation)
}

// Service performs itsm and securechange operations. Handle is a plain watermill
// handler; tests call it through a real consumer.
type Service struct {
	log      *slog.Logger
	cfg      config.ITSMSync
	servers  map[string]*outbound.Server
	sc       *securechange.Client // nil: no SecureChange connection
	pub      message.Publisher
	done     jetstream.KeyValue
	corr     jetstream.KeyValue
	attempts jetstream.KeyValue
	metrics  *metrics
	instance string
	now      func() time.Time
	hooks    Hooks

	tmpls wfi.Cache
}

// errWaiting is returned (internally) when an operation needs a correlation value that
// no create has stored yet.
type errWaiting struct{ need []string }

func (e *errWaiting) Error() string {
	return "waiting for correlation values " + strings.Join(e.need, ", ")
}

// op is one operation being handled, with what its handling learned.
type opRun struct {
	op        events.Operation
	msg       *message.Message
	log       *slog.Logger
	delivered int
	storedAt  time.Time
	attempts  []events.Attempt
	retry     config.Retry
	data      *wfi.Data
}

// Handle performs one operation. It always settles the message itself (ack, or a NAK
// with the delay the retry policy or the server's Retry-After asks for), so it returns
// an error only when even the dead letter could not be stored.
func (s *Service) Handle(msg *message.Message) error {
	op, err := events.UnmarshalOperation(msg.Payload)
	if err != nil || op.ID == "" {
		if err == nil {
			err = errors.New("no operation id")
		}
		return s.deadLetter(msg, events.Operation{}, failure.Permanent(fmt.Errorf("not an operation: %w", err)), 0)
	}
	r := &opRun{
		op: op, msg: msg, delivered: bus.Delivered(msg), storedAt: bus.StoredAt(msg),
	}
	if r.storedAt.IsZero() {
		r.storedAt = s.now()
	}
	r.log = s.log.With("op", op.ID, "ticket", op.Ticket, "route", op.Route, "action", op.Action,
		"target", op.Target, "delivery", r.delivered)
	ctx := msg.Context()

	if msg.Metadata.Get(events.HdrForce) != "true" {
		if e, err := s.done.Get(ctx, op.ID); err == nil {
			r.log.Debug("already done; not sent again")
			s.metrics.skipped.WithLabelValues(op.Target, "done").Inc()
			if r.delivered > 1 { // the replica that sent it may have died before its result was stored
				if err := s.republish(msg, op, e.Value()); err != nil {
					return s.retryLater(r, err, time.Second)
				}
			}
			msg.Ack()
			return nil
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return s.retryLater(r, fmt.Errorf("read %s: %w", events.BucketDone, err), time.Second)
		}
	}
	if op.Group != "" {
		if _, err := s.done.Get(ctx, events.GroupKey(op.TriggerID, op.Group)); err == nil {
			return s.skip(r, "group "+op.Group+" failed: cancelled")
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return s.retryLater(r, fmt.Errorf("read %s: %w", events.BucketDone, err), time.Second)
		}
	}
	if r.delivered > 1 {
		r.attempts = s.loadAttempts(ctx, op.ID)
	}

	switch op.Kind {
	case events.OpITSM:
		srv, ok := s.servers[op.Target]
		if !ok {
			return s.fail(r, failure.Permanent(fmt.Errorf("server %q is not configured in this itsm-sync (servers: %s)", op.Target, strings.Join(serverNames(s.servers), ", "))))
		}
		r.retry = srv.Retry()
		err = s.runITSM(ctx, r, srv)
	case events.OpSecureChange:
		r.retry = s.cfg.Retry
		if s.sc == nil {
			return s.fail(r, failure.Permanent(errors.New("a securechange operation but securechange.url is not configured")))
		}
		err = s.runSecureChange(ctx, r)
	default:
		return s.fail(r, failure.Permanent(fmt.Errorf("operation kind %q is not performed by itsm-sync", op.Kind)))
	}
	if err == nil {
		return nil // settled inside
	}
	var w *errWaiting
	switch {
	case errors.As(err, &w):
		if waited := s.now().Sub(r.storedAt); waited < s.cfg.WaitForCreate {
			r.log.Debug("waiting for correlation values", "need", w.need, "waited", waited.Round(time.Millisecond))
			s.metrics.waiting.WithLabelValues(op.Target).Inc()
			bus.NackAfter(msg, s.cfg.WaitPoll)
			return nil
		}
		return s.fail(r, failure.Permanent(fmt.Errorf("%w on %s for ticket %s: no operation stored them within itsm_sync.wait_for_create (%s); did the create fail?",
			err, op.Target, op.Ticket, s.cfg.WaitForCreate)))
	case failure.IsPermanent(err):
		return s.fail(r, err)
	}
	return s.transient(r, err)
}

// transient decides between another attempt and giving up.
func (s *Service) transient(r *opRun, err error) error {
	var oe *outbound.Error
	if errors.As(err, &oe) && oe.BreakerOpen {
		// Not an attempt: no request was made.
		s.metrics.breakerWaits.WithLabelValues(r.op.Target).Inc()
		bus.NackAfter(r.msg, max(oe.RetryAfter, 100*time.Millisecond))
		return nil
	}
	n := len(r.attempts) // lookups are requests too: a server that fails them is failing
	age := s.now().Sub(r.storedAt)
	if n >= r.retry.Attempts {
		return s.fail(r, fmt.Errorf("gave up after %d attempts (retry.attempts): %w", n, err))
	}
	wait := httpx.Backoff(r.retry.Backoff, r.retry.MaxBackoff, max(n-1, 0))
	if ra, ok := failure.RetryAfter(err); ok {
		wait = min(ra, r.retry.MaxRetryAfter)
	}
	if age+wait > r.retry.MaxAge {
		return s.fail(r, fmt.Errorf("gave up after %d attempts: the next one (in %s) would pass retry.max_age %s: %w", n, wait.Round(time.Millisecond), r.retry.MaxAge, err))
	}
	if err := s.saveAttempts(r); err != nil {
		r.log.Warn("attempt history not saved; the result will list only later attempts", "err", err)
	}
	s.metrics.retries.WithLabelValues(r.op.Target).Inc()
	r.log.Warn("transient failure; will retry", "attempt", n, "wait", wait.Round(time.Millisecond), "err", err)
	bus.NackAfter(r.msg, wait)
	return nil
}

// retryLater NAKs after a failure of our own infrastructure (KV, publish): not an attempt.
func (s *Service) retryLater(r *opRun, err error, wait time.Duration) error {
	r.log.Warn("will retry", "err", err, "wait", wait)
	bus.NackAfter(r.msg, wait)
	return nil
}

// succeed records the success (the done marker before the ack, so a redelivery never
// sends again), publishes the result and acks.
//
// first, if not nil, stores what the response taught (correlation values, the
// write-back); it runs while the result is being published, and before the marker, so a
// failure leaves the operation unmarked and it is redelivered.
func (s *Service) succeed(r *opRun, corr map[string]string, first func() error) error {
	ctx := r.msg.Context()
	res := events.ResultFor(r.op, events.ResultSucceeded)
	res.Attempts, res.Correlation = r.attempts, corr
	res.FinishedAt, res.Instance = s.now().UTC(), s.instance
	// The marker is the result itself: a redelivery that finds it republishes it, so a
	// replica that dies between the marker and the result loses no result.
	mark, err := res.Marshal()
	if err != nil {
		return s.retryLater(r, err, time.Second)
	}
	// The result is independent of the rest: store it meanwhile.
	resErr := make(chan error, 1)
	go func() { resErr <- s.publishResult(r, res) }()
	if first != nil {
		if err := first(); err != nil {
			<-resErr
			return s.retryLater(r, err, time.Second) // the lookup finds the record next time
		}
	}
	for i := range 3 { // the call went out: try hard to record it before giving the message back
		if _, err = s.done.Put(ctx, r.op.ID, mark); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(100<<i) * time.Millisecond)
	}
	rerr := <-resErr
	if err != nil {
		// The call went out; without the marker a redelivery relies on the lookup
		// (or the server's idempotency key). Retrying the marker is all we can do; the
		// result's message id makes the second one a duplicate JetStream drops.
		return s.retryLater(r, fmt.Errorf("record success in %s: %w", events.BucketDone, err), time.Second)
	}
	if rerr != nil { // marked done: the redelivery republishes the result from the marker
		return s.retryLater(r, fmt.Errorf("publish the result: %w", rerr), time.Second)
	}
	s.deleteAttempts(r)
	s.metrics.ops.WithLabelValues(r.op.Target, string(events.ResultSucceeded)).Inc()
	r.log.Info("operation succeeded", "attempts", countRequests(r.attempts))
	r.msg.Ack()
	return nil
}

// skip publishes a skipped result and acks.
func (s *Service) skip(r *opRun, reason string) error {
	res := events.ResultFor(r.op, events.ResultSkipped)
	res.Reason = reason
	if err := s.publishResult(r, res); err != nil {
		return s.retryLater(r, err, time.Second)
	}
	s.metrics.skipped.WithLabelValues(r.op.Target, "group").Inc()
	r.log.Info("operation skipped", "reason", reason)
	r.msg.Ack()
	return nil
}

// fail publishes a failed result, marks the operation's group failed, dead-letters the
// operation and acks. Only a failed dead letter leaves the message to be redelivered.
func (s *Service) fail(r *opRun, cause error) error {
	reason := cause.Error()
	ctx := r.msg.Context()
	res := events.ResultFor(r.op, events.ResultFailed)
	res.Error, res.Attempts = reason, r.attempts
	if r.op.Group != "" {
		if _, err := s.done.Put(ctx, events.GroupKey(r.op.TriggerID, r.op.Group), []byte(reason)); err != nil {
			r.log.Warn("group failure not recorded", "group", r.op.Group, "err", err)
		}
	}
	if err := s.publishResult(r, res); err != nil {
		r.log.Warn("failed result not published", "err", err)
	}
	s.metrics.ops.WithLabelValues(r.op.Target, string(events.ResultFailed)).Inc()
	r.log.Error("operation failed; dead-lettered", "attempts", countRequests(r.attempts), "err", reason)
	if err := s.deadLetter(r.msg, r.op, cause, countRequests(r.attempts)); err != nil {
		return err
	}
	s.deleteAttempts(r)
	return nil
}

// runITSM renders and sends one itsm operation; nil means it was settled.
func (s *Service) runITSM(ctx context.Context, r *opRun, srv *outbound.Server) error {
	var spec config.ITSMAction
	err := json.Unmarshal(r.op.Spec, &spec)
	if err != nil {
		return failure.Permanent(fmt.Errorf("operation spec is not an itsm action: %w", err))
	}
	body := spec.Body
	if spec.BodyFile != "" {
		if body, err = s.file(spec.BodyFile); err != nil {
			return err
		}
	}
	// Correlation values are read only by operations whose templates use them.
	corr := map[string]string{}
	if s.usesCorrelation(spec, body) {
		if corr, err = s.correlation(ctx, r.op.Ticket, r.op.Target); err != nil {
			return err
		}
	}
	if r.data, err = s.newData(r.op, corr); err != nil {
		return err
	}
	req, err := s.render(r, spec, body)
	if err != nil {
		return err
	}

	// A redelivered create may have been accepted before the process died: ask first.
	if spec.Lookup != nil && (r.delivered > 1 || countRequests(r.attempts) > 0) {
		resp, found, err := s.lookup(ctx, r, srv, spec)
		if err != nil {
			return err
		}
		if found {
			r.log.Info("lookup-before-create found the record; not sent again")
			mapping := spec.Response
			if spec.Lookup.Response != nil {
				mapping = *spec.Lookup.Response
			}
			return s.mapResponse(r, mapping, resp.Body)
		}
	}

	resp, err := srv.Do(ctx, req)
	s.record(r, resp, err, false)
	if err != nil {
		return err
	}
	if s.hooks.AfterSend != nil {
		s.hooks.AfterSend(ctx, r.op)
		if ctx.Err() != nil {
			return nil // "killed": nothing recorded, nothing acked
		}
	}
	return s.mapResponse(r, spec.Response, resp.Body)
}

// render builds the request: path, body and headers from their templates.
func (s *Service) render(r *opRun, spec config.ITSMAction, body string) (outbound.Request, error) {
	need := spec.Needs
	if need == nil {
		need = s.correlationNeeds(spec, body)
	}
	var missing []string
	for _, n := range need {
		if _, ok := r.data.Correlation[strings.TrimPrefix(n, "correlation.")]; !ok {
			missing = append(missing, strings.TrimPrefix(n, "correlation."))
		}
	}
	if len(missing) > 0 {
		return outbound.Request{}, &errWaiting{need: missing}
	}

	req := outbound.Request{Method: spec.Method, IdempotencyKey: r.op.ID, Headers: map[string]string{}}
	if req.Method == "" {
		req.Method = "POST"
	}
	path, err := s.renderString("path of "+r.op.Action, spec.Path, r.data, wfi.EscapeURL)
	if err != nil {
		return req, err
	}
	req.Path = path
	if body != "" {
		name := spec.BodyFile
		if name == "" {
			name = "body of " + r.op.Action
		}
		esc := wfi.EscapeJSON
		if ct := headerValue(spec.Headers, "Content-Type"); ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
			esc = wfi.EscapeNone
		}
		b, err := s.tmpls.Render(name, body, r.data, esc)
		if err != nil {
			return req, failure.Permanent(err)
		}
		req.Body = b
	}
	for k, v := range spec.Headers {
		hv, err := s.renderString("header "+k+" of "+r.op.Action, v, r.data, wfi.EscapeNone)
		if err != nil {
			return req, err
		}
		if strings.ContainsAny(hv, "\r\n") {
			return req, failure.Permanent(fmt.Errorf("header %s of %s renders with a line break", k, r.op.Action))
		}
		req.Headers[k] = hv
	}
	return req, nil
}

// lookup asks the server whether a create already happened.
func (s *Service) lookup(ctx context.Context, r *opRun, srv *outbound.Server, spec config.ITSMAction) (outbound.Response, bool, error) {
	path, err := s.renderString("lookup path of "+r.op.Action, spec.Lookup.Path, r.data, wfi.EscapeURL)
	if err != nil {
		return outbound.Response{}, false, err
	}
	method := spec.Lookup.Method
	if method == "" {
		method = "GET"
	}
	resp, err := srv.Do(ctx, outbound.Request{Method: method, Path: path})
	s.record(r, resp, err, true)
	if err != nil {
		return resp, false, fmt.Errorf("lookup-before-create: %w", err)
	}
	return resp, gjson.GetBytes(resp.Body, spec.Lookup.Found).Exists(), nil
}

// mapResponse stores correlation values, publishes the SecureChange write-back the
// response asks for, then records the success.
func (s *Service) mapResponse(r *opRun, m config.ResponseMap, body []byte) error {
	ctx := r.msg.Context()
	r.data.Result = body
	var stored, fields map[string]string
	if len(m.Correlate) > 0 {
		stored = make(map[string]string, len(m.Correlate))
		for k, tmpl := range m.Correlate {
			v, err := s.renderString("response.correlate."+k+" of "+r.op.Action, tmpl, r.data, wfi.EscapeNone)
			if err != nil {
				return s.fail(r, failure.Permanent(fmt.Errorf("the call succeeded but its response cannot be mapped: %w", err)))
			}
			stored[k] = v
		}
	}
	if len(m.Fields) > 0 {
		fields = make(map[string]string, len(m.Fields))
		for k, tmpl := range m.Fields {
			v, err := s.renderString("response.fields."+k+" of "+r.op.Action, tmpl, r.data, wfi.EscapeNone)
			if err != nil {
				return s.fail(r, failure.Permanent(fmt.Errorf("the call succeeded but its response cannot be mapped to SecureChange fields: %w", err)))
			}
			fields[k] = v
		}
	}
	return s.succeed(r, stored, func() error {
		if stored != nil {
			if err := s.storeCorrelation(ctx, r.op.Ticket, r.op.Target, stored); err != nil {
				return err
			}
		}
		if fields != nil {
			return s.publishWriteBack(r, fields)
		}
		return nil
	})
}

// runSecureChange performs one write-back; nil means it was settled.
func (s *Service) runSecureChange(ctx context.Context, r *opRun) error {
	var spec config.SecureChangeAction
	if err := json.Unmarshal(r.op.Spec, &spec); err != nil {
		return failure.Permanent(fmt.Errorf("operation spec is not a securechange action: %w", err))
	}
	corr, err := s.correlation(ctx, r.op.Ticket, "securechange")
	if err != nil {
		return err
	}
	if r.data, err = s.newData(r.op, corr); err != nil {
		return err
	}
	text := func(what, t string) (string, error) {
		return s.renderString(what+" of "+r.op.Action, t, r.data, wfi.EscapeNone)
	}
	start := s.now()
	var callErr error
	switch {
	case len(spec.UpdateFields) > 0:
		vals := make(map[string]string, len(spec.UpdateFields))
		for k, t := range spec.UpdateFields {
			v, err := text("update_fields."+k, t)
			if err != nil {
				return err
			}
			vals[k] = v
		}
		callErr = s.sc.UpdateFields(ctx, r.op.Ticket, vals)
	case spec.Approve != "" || spec.Reject != "":
		reason, err := text("reason", spec.Approve+spec.Reject)
		if err != nil {
			return err
		}
		callErr = s.sc.ApproveReject(ctx, r.op.Ticket, spec.Approve != "", reason)
	case spec.Advance:
		// Pinned to the step the ticket was at when planned: a redelivery after the
		// ticket moved on must not complete the next step too.
		if step := plannedStep(r.data); step != "" {
			callErr = s.sc.AdvanceStep(ctx, r.op.Ticket, step)
		} else {
			callErr = s.sc.Advance(ctx, r.op.Ticket)
		}
	case spec.Redo != "":
		step, err := text("redo", spec.Redo)
		if err != nil {
			return err
		}
		comment, err := text("comment", spec.Comment)
		if err != nil {
			return err
		}
		callErr = s.sc.Redo(ctx, r.op.Ticket, step, comment)
	case spec.RejectTicket != "":
		comment, err := text("reject_ticket", spec.RejectTicket)
		if err != nil {
			return err
		}
		callErr = s.sc.RejectTicket(ctx, r.op.Ticket, comment)
	default:
		return failure.Permanent(errors.New("securechange action with nothing to do"))
	}
	a := events.Attempt{N: len(r.attempts) + 1, At: start.UTC(), Latency: s.now().Sub(start)}
	if callErr != nil {
		a.Error, a.Transient = callErr.Error(), !failure.IsPermanent(callErr)
	}
	r.attempts = append(r.attempts, a)
	if callErr != nil {
		return callErr
	}
	return s.succeed(r, nil, nil)
}

// record appends the attempt of one request.
func (s *Service) record(r *opRun, resp outbound.Response, err error, lookup bool) {
	a := events.Attempt{N: len(r.attempts) + 1, At: s.now().UTC(), Status: resp.Status, Latency: resp.Latency, Lookup: lookup}
	if err != nil {
		var oe *outbound.Error
		if errors.As(err, &oe) {
			if oe.BreakerOpen {
				return // no request was made
			}
			a.Status, a.Latency, a.Excerpt = oe.Status, oe.Latency, oe.Excerpt
		}
		a.Error, a.Transient = err.Error(), !failure.IsPermanent(err)
	} else if s.cfg.ExcerptBytes > 0 {
		if srv, ok := s.servers[r.op.Target]; ok {
			a.Excerpt = srv.Excerpt(resp.Body)
		}
	}
	a.At = a.At.Add(-a.Latency)
	r.attempts = append(r.attempts, a)
	s.metrics.observe(r.op.Target, a)
}

// newData is the template data of an operation.
func (s *Service) newData(op events.Operation, corr map[string]string) (*wfi.Data, error) {
	d, err := wfi.NewData(op, s.now())
	if err != nil {
		return nil, failure.Permanent(err)
	}
	d.Custom = s.cfg.Placeholders
	d.Correlation = corr
	return d, nil
}

// template returns the parsed template (each distinct text parsed once).
func (s *Service) template(name, text string, esc wfi.Escape) (*wfi.Template, error) {
	t, err := s.tmpls.Template(name, text, esc)
	return t, failure.Permanent(err)
}

func (s *Service) renderString(name, text string, d *wfi.Data, esc wfi.Escape) (string, error) {
	if !strings.ContainsAny(text, "#{") {
		return text, nil
	}
	b, err := s.tmpls.Render(name, text, d, esc)
	return string(b), failure.Permanent(err)
}

// file reads a body template file once.
func (s *Service) file(path string) (string, error) {
	text, err := s.tmpls.File(path)
	if err != nil {
		return "", failure.Permanent(fmt.Errorf("body_file: %w", err))
	}
	return text, nil
}

// usesCorrelation reports whether any template of the action may read correlation values.
func (s *Service) usesCorrelation(spec config.ITSMAction, body string) bool {
	if len(spec.Needs) > 0 {
		return true
	}
	for _, t := range []string{spec.Path, body} {
		if strings.Contains(t, "correlation") {
			return true
		}
	}
	for _, t := range spec.Headers {
		if strings.Contains(t, "correlation") {
			return true
		}
	}
	return false
}

// correlationNeeds lists the correlation.* placeholders the action's templates use.
func (s *Service) correlationNeeds(spec config.ITSMAction, body string) []string {
	var need []string
	seen := map[string]bool{}
	add := func(text string, esc wfi.Escape) {
		if !strings.Contains(text, "correlation.") {
			return
		}
		t, err := s.template("needs", text, esc)
		if err != nil {
			return // reported when rendered
		}
		for _, p := range t.Placeholders() {
			if strings.HasPrefix(p, "correlation.") && !seen[p] {
				seen[p] = true
				need = append(need, p)
			}
		}
	}
	add(spec.Path, wfi.EscapeURL)
	add(body, wfi.EscapeJSON)
	for _, v := range spec.Headers {
		add(v, wfi.EscapeNone)
	}
	return need
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// countRequests counts the attempts that were requests for the operation itself.
func countRequests(as []events.Attempt) int {
	n := 0
	for _, a := range as {
		if !a.Lookup {
			n++
		}
	}
	return n
}

// plannedStep is the ticket's current step when the operation was planned: from the
// enriched ticket, else the trigger's current stage ("" if neither is known).
func plannedStep(d *wfi.Data) string {
	if d.Ticket != nil && d.Ticket.CurrentStep != nil {
		return d.Ticket.CurrentStep.Name
	}
	if st := d.Trigger.Ticket.CurrentStage; st != nil {
		return st.Name
	}
	return ""
}

// republish stores again the result a done marker holds (markers written before results
// were kept in them hold none). Its message id is the first one's, so JetStream drops it
// if the first made it.
func (s *Service) republish(msg *message.Message, op events.Operation, mark []byte) error {
	res, err := events.UnmarshalResult(mark)
	if err != nil || res.OperationID != op.ID {
		return nil
	}
	return bus.PublishResult(s.pub, msg, res)
}
