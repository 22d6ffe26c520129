package itsmsync

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

// KVCorrelations keeps correlation values in the scw_correlation bucket, one JSON object
// per <ticket>.<server>.
type KVCorrelations struct{ KV jetstream.KeyValue }

// Get reads what earlier operations stored for this ticket and server.
func (c KVCorrelations) Get(ctx context.Context, ticket, server string) (map[string]string, error) {
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
// writers storing different keys for one ticket both keep theirs).
func (c KVCorrelations) Merge(ctx context.Context, ticket, server string, vals map[string]string) error {
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
