package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/rewrite"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// ServiceName names the dispatcher in dead letters and logs.
const ServiceName = "dispatcher"

// Dispatcher plans triggers. Handle is a plain watermill handler: tests call it directly.
type Dispatcher struct {
	log        *slog.Logger
	routes     *Routes
	inbound    *InboundRoutes
	records    RecordIndex // nil: callbacks must name their ticket
	actions    Actions
	sc         *securechange.Client // nil: no enrichment
	rewriter   *rewrite.Rewriter    // nil: no plugins
	pub        message.Publisher    // failed plans, dead letters
	batch      *bus.Batcher         // plans and their operations
	metrics    *metrics
	instance   string
	maxDeliver int           // 0: no bound but maxAge
	maxAge     time.Duration // retries of a transient failure end this long after the message was stored
	now        func() time.Time
	tracer     trace.Tracer
}

// handle plans one trigger (Handle, in its span). It returns an error only for a
// transient failure on a delivery that is not the last: the trigger is then NAKed with
// backoff. A permanent failure, or a transient one on the last delivery, records a
// failed plan, dead-letters the trigger and returns nil: the dispatcher keeps going.
func (d *Dispatcher) handle(msg *message.Message) error {
	start := time.Now()
	delivered := bus.Delivered(msg)
	trig, err := events.UnmarshalTriggerEvent(msg.Payload)
	if err != nil {
		return d.fail(msg, events.TriggerEvent{}, Permanent(fmt.Errorf("not a trigger event: %w", err)), delivered)
	}
	log := d.log.With("trigger_id", trig.ID, "ticket", trig.Ticket.ID, "event", trig.Event, "delivery", delivered)

	plan, opctx, err := d.plan(msg.Context(), trig, delivered)
	if err != nil {
		if !IsPermanent(err) && d.retry(msg, delivered) {
			d.metrics.retries.Inc()
			log.Warn("planning failed, will retry", "err", err)
			return err
		}
		return d.fail(msg, trig, d.givenUp(msg, err), delivered)
	}
	if err := d.publishPlan(msg.Context(), plan, opctx, replayOf(msg)); err != nil {
		if d.retry(msg, delivered) {
			log.Warn("publishing the plan failed, will retry", "err", err)
			return err
		}
		return d.fail(msg, trig, d.givenUp(msg, err), delivered)
	}
	d.metrics.observe(plan, time.Since(start))
	trace.SpanFromContext(msg.Context()).SetAttributes(tracing.AttrPlanOps.Int(len(plan.Operations)))
	args := []any{"operations", len(plan.Operations), "routes", plan.Routes, "enriched", plan.Enriched}
	if rp := replayOf(msg); rp.id != "" {
		args = append(args, "replay", rp.id, "forced", rp.force)
	}
	log.Debug("trigger planned", args...) // one per trigger: debug (failures are warn/error)
	return nil
}

// plan enriches, matches, builds and rewrites. The context is what the operations'
// templates will render from.
func (d *Dispatcher) plan(ctx context.Context, trig events.TriggerEvent, delivered int) (events.Plan, *events.OpContext, error) {
	var ticket *securechange.Ticket
	opctx := &events.OpContext{Trigger: trig}
	if d.sc != nil {
		t, err := d.sc.Ticket(ctx, trig.Ticket.ID)
		if err != nil {
			return events.Plan{}, nil, fmt.Errorf("enrich ticket %s: %w", trig.Ticket.ID, err)
		}
		ticket = &t
		opctx.Ticket = t.Raw
	}
	matches, err := d.routes.Match(MatchInput{Trigger: trig, Ticket: ticket})
	if err != nil {
		return events.Plan{}, nil, err
	}
	ops, err := buildOperations(trig, matches, d.actions)
	if err != nil {
		return events.Plan{}, nil, err
	}
	plan := events.Plan{
		ID: events.PlanID(trig.ID), TriggerID: trig.ID, Ticket: trig.Ticket.ID, Event: trig.Event,
		Status: events.PlanPlanned, Routes: routeNames(matches), Operations: ops,
		Enriched: ticket != nil, PlannedAt: d.now().UTC(), Dispatcher: d.instance,
	}
	if ticket != nil {
		plan.Workflow = ticket.Workflow.Name
	}
	if d.rewriter != nil {
		plan, err = d.rewriter.Rewrite(ctx, rewrite.Input{Trigger: trig, Ticket: ticket, Plan: plan, FirstRun: delivered == 1})
		if err != nil {
			return events.Plan{}, nil, err
		}
	}
	return plan, opctx, nil
}

// replay is what a trigger republished by `triggerflow replay` carries: the replay's id
// (Scw-Replay) and whether its operations are to be performed even if done (Scw-Force).
type replay struct {
	id    string
	force bool
}

func replayOf(msg *message.Message) replay {
	return replay{id: msg.Metadata.Get(events.HdrReplay), force: msg.Metadata.Get(events.HdrForce) == "true"}
}

// msgID is the Nats-Msg-Id of a message of the plan: its id, suffixed with the replay's
// id on a replay (events.ReplayMsgID), so a replay is stored again, once.
func (r replay) msgID(id string) string {
	if r.id == "" {
		return id
	}
	return events.ReplayMsgID(id, r.id)
}

// set adds the replay's headers to m: Scw-Replay, and Scw-Force: true on a forced one.
func (r replay) set(m *message.Message) {
	if r.id == "" {
		return
	}
	m.Metadata.Set(events.HdrReplay, r.id)
	if r.force {
		m.Metadata.Set(events.HdrForce, "true")
	}
}

// publishPlan records the plan and sends one message per operation, each with the
// context its templates render from, in one round trip (bus.Batcher: the plan first, then
// the operations in order, every acknowledgement awaited before the trigger is acked).
// Every message carries a deterministic Nats-Msg-Id, so a retry after a partial publish
// stores nothing twice, and the trace context of ctx (the plan's span). A replayed trigger's messages carry the replay (their ids
// suffixed with it, its headers); the operation ids are the same, so the runner skips
// what is already done unless the replay is forced.
func (d *Dispatcher) publishPlan(ctx context.Context, p events.Plan, opctx *events.OpContext, rp replay) error {
	if p.Operations == nil {
		p.Operations = []events.Operation{}
	}
	b, err := p.Marshal()
	if err != nil {
		return Permanent(fmt.Errorf("encode plan: %w", err))
	}
	pm := message.NewMessage(rp.msgID(p.ID), b)
	setHeaders(pm, p.Headers())
	rp.set(pm)
	pm.SetContext(ctx)
	batch := make([]bus.Outgoing, 0, 1+len(p.Operations))
	batch = append(batch, bus.Outgoing{Subject: p.Subject(), Msg: pm})
	for _, op := range p.Operations {
		op.Context = opctx
		ob, err := op.Marshal()
		if err != nil {
			return Permanent(fmt.Errorf("encode operation %s: %w", op.ID, err))
		}
		om := message.NewMessage(rp.msgID(op.ID), ob)
		setHeaders(om, op.Headers())
		rp.set(om)
		om.SetContext(ctx)
		batch = append(batch, bus.Outgoing{Subject: op.Subject(), Msg: om})
	}
	if err := d.batch.Publish(batch...); err != nil {
		return fmt.Errorf("record the plan and its %d operations: %w", len(p.Operations), err)
	}
	return nil
}

// fail records a failed plan (best effort: the dead letter is what matters) and
// dead-letters the trigger with the reason. It returns an error only if the dead letter
// itself could not be stored, so the trigger is redelivered rather than lost.
func (d *Dispatcher) fail(msg *message.Message, trig events.TriggerEvent, cause error, delivered int) error {
	ticket := trig.Ticket.ID
	if ticket == "" {
		ticket = "unknown"
	}
	return d.giveUp(msg, trig.ID, ticket, trig.Event, cause, delivered, "trigger not planned", "trigger_id", trig.ID, "event", trig.Event)
}

// retry reports whether a message that failed transiently on its delivered-th delivery
// gets another: while it is younger than dispatcher.max_age and, if dispatcher.max_deliver
// is set, delivered is under it.
func (d *Dispatcher) retry(msg *message.Message, delivered int) bool {
	if d.maxDeliver > 0 && delivered >= d.maxDeliver {
		return false
	}
	stored := bus.StoredAt(msg)
	return stored.IsZero() || d.now().Sub(stored) < d.maxAge
}

// givenUp says, for a transient failure that retry ended, which bound ended it.
func (d *Dispatcher) givenUp(msg *message.Message, err error) error {
	if IsPermanent(err) {
		return err
	}
	if stored := bus.StoredAt(msg); !stored.IsZero() && d.now().Sub(stored) >= d.maxAge {
		return fmt.Errorf("still failing %s after it was stored (dispatcher.max_age): %w", d.maxAge, err)
	}
	return err
}

// giveUp is the end of a message the dispatcher cannot plan (a trigger, a callback): a
// failed plan of id on ticket, recorded best effort, and the message dead-lettered with the
// reason (the one dead-letter path of every service, bus.DeadLetter; it acks). It returns
// an error only if the dead letter could not be stored, so the message is redelivered
// rather than lost.
func (d *Dispatcher) giveUp(msg *message.Message, id, ticket string, ev events.Trigger, cause error, delivered int, what string, logArgs ...any) error {
	reason := cause.Error()
	if !IsPermanent(cause) {
		reason = fmt.Sprintf("gave up after %d deliveries: %s", delivered, reason)
	}
	d.metrics.failed(ev)
	d.log.Error(what+"; dead-lettered", append(logArgs, "ticket", ticket, "delivery", delivered, "err", reason)...)
	if id != "" {
		failed := events.Plan{
			ID: events.PlanID(id), TriggerID: id, Ticket: ticket, Event: ev,
			Status: events.PlanFailed, Error: reason, Operations: []events.Operation{},
			PlannedAt: d.now().UTC(), Dispatcher: d.instance,
		}
		d.recordFailedPlan(msg, failed, reason, delivered)
	}
	if msg.Metadata.Get(events.HdrTicketID) == "" {
		msg.Metadata.Set(events.HdrTicketID, ticket) // the alert's and the redrive's key
	}
	if err := bus.DeadLetter(d.pub, msg, ServiceName, id, ticket, errors.New(reason), delivered); err != nil {
		return errors.Join(cause, err)
	}
	return nil
}

// recordFailedPlan publishes a failed plan, best effort (the dead letter is what
// matters), under its own message id: a later successful plan (after a redrive) must not
// be taken for a duplicate of this record.
func (d *Dispatcher) recordFailedPlan(msg *message.Message, failed events.Plan, reason string, delivered int) {
	b, err := failed.Marshal()
	if err != nil {
		return
	}
	rp := replayOf(msg)
	pm := message.NewMessage(rp.msgID(failed.ID+"-failed-"+fmt.Sprint(delivered)), b)
	setHeaders(pm, failed.Headers())
	rp.set(pm)
	pm.Metadata.Set(events.HdrError, reason)
	pm.SetContext(msg.Context())
	if err := d.pub.Publish(failed.Subject(), pm); err != nil {
		d.log.Warn("failed plan not recorded", "trigger_id", failed.TriggerID, "err", err)
	}
}

func setHeaders(m *message.Message, h map[string]string) {
	for k, v := range h {
		m.Metadata.Set(k, v)
	}
}
