package natsconn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// The one owner of what triggerflow provisions on JetStream: the streams (from
// pkg/events' specs and the config's limits), the key-value buckets and the durable
// consumers. Every process ensures them, idempotently: the streams at start (Module),
// the buckets and consumers when the service that uses them starts.

// StreamConfig maps a spec of pkg/events to an explicit JetStream stream config.
func StreamConfig(s events.StreamSpec) jetstream.StreamConfig {
	var tr *jetstream.SubjectTransformConfig
	if s.Transform != nil {
		tr = &jetstream.SubjectTransformConfig{Source: s.Transform.Source, Destination: s.Transform.Destination}
	}
	return jetstream.StreamConfig{
		SubjectTransform: tr,
		Name:             s.Name,
		Description:      s.Description,
		Subjects:         s.Subjects,
		Retention:        jetstream.LimitsPolicy,
		Storage:          jetstream.FileStorage,
		Discard:          jetstream.DiscardOld,
		MaxAge:           s.MaxAge,
		Duplicates:       s.Duplicates,
		Replicas:         s.Replicas,
		MaxMsgs:          -1,
		MaxBytes:         cmp.Or(s.MaxBytes, -1),
		AllowDirect:      s.Direct,
		AllowRollup:      s.Rollup,
	}
}

// EnsureStreams creates or updates every stream, idempotently: an existing stream whose
// limits or replicas differ from its spec is updated to it.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, specs []events.StreamSpec, log *slog.Logger) error {
	for _, s := range specs {
		st, err := js.CreateOrUpdateStream(ctx, StreamConfig(s))
		if err != nil {
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && slices.Contains(errCodesNoRoom, apiErr.ErrorCode) {
				return fmt.Errorf("ensure stream %s: the NATS server cannot reserve its max_bytes %s × %d replica(s): "+
					"lower streams.limits.%s.max_bytes or give the server more JetStream storage (max_file_store; by default 75%% of the disk free at its start): %w",
					s.Name, config.ByteSize(s.MaxBytes), s.Replicas, s.Name, err)
			}
			return fmt.Errorf("ensure stream %s (subjects %v): %w", s.Name, s.Subjects, err)
		}
		info := st.CachedInfo()
		log.Debug("stream ready", "stream", s.Name, "messages", info.State.Msgs, "bytes", info.State.Bytes,
			"max_age", info.Config.MaxAge, "max_bytes", info.Config.MaxBytes, "replicas", info.Config.Replicas)
	}
	return nil
}

// errCodesNoRoom are nats-server's answers when a stream's max_bytes cannot be reserved:
// JSInsufficientResourcesErr, JSStorageResourcesExceededErr (the server's or the
// account's storage) and JSStreamMaxStreamBytesExceeded (the account's per-stream limit).
var errCodesNoRoom = []jetstream.ErrorCode{10023, 10047, 10122}

// Bucket TTLs: correlation values live as long as a change can stay open; scw_done entries
// must outlive any replay window; attempt histories only matter while retrying.
const (
	CorrelationTTL = 365 * 24 * time.Hour
	DoneTTL        = events.DoneTTL // as long as SCW_TRIGGERS keeps triggers by default
	AttemptsTTL    = 7 * 24 * time.Hour
)

// EnsureBuckets creates or updates the key-value buckets of DESIGN §5 (scw_correlation,
// scw_done, scw_attempts, scw_parked) and scw_redrives, idempotently, and returns them by
// name. With more than one replica their Get reads from the leader (Reader).
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, replicas int) (map[string]jetstream.KeyValue, error) {
	out := map[string]jetstream.KeyValue{}
	for _, b := range []jetstream.KeyValueConfig{
		{Bucket: events.BucketCorrelation, Description: "ITSM record ids learned from responses, per <ticket>.<server>", TTL: CorrelationTTL, History: 5},
		{Bucket: events.BucketDone, Description: "alerts sent (alert.<operation id>) and failed groups", TTL: DoneTTL, History: 1},
		{Bucket: events.BucketAttempts, Description: "attempts of operations still being retried", TTL: AttemptsTTL, History: 1},
		{Bucket: events.BucketParked, Description: "lanes (<target>.<ticket>) held back behind a failed operation, or releasing", History: 1},
		// Kept as long as the dead letters they record.
		{Bucket: events.BucketRedrives, Description: "dead letters redriven by `triggerflow redrive`, by SCW_DLQ sequence", TTL: events.DLQMaxAge, History: 1},
	} {
		b.Replicas = max(replicas, 1)
		b.Storage = jetstream.FileStorage
		kv, err := js.CreateOrUpdateKeyValue(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("ensure key-value bucket %s: %w", b.Bucket, err)
		}
		if read := ReaderFor(js.Conn(), replicas); read.Leader {
			kv = leaderKV{KeyValue: kv, read: read}
		}
		out[b.Bucket] = kv
	}
	return out, nil
}

// StreamSpecs derives the stream specs from the config.
func StreamSpecs(c *config.Config) []events.StreamSpec {
	return events.Streams(events.StreamOptions{
		Replicas:   c.NATS.Replicas,
		Duplicates: c.Streams.Duplicates,
		Limits:     c.Streams.StreamLimits(),
	})
}

// ConsumerConfig declares a durable pull consumer, shared by every replica of a service.
type ConsumerConfig struct {
	Stream        string
	Durable       string // <service>-<handler>
	FilterSubject string // empty: the whole stream
	Description   string
	// AckWait: the server redelivers a message not acknowledged within it. While a
	// handler holds a message the subscriber tells the server it is still in progress
	// (every AckWait/3), so AckWait bounds how long a message held by a process that
	// died stays unavailable, not how long a handler may take.
	AckWait time.Duration
	// MaxDeliver bounds deliveries; the handler dead-letters on the last one.
	MaxDeliver int
	// Backoff is the NAK delay after the Nth failed delivery (the last value repeats).
	Backoff []time.Duration
	// PullBatch is how many messages are pulled ahead (an ordered lane gets one at a
	// time, whatever it asks for).
	PullBatch int
	// Ordered makes the consumer a lane: one message in flight at a time (MaxAckPending
	// 1) across every replica, so messages are handled in stream order; a NAK holds the
	// lane until the redelivery.
	Ordered bool
	// MaxAckPending of an unordered consumer. Default 1000.
	MaxAckPending int
	// FastAck acks without waiting for the server's confirmation. Only for handlers
	// that record their own completion (scw_done), so a lost ack costs a skipped
	// redelivery, never a repeated side effect.
	FastAck bool
}

// JetStream is the explicit JetStream configuration of c.
func (c ConsumerConfig) JetStream() jetstream.ConsumerConfig {
	pending := c.MaxAckPending
	if pending == 0 {
		pending = 1000
	}
	if c.Ordered {
		pending = 1
	}
	return jetstream.ConsumerConfig{
		Durable:       c.Durable,
		Description:   c.Description,
		FilterSubject: c.FilterSubject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
		MaxAckPending: pending,
	}
}

// EnsureConsumer creates or updates the durable pull consumer with explicit settings. A
// consumer that a subscriber re-created after it was deleted keeps the start position it
// was re-created with (JetStream cannot change it); everything else is updated.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, c ConsumerConfig) (jetstream.Consumer, error) {
	jc := c.JetStream()
	cur, err := js.Consumer(ctx, c.Stream, c.Durable)
	switch {
	case err == nil:
		if old := cur.CachedInfo().Config; old.DeliverPolicy == jetstream.DeliverByStartSequencePolicy {
			jc.DeliverPolicy, jc.OptStartSeq = old.DeliverPolicy, old.OptStartSeq
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, fmt.Errorf("ensure consumer %s on %s: %w", c.Durable, c.Stream, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, c.Stream, jc)
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s on %s: %w", c.Durable, c.Stream, err)
	}
	return cons, nil
}

// Delay returns the NAK delay after the given delivery (1-based).
func (c ConsumerConfig) Delay(delivered uint64) time.Duration {
	if len(c.Backoff) == 0 {
		return 0
	}
	i := int(delivered) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(c.Backoff) {
		i = len(c.Backoff) - 1
	}
	return c.Backoff[i]
}
