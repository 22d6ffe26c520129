package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// readBuckets adds the ticket's key-value entries: redrives of its dead letters, its
// lanes' park records, correlation values, attempts of operations still being retried,
// and done markers of operations without a result.
func (c *traceCollector) readBuckets(ctx context.Context, js jetstream.JetStream) error {
	bucket := func(name string) (jetstream.KeyValue, error) {
		kv, err := js.KeyValue(ctx, name)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			c.res.Missing = append(c.res.Missing, name)
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", name, err)
		}
		c.res.Read = append(c.res.Read, name)
		return kv, nil
	}
	get := func(kv jetstream.KeyValue, key string) (jetstream.KeyValueEntry, error) {
		en, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || (err == nil && c.before(en.Created())) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", kv.Bucket(), key, err)
		}
		return en, nil
	}

	kv, err := bucket(events.BucketRedrives)
	if err != nil {
		return err
	}
	for _, seq := range c.dlqSeqs {
		if kv == nil {
			break
		}
		en, err := get(kv, events.RedriveKey(seq))
		if err != nil || en == nil {
			if err != nil {
				return err
			}
			continue
		}
		var r events.Redrive
		if err := json.Unmarshal(en.Value(), &r); err != nil {
			continue
		}
		if c.before(r.At) {
			continue
		}
		e := traceEntry{Time: r.At, Source: events.BucketRedrives, Kind: "redrive", Subject: r.Subject, Status: "redriven",
			ID: events.RedriveKey(seq), MsgID: r.MsgID}
		if r.Skip {
			e.Status = "redriven (skip)"
		}
		e.Detail = fmt.Sprintf("SCW_DLQ #%d by %s", seq, r.By)
		if r.Count > 1 {
			e.Detail += fmt.Sprintf(", %d times", r.Count)
		}
		c.emit(e)
	}

	if kv, err = bucket(events.BucketParked); err != nil {
		return err
	}
	for _, lane := range c.lanes {
		if kv == nil {
			break
		}
		en, err := get(kv, lane)
		if err != nil {
			return err
		} else if en == nil {
			continue
		}
		var p events.Park
		if json.Unmarshal(en.Value(), &p) != nil {
			continue
		}
		e := traceEntry{Time: en.Created(), Source: events.BucketParked, Kind: "lane", Subject: lane, ID: p.Head, Error: p.Error}
		switch {
		case p.Head != "":
			e.Status = "held"
			e.Detail = fmt.Sprintf("behind %s (%s/%s), %d parked", short(p.Head), p.HeadRoute, p.HeadAct, p.Parked)
		case len(p.Release) > 0:
			e.Status = "releasing"
			e.Detail = fmt.Sprintf("%d to release", len(p.Release))
		default:
			e.Status = "open"
		}
		c.emit(e)
	}

	if kv, err = bucket(events.BucketCorrelation); err != nil {
		return err
	}
	if kv != nil {
		keys, err := kv.ListKeysFiltered(ctx, c.ticket+".*")
		if err != nil {
			return fmt.Errorf("%s: %w", events.BucketCorrelation, err)
		}
		var names []string
		for k := range keys.Keys() {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			en, err := get(kv, k)
			if err != nil {
				return err
			} else if en == nil {
				continue
			}
			c.emit(traceEntry{Time: en.Created(), Source: events.BucketCorrelation, Kind: "correlation", Subject: k,
				Status: "stored", Detail: excerpt(string(en.Value()), 100)})
		}
	}

	if kv, err = bucket(events.BucketAttempts); err != nil {
		return err
	}
	for _, id := range c.ops {
		if kv == nil || c.final[id] {
			continue
		}
		en, err := get(kv, id)
		if err != nil {
			return err
		} else if en == nil {
			continue
		}
		var as []events.Attempt
		if json.Unmarshal(en.Value(), &as) != nil {
			continue
		}
		c.attempts(traceEntry{Source: events.BucketAttempts, Op: c.opNames[id]}, id, as)
	}

	attempts := kv
	if kv, err = bucket(events.BucketDone); err != nil {
		return err
	}
	return c.readAlerts(kv, attempts, get)
}

// readAlerts adds the notifier's alert of each failure: its done marker (sent, queued
// for the digest, nobody to alert) or, while it is retried, its last attempt.
func (c *traceCollector) readAlerts(done, attempts jetstream.KeyValue, get func(jetstream.KeyValue, string) (jetstream.KeyValueEntry, error)) error {
	for _, a := range c.alerts {
		e := traceEntry{Source: events.BucketDone, Kind: "alert", Event: a.event, Op: a.op, ID: a.id, TriggerID: a.trigger, Subject: a.key}
		if done != nil {
			en, err := get(done, a.key)
			if err != nil {
				return err
			}
			if en != nil {
				var m struct {
					Alert string    `json:"alert"`
					At    time.Time `json:"at"`
				}
				_ = json.Unmarshal(en.Value(), &m)
				e.Time, e.Status = en.Created(), m.Alert
				if e.Status == "" {
					e.Status = "sent"
				}
				c.emit(e)
				continue
			}
		}
		if attempts == nil {
			continue
		}
		en, err := get(attempts, a.key)
		if err != nil {
			return err
		} else if en == nil {
			continue
		}
		var as []events.Attempt
		if json.Unmarshal(en.Value(), &as) != nil || len(as) == 0 {
			continue
		}
		last := as[len(as)-1]
		e.Source, e.Time, e.Status, e.Error = events.BucketAttempts, last.At, "not sent yet", last.Error
		e.Detail = fmt.Sprintf("%d attempt(s)", len(as))
		c.emit(e)
	}
	return nil
}

// before reports whether t is before --since.
func (c *traceCollector) before(t time.Time) bool { return !c.since.IsZero() && t.Before(c.since) }
