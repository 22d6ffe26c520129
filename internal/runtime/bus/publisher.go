// Package bus is the one seam between the services and the watermill NATS adapter:
// services publish and consume watermill messages; only this package knows they travel
// through JetStream (watermill-nats v2, pkg/nats, on nats.go's JetStreamContext).
package bus

import (
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// PublisherConfig configures a JetStream publisher.
type PublisherConfig struct {
	// AckWait bounds the wait for JetStream's acknowledgement of each message, retries
	// included.
	AckWait time.Duration
	// NotWhileDown: a publish while the connection is down (reconnecting) waits up to
	// AckWait for it to come back, then is sent; if it does not come back, it fails with
	// ErrNotConnected and nothing was sent. Otherwise nats.go queues it and sends it once
	// reconnected, possibly long after Publish gave up waiting for its acknowledgement:
	// right for a service that publishes again anyway (a message id makes the copies
	// one), wrong for the ingress, which has told its caller by then that the trigger was
	// not stored.
	NotWhileDown bool
}

// ErrNotConnected: the connection to the NATS server stayed down (reconnecting) for the
// publisher's AckWait; nothing was sent.
var ErrNotConnected = errors.New("not connected to the NATS server (reconnecting); nothing was sent")

// connectedPoll is how often a NotWhileDown publish looks whether the connection is back.
const connectedPoll = 10 * time.Millisecond

// retryWait is the pause between two publishes of a message that no stream took: while a
// stream has no leader (an election, after the node that led it was lost) nothing
// answers its subjects, and nats.go reports "no responders" at once. The publish is sent
// again every retryWait until AckWait has passed.
const retryWait = 250 * time.Millisecond

// NewPublisher returns a publisher that stores each message in JetStream and returns only
// after the stream acknowledged it; a stream without a leader is retried (retryWait). The message UUID is sent as Nats-Msg-Id, so a message
// published twice with the same UUID inside the stream's dedup window is stored once.
// Streams are never created here (see natsconn.EnsureStreams). Close does not close nc:
// the connection belongs to its own fx hook.
func NewPublisher(nc *nats.Conn, c PublisherConfig, log watermill.LoggerAdapter) (message.Publisher, error) {
	var pubOpts []nats.PubOpt
	if c.AckWait > 0 {
		// -1: until AckWait has passed (nats.go counts the waits against it).
		pubOpts = append(pubOpts, nats.AckWait(c.AckWait), nats.RetryWait(retryWait), nats.RetryAttempts(-1))
	}
	p, err := wmnats.NewPublisherWithNatsConn(nc, wmnats.PublisherPublishConfig{
		Marshaler:         Marshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream: wmnats.JetStreamConfig{
			AutoProvision:  false,
			TrackMsgId:     false, // Marshaler sets Nats-Msg-Id itself
			PublishOptions: pubOpts,
		},
	}, log)
	if err != nil {
		return nil, fmt.Errorf("jetstream publisher: %w", err)
	}
	kc := keepConn{Publisher: p}
	if c.NotWhileDown {
		kc.nc, kc.wait = nc, c.AckWait
	}
	return kc, nil
}

// keepConn stops the adapter's Close from closing the shared connection, and flattens the
// adapter's github.com/pkg/errors values (whose %+v prints a stack into every log line).
// With nc set (NotWhileDown) it publishes nothing while nc is down: it waits up to wait
// for nc to be connected.
type keepConn struct {
	message.Publisher
	nc   *nats.Conn
	wait time.Duration
}

func (p keepConn) Publish(topic string, msgs ...*message.Message) error {
	if p.nc != nil && !waitConnected(p.nc, p.wait) {
		return &PublishError{Subject: topic, cause: ErrNotConnected}
	}
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return &PublishError{Subject: topic, cause: err}
	}
	return nil
}

func (keepConn) Close() error { return nil }

// waitConnected reports whether nc is connected, waiting up to wait for it to be.
func waitConnected(nc *nats.Conn, wait time.Duration) bool {
	if nc.Status() == nats.CONNECTED {
		return true
	}
	tick := time.NewTicker(connectedPoll)
	defer tick.Stop()
	deadline := time.After(wait)
	for {
		select {
		case <-tick.C:
			switch nc.Status() {
			case nats.CONNECTED:
				return true
			case nats.CLOSED:
				return false
			}
		case <-deadline:
			return nc.Status() == nats.CONNECTED
		}
	}
}

// PublishError is a failed publish: JetStream did not acknowledge the message.
type PublishError struct {
	Subject string
	cause   error
}

func (e *PublishError) Error() string {
	return "publish to " + e.Subject + ": " + innermost(e.cause).Error()
}

func (e *PublishError) Unwrap() error { return e.cause }

// innermost is the root cause (e.g. nats.ErrTimeout) without the adapter's wrapping.
func innermost(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
