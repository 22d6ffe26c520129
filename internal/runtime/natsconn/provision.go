package natsconn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// The one owner of what triggerflow provisions on JetStream: the streams (from
// pkg/events' specs and the config's limits), the key-value buckets and the durable
// consumers. Every process ensures them, idempotently: the streams at start (Module),
// the buckets and consumers when the service that uses them starts.

// provisionAttempt bounds one request that creates or updates a stream, a bucket or a
// consumer. On a fresh cluster, with every service ensuring the same streams at once,
// some of those requests were never answered (two clients creating SCW_OPS at once both
// waited forever: TestConcurrentProvisionOnACluster); the same request sent again is.
const provisionAttempt = 2 * time.Second

// provision runs one create-or-update until it succeeds, each attempt bounded by
// provisionAttempt, again after an attempt that timed out or found no JetStream leader
// to answer, until ctx ends. Any other error is returned at once.
func provision(ctx context.Context, do func(ctx context.Context) error) error {
	return Retry(ctx, provisionAttempt, retryable, do)
}

// Retry runs do until it succeeds or ctx ends, pausing 100 ms, doubling up to 2 s,
// between attempts; attempt bounds each (0: ctx alone), and again says which errors are
// worth another attempt (nil: all). The error is do's last. do must be idempotent: a
// message id, a compare-and-set, a create-or-update. It is for the writes JetStream
// refuses for a while (a stream electing a leader after a node is lost).
func Retry(ctx context.Context, attempt time.Duration, again func(error) bool, do func(ctx context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if attempt > 0 {
			actx, cancel = context.WithTimeout(ctx, attempt)
		}
		err := do(actx)
		cancel()
		if err == nil || ctx.Err() != nil || (again != nil && !again(err)) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// retryable: the request went unanswered, or JetStream had no leader to answer it.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		(errors.As(err, &apiErr) && slices.Contains([]jetstream.ErrorCode{jsClusterNotAvail, jsClusterNoLeader}, apiErr.ErrorCode))
}

// nats-server's JSClusterNotAvailErr and JSClusterNotLeaderErr: a cluster without a meta
// leader (an election).
const (
	jsClusterNotAvail jetstream.ErrorCode = 10008
	jsClusterNoLeader jetstream.ErrorCode = 10009
)

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
		var st jetstream.Stream
		err := provision(ctx, func(ctx context.Context) (err error) {
			st, err = js.CreateOrUpdateStream(ctx, StreamConfig(s))
			return err
		})
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
		var kv jetstream.KeyValue
		err := provision(ctx, func(ctx context.Context) (err error) {
			kv, err = js.CreateOrUpdateKeyValue(ctx, b)
			return err
		})
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
	var cur jetstream.Consumer
	err := provision(ctx, func(ctx context.Context) (err error) {
		cur, err = js.Consumer(ctx, c.Stream, c.Durable)
		return err
	})
	switch {
	case err == nil:
		if old := cur.CachedInfo().Config; old.DeliverPolicy == jetstream.DeliverByStartSequencePolicy {
			jc.DeliverPolicy, jc.OptStartSeq = old.DeliverPolicy, old.OptStartSeq
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, fmt.Errorf("ensure consumer %s on %s: %w", c.Durable, c.Stream, err)
	}
	var cons jetstream.Consumer
	err = provision(ctx, func(ctx context.Context) (err error) {
		cons, err = js.CreateOrUpdateConsumer(ctx, c.Stream, jc)
		return err
	})
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
