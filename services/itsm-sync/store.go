package itsmsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

// maxAttemptsKept bounds the attempt history of one operation.
const maxAttemptsKept = 50

// correlation reads what earlier operations stored for this ticket and server.
func (s *Service) correlation(ctx context.Context, ticket, server string) (map[string]string, error) {
	e, err := s.corr.Get(ctx, events.CorrelationKey(ticket, server))
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

// storeCorrelation merges vals into the ticket's and server's entry (compare-and-set,
// so two replicas storing different keys for one ticket both keep theirs).
func (s *Service) storeCorrelation(ctx context.Context, ticket, server string, vals map[string]string) error {
	key := events.CorrelationKey(ticket, server)
	// Usually the first values for the ticket (a create): one round trip.
	b, _ := json.Marshal(vals)
	if _, err := s.corr.Create(ctx, key, b); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("store %s %s: %w", events.BucketCorrelation, key, err)
	}
	for range 20 {
		e, err := s.corr.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			b, _ := json.Marshal(vals)
			if _, err := s.corr.Create(ctx, key, b); err == nil {
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
			if _, err := s.corr.Update(ctx, key, b, e.Revision()); err == nil {
				return nil
			} else if !isWrongRevision(err) {
				return fmt.Errorf("store %s %s: %w", events.BucketCorrelation, key, err)
			}
		}
	}
	return fmt.Errorf("store %s %s: too many concurrent updates", events.BucketCorrelation, key)
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// loadAttempts reads the attempts of earlier deliveries (none if unknown).
func (s *Service) loadAttempts(ctx context.Context, id string) []events.Attempt {
	e, err := s.attempts.Get(ctx, id)
	if err != nil {
		return nil
	}
	var as []events.Attempt
	if json.Unmarshal(e.Value(), &as) != nil {
		return nil
	}
	return as
}

// saveAttempts keeps the attempts for the next delivery.
func (s *Service) saveAttempts(r *opRun) error {
	as := r.attempts
	if len(as) > maxAttemptsKept {
		as = slices.Concat(as[:1], as[len(as)-maxAttemptsKept+1:])
	}
	b, err := json.Marshal(as)
	if err != nil {
		return err
	}
	_, err = s.attempts.Put(r.msg.Context(), r.op.ID, b)
	return err
}

// deleteAttempts forgets the history of a finished operation.
func (s *Service) deleteAttempts(r *opRun) {
	if len(r.attempts) > 1 || r.delivered > 1 {
		_ = s.attempts.Purge(context.WithoutCancel(r.msg.Context()), r.op.ID)
	}
}

func serverNames(m map[string]*outbound.Server) []string {
	return slices.Sorted(maps.Keys(m))
}
