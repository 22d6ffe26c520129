package itsmsync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

// performITSM renders and sends one itsm operation, then maps the response. A create
// whose outcome may be unknown (a redelivery, an earlier attempt) is looked up first
// when its action has a lookup.
func (s *Service) performITSM(ctx context.Context, j *runner.Job, srv *outbound.Server) (runner.Done, error) {
	spec, err := j.Op.ITSM()
	if err != nil {
		return runner.Done{}, failure.Permanent(err)
	}
	// Correlation values are read only by operations whose templates use them.
	corr := map[string]string{}
	if usesCorrelation(spec, s.Cfg.Placeholders) {
		if corr, err = s.Correlations.Get(ctx, j.Op.Ticket, j.Op.Target); err != nil {
			return runner.Done{}, err
		}
	}
	d, err := s.newData(j.Op, corr)
	if err != nil {
		return runner.Done{}, err
	}
	req, err := s.render(j.Op, spec, d)
	if err != nil {
		return runner.Done{}, err
	}

	if spec.Lookup != nil && j.Unknown() {
		resp, found, err := s.lookup(ctx, j, srv, spec, d)
		if err != nil {
			return runner.Done{}, err
		}
		if found {
			mapping := spec.Response
			if spec.Lookup.Response != nil {
				mapping = *spec.Lookup.Response
			}
			done, err := s.mapResponse(j, mapping, d, resp.Body)
			done.Note = "the lookup found the record: not sent again"
			return done, err
		}
	}

	resp, err := srv.Do(ctx, req)
	s.record(j, srv, resp, err, false)
	if err != nil {
		return runner.Done{}, err
	}
	if s.Hooks.AfterSend != nil {
		s.Hooks.AfterSend(ctx, j.Op)
		if ctx.Err() != nil {
			return runner.Done{}, fmt.Errorf("after the server accepted it: %w", ctx.Err())
		}
	}
	return s.mapResponse(j, spec.Response, d, resp.Body)
}

// render builds the request: path, body and headers from their templates.
func (s *Service) render(op events.Operation, spec events.ITSMSpec, d *wfi.Data) (outbound.Request, error) {
	need := spec.Needs
	if need == nil {
		need = s.correlationNeeds(spec)
	}
	var missing []string
	for _, n := range need {
		if _, ok := d.Correlation[strings.TrimPrefix(n, "correlation.")]; !ok {
			missing = append(missing, strings.TrimPrefix(n, "correlation."))
		}
	}
	if len(missing) > 0 {
		// Operations of a ticket and server run in order: whatever should have stored
		// them (a create) ran before this one, and did not.
		return outbound.Request{}, failure.Permanent(fmt.Errorf("needs correlation values %s of ticket %s on %s, but no earlier operation stored them: did its create fail, or does no route create the record?",
			strings.Join(missing, ", "), op.Ticket, op.Target))
	}

	req := outbound.Request{Method: spec.Method, IdempotencyKey: op.ID, Headers: map[string]string{}}
	if req.Method == "" {
		req.Method = http.MethodPost
	}
	path, err := s.renderString("path of "+op.Action, spec.Path, d, wfi.EscapeURL)
	if err != nil {
		return req, err
	}
	req.Path = path
	if spec.Body != "" {
		name := spec.BodyName
		if name == "" {
			name = "body of " + op.Action
		}
		esc := wfi.EscapeJSON
		if ct := headerValue(spec.Headers, "Content-Type"); ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
			esc = wfi.EscapeNone
		}
		b, err := s.tmpls.Render(name, spec.Body, d, esc)
		if err != nil {
			return req, failure.Permanent(err)
		}
		req.Body = b
	}
	for k, v := range spec.Headers {
		hv, err := s.renderString("header "+k+" of "+op.Action, v, d, wfi.EscapeNone)
		if err != nil {
			return req, err
		}
		if strings.ContainsAny(hv, "\r\n") {
			return req, failure.Permanent(fmt.Errorf("header %s of %s renders with a line break", k, op.Action))
		}
		req.Headers[k] = hv
	}
	return req, nil
}

// lookup asks the server whether a create already happened. A 404 means it did not.
func (s *Service) lookup(ctx context.Context, j *runner.Job, srv *outbound.Server, spec events.ITSMSpec, d *wfi.Data) (outbound.Response, bool, error) {
	path, err := s.renderString("lookup path of "+j.Op.Action, spec.Lookup.Path, d, wfi.EscapeURL)
	if err != nil {
		return outbound.Response{}, false, err
	}
	method := spec.Lookup.Method
	if method == "" {
		method = http.MethodGet
	}
	resp, err := srv.Do(ctx, outbound.Request{Method: method, Path: path})
	var oe *outbound.Error
	if errors.As(err, &oe) && oe.Status == http.StatusNotFound {
		s.record(j, srv, outbound.Response{Status: oe.Status, Latency: oe.Latency}, nil, true)
		return resp, false, nil
	}
	s.record(j, srv, resp, err, true)
	if err != nil {
		return resp, false, fmt.Errorf("lookup-before-create: %w", err)
	}
	return resp, gjson.GetBytes(resp.Body, spec.Lookup.Found).Exists(), nil
}

// mapResponse renders what the response maps to: correlation values (stored by Commit,
// before the operation is marked done) and SecureChange fields (a write-back operation
// of their own, published by Commit).
func (s *Service) mapResponse(j *runner.Job, m events.ResponseSpec, d *wfi.Data, body []byte) (runner.Done, error) {
	d.Result = body
	var stored, fields map[string]string
	if len(m.Correlate) > 0 {
		stored = make(map[string]string, len(m.Correlate))
		for k, tmpl := range m.Correlate {
			v, err := s.renderString("response.correlate."+k+" of "+j.Op.Action, tmpl, d, wfi.EscapeNone)
			if err != nil {
				return runner.Done{}, failure.Permanent(fmt.Errorf("the call succeeded but its response cannot be mapped: %w", err))
			}
			stored[k] = v
		}
	}
	if len(m.Fields) > 0 {
		fields = make(map[string]string, len(m.Fields))
		for k, tmpl := range m.Fields {
			v, err := s.renderString("response.fields."+k+" of "+j.Op.Action, tmpl, d, wfi.EscapeNone)
			if err != nil {
				return runner.Done{}, failure.Permanent(fmt.Errorf("the call succeeded but its response cannot be mapped to SecureChange fields: %w", err))
			}
			fields[k] = v
		}
	}
	op := j.Op
	return runner.Done{Correlation: stored, Commit: func(ctx context.Context) error {
		if stored != nil {
			if err := s.Correlations.Merge(ctx, op.Ticket, op.Target, stored); err != nil {
				return err
			}
		}
		if fields != nil {
			return s.publishWriteBack(ctx, op, fields)
		}
		return nil
	}}, nil
}

// record appends the attempt of one request.
func (s *Service) record(j *runner.Job, srv *outbound.Server, resp outbound.Response, err error, lookup bool) {
	a := events.Attempt{At: s.now().UTC(), Status: resp.Status, Latency: resp.Latency, Lookup: lookup}
	if err != nil {
		var oe *outbound.Error
		if errors.As(err, &oe) {
			if oe.BreakerOpen || oe.NotSent {
				return // no request was made
			}
			a.Status, a.Latency, a.Excerpt = oe.Status, oe.Latency, oe.Excerpt
		}
		runner.Failed(&a, err)
	} else if s.Cfg.ExcerptBytes > 0 {
		a.Excerpt = srv.Excerpt(resp.Body)
	}
	a.At = a.At.Add(-a.Latency)
	j.Record(a)
	s.Metrics.observe(j.Op.Target, a)
}

// usesCorrelation reports whether any template the action renders (path, body,
// headers, lookup, response mappings) or any custom placeholder may read correlation
// values: a #correlation.X# placeholder, ph/raw/has "correlation.X", or .Correlation in a
// Go template. A JSON key such as ServiceNow's correlation_id is not a read.
func usesCorrelation(spec events.ITSMSpec, custom map[string]string) bool {
	if len(spec.Needs) > 0 {
		return true
	}
	reads := func(ts ...string) bool {
		for _, t := range ts {
			t = strings.ToLower(t)
			if strings.Contains(t, "correlation.") || strings.Contains(t, ".correlation") {
				return true
			}
		}
		return false
	}
	readsAny := func(m map[string]string) bool {
		for _, t := range m {
			if reads(t) {
				return true
			}
		}
		return false
	}
	readsResponse := func(r *events.ResponseSpec) bool {
		return r != nil && (readsAny(r.Correlate) || readsAny(r.Fields))
	}
	if reads(spec.Path, spec.Body) || readsAny(spec.Headers) || readsResponse(&spec.Response) || readsAny(custom) {
		return true
	}
	l := spec.Lookup
	return l != nil && (reads(l.Path, l.Found) || readsResponse(l.Response))
}

// correlationNeeds lists the correlation.* placeholders the action's templates use.
func (s *Service) correlationNeeds(spec events.ITSMSpec) []string {
	var need []string
	seen := map[string]bool{}
	add := func(text string, esc wfi.Escape) {
		if !strings.Contains(text, "correlation.") {
			return
		}
		t, err := s.tmpls.Template("needs", text, esc)
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
	add(spec.Body, wfi.EscapeJSON)
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
