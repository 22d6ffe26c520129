package dispatcher

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// InboundDurable prefixes the dispatcher's lanes on SCW_INBOUND: dispatcher-inbound-p00 …
const InboundDurable = "dispatcher-inbound"

// RecordIndex finds the SecureChange ticket of an ITSM record: the reverse index
// itsm-sync keeps in scw_correlation (events.RecordIndexKey).
type RecordIndex interface {
	// Ticket is the ticket of the record, ok false when none is known.
	Ticket(ctx context.Context, server, key, value string) (ticket string, ok bool, err error)
}

// handleInbound acts on one ITSM callback: it finds the ticket (named by the callback,
// or through its record), matches the inbound routes and publishes their operations,
// exactly like a trigger's plan (scw.plan.inbound.<ticket>). Operation ids derive from
// the callback's id, so a callback stored twice, or redelivered, acts once. A callback
// that cannot be acted on (its record is correlated with no ticket, a condition fails)
// is recorded as a failed plan and dead-lettered, which alerts (notifier).
func (d *Dispatcher) handleInbound(msg *message.Message) error {
	start := time.Now()
	delivered := bus.Delivered(msg)
	cb, err := events.UnmarshalInboundEvent(msg.Payload)
	if err != nil {
		return d.failInbound(msg, cb, "", Permanent(err), delivered)
	}
	log := d.log.With("callback", cb.ID, "server", cb.Server, "delivery", delivered)
	plan, opctx, err := d.planInbound(msg.Context(), cb)
	if err != nil {
		if !IsPermanent(err) && d.retry(msg, delivered) {
			d.metrics.retries.Inc()
			log.Warn("acting on the callback failed, will retry", "err", err)
			return err
		}
		return d.failInbound(msg, cb, plan.Ticket, d.givenUp(msg, err), delivered)
	}
	if err := d.publishPlan(msg.Context(), plan, opctx, replayOf(msg)); err != nil {
		if d.retry(msg, delivered) {
			log.Warn("publishing the callback's operations failed, will retry", "err", err)
			return err
		}
		return d.failInbound(msg, cb, plan.Ticket, d.givenUp(msg, err), delivered)
	}
	d.metrics.observe(plan, time.Since(start))
	log.Debug("callback planned", "ticket", plan.Ticket, "operations", len(plan.Operations), "routes", plan.Routes)
	return nil
}

// planInbound builds the callback's plan. On an error, the plan still names the ticket
// (or the lane key) for the failure record.
func (d *Dispatcher) planInbound(ctx context.Context, cb events.InboundEvent) (events.Plan, *events.OpContext, error) {
	plan := events.Plan{
		ID: events.PlanID(cb.ID), TriggerID: cb.ID, Ticket: cb.Key(), Event: events.InboundEventName,
		Status: events.PlanPlanned, PlannedAt: d.now().UTC(), Dispatcher: d.instance,
	}
	matches, err := d.inbound.Match(cb)
	if err != nil {
		return plan, nil, err
	}
	needTicket := false
	for _, m := range matches {
		needTicket = needTicket || !m.creates
	}
	if needTicket {
		t, err := d.inboundTicket(ctx, cb)
		if err != nil {
			return plan, nil, err
		}
		plan.Ticket = t
	}
	if len(matches) == 0 {
		plan.Info = []string{fmt.Sprintf("no inbound route of server %q matched the callback", cb.Server)}
	}
	for _, m := range matches {
		plan.Routes = append(plan.Routes, m.route.Name)
		for _, pa := range m.actions {
			ticket := plan.Ticket
			if m.creates { // the new ticket's id is not known yet: the record's lane
				ticket = createLane(cb)
			}
			plan.Operations = append(plan.Operations, events.Operation{
				ID: events.OperationID(cb.ID, m.route.Name, pa.name), Kind: pa.kind, Target: pa.target,
				Route: m.route.Name, Action: pa.name, TriggerID: cb.ID, Ticket: ticket,
				Event: events.InboundEventName, Spec: pa.spec,
			})
		}
	}
	trig := events.TriggerEvent{ID: cb.ID, Event: events.InboundEventName, Ticket: events.TicketInfo{ID: plan.Ticket}, ReceivedAt: cb.ReceivedAt}
	return plan, &events.OpContext{Trigger: trig, Callback: &cb}, nil
}

// createLane is the lane key of a create: the record's ("rec-<value>"), so the
// callbacks of one record are created in order, else the callback's own.
func createLane(cb events.InboundEvent) string {
	if cb.Record != nil && cb.Record.Value != "" {
		return "rec-" + events.InboundRecordToken(cb.Record.Value)
	}
	return "new-" + cb.ID
}

// inboundTicket is the SecureChange ticket a callback is about: the one it names, else
// its record's, through the reverse index.
func (d *Dispatcher) inboundTicket(ctx context.Context, cb events.InboundEvent) (string, error) {
	if cb.Ticket != "" {
		return cb.Ticket, nil
	}
	if cb.Record == nil || cb.Record.Value == "" {
		return "", Permanent(fmt.Errorf("callback %s from %s names no SecureChange ticket (servers.%s.inbound.ticket) and no ITSM record (servers.%s.inbound.record): there is no ticket to act on",
			cb.ID, cb.Server, cb.Server, cb.Server))
	}
	if d.records == nil {
		return "", Permanent(fmt.Errorf("callback %s from %s names only its record %s=%q, and the dispatcher has no correlation index", cb.ID, cb.Server, cb.Record.Key, cb.Record.Value))
	}
	t, ok, err := d.records.Ticket(ctx, cb.Server, cb.Record.Key, cb.Record.Value)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", Permanent(fmt.Errorf("unknown record: callback %s from %s is about record %s=%q, and no SecureChange ticket is correlated with it (%s %s): it was not created by triggerflow, or its %s was never stored (an itsm action's response.correlate)",
			cb.ID, cb.Server, cb.Record.Key, cb.Record.Value, events.BucketCorrelation,
			events.RecordIndexKey(cb.Server, cb.Record.Key, cb.Record.Value), cb.Record.Key))
	}
	return t, nil
}

// failInbound records a failed plan for the callback and dead-letters it (which
// alerts). It returns an error only when the dead letter could not be stored.
func (d *Dispatcher) failInbound(msg *message.Message, cb events.InboundEvent, ticket string, cause error, delivered int) error {
	if ticket == "" {
		ticket = cb.Key()
	}
	return d.giveUp(msg, cb.ID, ticket, events.InboundEventName, cause, delivered, "callback not acted on", "callback", cb.ID, "server", cb.Server)
}
