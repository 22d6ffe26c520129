package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// readBuckets adds the ticket's key-value entries: redrives of its dead letters, its
// lanes' park records, correlation values, attempts of operations still being retried,
// and done markers of operations without a result.
func (c *traceCollector) readBuckets(ctx context.Context, js jetstream.JetStream) error {
	r := bucketReader{c: c, ctx: ctx, js: js}
	for _, read := range []func(bucketReader) error{c.readRedrives, c.readParked, c.readCorrelation} {
		if err := read(r); err != nil {
			return err
		}
	}
	attempts, err := r.bucket(events.BucketAttempts)
	if err != nil {
		return err
	}
	if err := c.readAttempts(r, attempts); err != nil {
		return err
	}
	done, err := r.bucket(events.BucketDone)
	if err != nil {
		return err
	}
	return c.readAlerts(r, done, attempts)
}

// bucketReader reads the buckets of one trace: a missing bucket is noted (Missing), not
// an error, and an entry from before --since is as good as absent.
type bucketReader struct {
	c   *traceCollector
	ctx context.Context
	js  jetstream.JetStream
}

// bucket opens a bucket; nil, nil when it does not exist.
func (r bucketReader) bucket(name string) (jetstream.KeyValue, error) {
	kv, err := r.js.KeyValue(r.ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		r.c.res.Missing = append(r.c.res.Missing, name)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	r.c.res.Read = append(r.c.res.Read, name)
	return kv, nil
}

// get reads an entry; nil, nil when it does not exist or is from before --since.
func (r bucketReader) get(kv jetstream.KeyValue, key string) (jetstream.KeyValueEntry, error) {
	en, err := kv.Get(r.ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || (err == nil && r.c.before(en.Created())) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kv.Bucket(), key, err)
	}
	return en, nil
}

// readRedrives adds the redrives of the ticket's dead letters.
func (c *traceCollector) readRedrives(r bucketReader) error {
	kv, err := r.bucket(events.BucketRedrives)
	if err != nil || kv == nil {
		return err
	}
	for _, seq := range c.dlqSeqs {
		en, err := r.get(kv, events.RedriveKey(seq))
		if err != nil {
			return err
		} else if en == nil {
			continue
		}
		var rd events.Redrive
		if err := json.Unmarshal(en.Value(), &rd); err != nil || c.before(rd.At) {
			continue
		}
		e := traceEntry{Time: rd.At, Source: events.BucketRedrives, Kind: "redrive", Subject: rd.Subject, Status: "redriven",
			ID: events.RedriveKey(seq), MsgID: rd.MsgID}
		if rd.Skip {
			e.Status = "redriven (skip)"
		}
		e.Detail = fmt.Sprintf("SCW_DLQ #%d by %s", seq, rd.By)
		if rd.Count > 1 {
			e.Detail += fmt.Sprintf(", %d times", rd.Count)
		}
		c.emit(e)
	}
	return nil
}

// readParked adds the park records of the ticket's lanes.
func (c *traceCollector) readParked(r bucketReader) error {
	kv, err := r.bucket(events.BucketParked)
	if err != nil || kv == nil {
		return err
	}
	for _, lane := range c.lanes {
		en, err := r.get(kv, lane)
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
	return nil
}

// readTicketCorrelation reads the ticket's scw_correlation entries, once, before the
// streams (their values name the ticket's callbacks: recordTokens); readCorrelation adds
// them to the trace. No bucket: none.
func (c *traceCollector) readTicketCorrelation(ctx context.Context, js jetstream.JetStream) error {
	kv, err := js.KeyValue(ctx, events.BucketCorrelation)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bucket %s: %w", events.BucketCorrelation, err)
	}
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
		en, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", events.BucketCorrelation, k, err)
		}
		c.corr = append(c.corr, en)
	}
	return nil
}

// recordTokens are the ITSM records of the ticket, as the subject tokens of their
// callbacks, "<server>.rec-<value>", from its correlation entries.
func (c *traceCollector) recordTokens() []string {
	var out []string
	for _, en := range c.corr {
		vals := map[string]string{}
		_ = json.Unmarshal(en.Value(), &vals)
		server := strings.TrimPrefix(en.Key(), c.ticket+".")
		for _, v := range vals {
			if v != "" {
				out = append(out, server+".rec-"+events.InboundRecordToken(v))
			}
		}
	}
	sort.Strings(out)
	return out
}

// readCorrelation adds the ticket's correlation values (read by readTicketCorrelation).
func (c *traceCollector) readCorrelation(r bucketReader) error {
	if kv, err := r.bucket(events.BucketCorrelation); err != nil || kv == nil {
		return err
	}
	for _, en := range c.corr {
		if c.before(en.Created()) {
			continue
		}
		c.emit(traceEntry{Time: en.Created(), Source: events.BucketCorrelation, Kind: "correlation", Subject: en.Key(),
			Status: "stored", Detail: excerpt(string(en.Value()), 100)})
	}
	return nil
}

// readAttempts adds the attempts of the operations still being retried (kv: scw_attempts).
func (c *traceCollector) readAttempts(r bucketReader, kv jetstream.KeyValue) error {
	for _, id := range c.ops {
		if kv == nil || c.final[id] {
			continue
		}
		en, err := r.get(kv, id)
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
	return nil
}

// readAlerts adds the notifier's alert of each failure: its done marker (sent, queued
// for the digest, nobody to alert) or, while it is retried, its last attempt.
func (c *traceCollector) readAlerts(r bucketReader, done, attempts jetstream.KeyValue) error {
	for _, a := range c.alerts {
		e := traceEntry{Source: events.BucketDone, Kind: "alert", Event: a.event, Op: a.op, ID: a.id, TriggerID: a.trigger, Subject: a.key}
		if done != nil {
			en, err := r.get(done, a.key)
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
		en, err := r.get(attempts, a.key)
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
		e.Detail = attemptsNote(as)
		c.emit(e)
	}
	return nil
}

// before reports whether t is before --since.
func (c *traceCollector) before(t time.Time) bool { return !c.since.IsZero() && t.Before(c.since) }
