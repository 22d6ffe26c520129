package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// scan reads a stream with an ordered consumer (ephemeral, server-side and flow
// controlled: nothing durable is created or changed), from cc's start through the last
// message stored when the scan began — what the command itself publishes meanwhile is
// not read — calling fn for each message in order. Progress goes to w (nil: none) as
// "<verb> n of total". It returns how many messages it read; fn's error stops it.
func scan(ctx context.Context, js jetstream.JetStream, stream string, cc jetstream.OrderedConsumerConfig,
	wait time.Duration, w io.Writer, verb string, fn func(m jetstream.Msg, meta *jetstream.MsgMetadata) error,
) (int, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 || (cc.DeliverPolicy == jetstream.DeliverByStartSequencePolicy && cc.OptStartSeq > last) {
		return 0, nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, cc)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", stream, err)
	}
	defer it.Stop()
	total := 0
	if ci := cons.CachedInfo(); ci != nil {
		total = int(ci.NumPending)
		if total == 0 {
			return 0, nil
		}
	}
	var prog *progress
	if w != nil {
		prog = newProgress(w, verb, total)
	}
	n := 0
	for {
		m, err := it.Next(jetstream.NextMaxWait(wait))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				break
			}
			return n, fmt.Errorf("read %s after %d messages: %w", stream, n, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return n, fmt.Errorf("read %s: %w", stream, err)
		}
		if meta.Sequence.Stream > last {
			break
		}
		n++
		if err := fn(m, meta); err != nil {
			return n, err
		}
		if prog != nil {
			prog.add(1)
		}
		if meta.NumPending == 0 || meta.Sequence.Stream == last {
			break
		}
	}
	if prog != nil {
		prog.finish()
	}
	return n, nil
}
