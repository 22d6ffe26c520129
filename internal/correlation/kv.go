// Package correlation keeps what ties a SecureChange ticket to its ITSM records, in the
// scw_correlation bucket, in both directions: per ticket and server, the values ITSM
// servers answered (sys_id, number, key), and per server, key and value, the ticket
// (events.RecordIndexKey): the callbacks of a record find their ticket that way.
package correlation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// KV keeps correlation values in the scw_correlation bucket: one JSON object per
// <ticket>.<server>, and the reverse index record.<server>.<key>.<value> -> ticket.
type KV struct {
	KV jetstream.KeyValue
	// Indexed names, by server, the one correlation key whose values Merge indexes back
	// to their ticket: the key a server's callbacks name their record by
	// (servers.<name>.inbound.record_key). A server without callbacks has none, and its
	// merges cost no index write.
	Indexed map[string]string
}

// Get reads what earlier operations stored for this ticket and server.
func (c KV) Get(ctx context.Context, ticket, server string) (map[string]string, error) {
	e, err := c.KV.Get(ctx, events.CorrelationKey(ticket, server))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", events.BucketCorrelation, err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		return nil, fmt.Errorf("%s %s holds no JSON object: %w", events.BucketCorrelation, e.Key(), err)
	}
	return m, nil
}

// Merge merges vals into the ticket's and server's entry (compare-and-set, so two
// writers storing different keys for one ticket both keep theirs), and indexes the value
// of the server's Indexed key back to the ticket.
func (c KV) Merge(ctx context.Context, ticket, server string, vals map[string]string) error {
	if err := c.merge(ctx, ticket, server, vals); err != nil {
		return err
	}
	if k, ok := c.Indexed[server]; ok && vals[k] != "" {
		return c.Index(ctx, server, k, vals[k], ticket)
	}
	return nil
}

// Index records that the ITSM record (server, correlation key, value) belongs to ticket.
func (c KV) Index(ctx context.Context, server, key, value, ticket string) error {
	k := events.RecordIndexKey(server, key, value)
	if _, err := c.KV.Put(ctx, k, []byte(ticket)); err != nil {
		return fmt.Errorf("store %s %s: %w", events.BucketCorrelation, k, err)
	}
	return nil
}

// Ticket is the SecureChange ticket of an ITSM record (the reverse index), ok false
// when none is known.
func (c KV) Ticket(ctx context.Context, server, key, value string) (string, bool, error) {
	e, err := c.KV.Get(ctx, events.RecordIndexKey(server, key, value))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", events.BucketCorrelation, err)
	}
	return string(e.Value()), true, nil
}

func (c KV) merge(ctx context.Context, ticket, server string, vals map[string]string) error {
	key := events.CorrelationKey(ticket, server)
	// Usually the first values for the ticket (a create): one round trip.
	b, _ := json.Marshal(vals)
	if _, err := c.KV.Create(ctx, key, b); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("store %s %s: %w", events.BucketCorrelation, key, err)
	}
	for range 20 {
		e, err := c.KV.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			b, _ := json.Marshal(vals)
			if _, err := c.KV.Create(ctx, key, b); err == nil {
				return nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("store %s %s: %w", events.BucketCorrelation, key, err)
			}
		case err != nil:
			return fmt.Errorf("read %s %s: %w", events.BucketCorrelation, key, err)
		default:
			m := map[string]string{}
			_ = json.Unmarshal(e.Value(), &m)
			maps.Copy(m, vals)
			b, _ := json.Marshal(m)
			if _, err := c.KV.Update(ctx, key, b, e.Revision()); err == nil {
				return nil
			} else if !natsconn.IsWrongRevision(err) {
				return fmt.Errorf("store %s %s: %w", events.BucketCorrelation, key, err)
			}
		}
	}
	return fmt.Errorf("store %s %s: too many concurrent updates", events.BucketCorrelation, key)
}
