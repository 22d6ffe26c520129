package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Reading streams for the operator commands (trace, redrive; replay and resend can use
// them too): an ordered consumer filtered on subjects, from the start or a time, up to
// the stream's last message when the read began. Read-only: nothing is acked, the
// consumer is ephemeral and deleted at the end.

// streamFilter is one stream and the subjects of interest in it.
type streamFilter struct {
	Stream  string
	Filters []string
}

// ticketFilters are the subjects of one ticket in every stream, in pipeline order.
// Triggers and operations are matched with and without their lane token (a message
// stored before lanes has none), results with and without their operation id token.
// Callbacks are matched by ticket, and by the ticket's ITSM records (records: subject
// tokens "<server>.rec-<value>", from scw_correlation) for those that name only those.
func ticketFilters(ticket string, records ...string) []streamFilter {
	inbound := []string{"scw.inbound.*.*." + ticket}
	for _, r := range records {
		server, rec, _ := strings.Cut(r, ".")
		inbound = append(inbound, "scw.inbound."+server+".*."+rec)
	}
	return []streamFilter{
		{events.StreamTriggers, []string{"scw.trigger.*.*." + ticket, "scw.trigger.*." + ticket}},
		{events.StreamInbound, inbound},
		{events.StreamPlans, []string{"scw.plan.*." + ticket}},
		{events.StreamOps, []string{"scw.op.*.*.*." + ticket, "scw.op.*.*." + ticket}},
		{events.StreamResults, []string{events.TicketResults(ticket), "scw.result.*.*." + ticket}},
		{events.StreamDLQ, []string{"scw.dlq.*." + ticket}},
		{events.StreamParked, []string{"scw.parked.*." + ticket}},
		{events.StreamAlerts, []string{"scw.alert.*." + ticket}},
	}
}

// checkToken refuses a value that cannot be one subject token (a ticket id, a service).
// ticketArg is an operator's ticket argument as the streams key it: a ticket number in
// canonical form (securechange.CanonicalTicketID: "01001" is ticket 1001, as the ingress
// stores it), or another key (a callback's "rec-…") as one subject token (checkToken).
func ticketArg(what, v string) (string, error) {
	if securechange.IsTicketNumber(v) {
		id, err := securechange.CanonicalTicketID(v)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return id, nil
	}
	return v, checkToken(what, v)
}

func checkToken(what, v string) error {
	if v == "" || strings.ContainsAny(v, ".*> \t\r\n") {
		return fmt.Errorf("%s %q: must be one subject token (no '.', '*', '>' or spaces)", what, v)
	}
	return nil
}

// readStream calls fn, in stream order, for each message of stream matching filters
// (none: all), stored at or after since (zero: from the first), up to the stream's
// last sequence when the read began: it does not wait for new messages. A stream that
// does not exist is jetstream.ErrStreamNotFound (wrapped).
func readStream(ctx context.Context, js jetstream.JetStream, stream string, filters []string, since time.Time, fn func(jetstream.Msg) error) error {
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: filters, InactiveThreshold: time.Minute}
	if !since.IsZero() {
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	_, err := scan(ctx, js, stream, cc, readWait, nil, "", func(m jetstream.Msg, _ *jetstream.MsgMetadata) error { return fn(m) })
	return err
}

// readWait bounds the wait for the next stored message of a read (they are all there).
const readWait = 5 * time.Second

// parseSince reads --since: a duration before now ("2h", "30m") or a time (RFC 3339, or a
// date 2006-01-02 in UTC).
func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration before now (2h, 30m) or a time (2026-12-05T12:00:00Z, 2026-12-05)", v)
}
