package natsconn_test

// natsconn.Reader (the runner's done check) against a real JetStream.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// resultsStream is SCW_RESULTS as the services create it, holding a result of each of n
// operations (one per ticket): succeeded, but the first operation's failed, then
// skipped, and the second's failed only.
func resultsStream(tb testing.TB, n int) (*nats.Conn, []events.Operation) {
	tb.Helper()
	s := natstest.RunJetStream(tb)
	js := natstest.JetStream(tb, s.ClientURL())
	if err := natsconn.EnsureStreams(context.Background(), js, events.Streams(events.StreamOptions{}), slog.New(slog.DiscardHandler)); err != nil {
		tb.Fatal(err)
	}
	ops := make([]events.Operation, n)
	msgs := make([]*nats.Msg, 0, n+1)
	add := func(o events.Operation, status events.ResultStatus) {
		b, err := events.ResultFor(o, status).Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		m := &nats.Msg{Subject: events.ResultFor(o, status).Subject(), Data: b, Header: nats.Header{}}
		for k, v := range events.ResultFor(o, status).Headers() {
			m.Header.Set(k, v)
		}
		msgs = append(msgs, m)
	}
	for i := range ops {
		ops[i] = events.Operation{ID: events.OperationID(fmt.Sprint("trigger-", i), "r", "a"), Kind: events.OpITSM, Target: "snow", Ticket: fmt.Sprint(1000 + i)}
		status := events.ResultSucceeded
		if i < 2 {
			status = events.ResultFailed
		}
		add(ops[i], status)
	}
	add(ops[0], events.ResultSkipped)
	natstest.Publish(tb, js.Conn(), msgs)
	return js.Conn(), ops
}

func TestLastMsg(t *testing.T) {
	nc, ops := resultsStream(t, 50)
	ctx := t.Context()
	for _, read := range []natsconn.Reader{{NC: nc}, {NC: nc, Leader: true}} {
		t.Run(fmt.Sprintf("leader=%v", read.Leader), func(t *testing.T) {
			for i, want := range map[int]events.ResultStatus{0: events.ResultSkipped, 7: events.ResultSucceeded, 49: events.ResultSucceeded} {
				o := ops[i]
				m, err := read.Last(ctx, events.StreamResults, events.DoneSubjects(o)...)
				if err != nil {
					t.Fatalf("%s: %v", o.Ticket, err)
				}
				if r, err := events.UnmarshalResult(m.Data); err != nil || r.OperationID != o.ID || r.Status != want {
					t.Fatalf("%s: done marker %+v, %v; want %s", o.Ticket, r, err, want)
				}
				if r, _ := events.UnmarshalResult(m.Data); m.Subject != events.ResultFor(o, want).Subject() || m.Seq == 0 ||
					m.Header.Get(events.HdrCausationID) != o.ID || m.Time.IsZero() {
					t.Fatalf("%s: read %s seq %d headers %v at %s", o.Ticket, m.Subject, m.Seq, m.Header, m.Time)
				} else if r.Status != want {
					t.Fatalf("%s: %s", o.Ticket, r.Status)
				}
			}
			// Of several subjects, the one stored first answers: ops[0]'s skipped result was
			// stored after every other, ops[7]'s succeeded one eighth.
			first, err := read.Last(ctx, events.StreamResults, append(events.DoneSubjects(ops[0]), events.DoneSubjects(ops[7])...)...)
			if err != nil {
				t.Fatal(err)
			}
			if r, _ := events.UnmarshalResult(first.Data); r.OperationID != ops[7].ID {
				t.Fatalf("several subjects: %s answered, want the first stored (%s)", r.OperationID, ops[7].ID)
			}
			// Failed only: not done. The wildcard filter finds its last result.
			if _, err := read.Last(ctx, events.StreamResults, events.DoneSubjects(ops[1])...); !errors.Is(err, jetstream.ErrMsgNotFound) {
				t.Fatalf("a failed operation has a done marker: %v", err)
			}
			if m, err := read.Last(ctx, events.StreamResults, events.ResultsOf(ops[1])); err != nil {
				t.Fatal(err)
			} else if r, _ := events.UnmarshalResult(m.Data); r.Status != events.ResultFailed {
				t.Fatalf("last result %+v", r)
			}
			absent := ops[3]
			absent.ID = events.OperationID("trigger-3", "r", "b")
			for _, subjects := range [][]string{events.DoneSubjects(absent), {events.ResultsOf(absent)}} {
				if _, err := read.Last(ctx, events.StreamResults, subjects...); !errors.Is(err, jetstream.ErrMsgNotFound) {
					t.Fatalf("%v: %v, want ErrMsgNotFound", subjects, err)
				}
			}
			if _, err := read.Last(ctx, "SCW_NONE", "x"); err == nil || errors.Is(err, jetstream.ErrMsgNotFound) {
				t.Fatalf("a stream that does not exist: %v, want an error", err)
			}
		})
	}
	// A stream without direct gets answers nothing: the error says what to check.
	if _, err := (natsconn.Reader{NC: nc}).Last(ctx, events.StreamOps, "scw.op.>"); err == nil {
		t.Fatal("a direct get on a stream without AllowDirect succeeded")
	}
}

// BenchmarkLastMsg is the done check on a results stream of 200 000 operations: the done
// marker of an operation that has one (a redelivery or replay) and of one that has none
// (the common case, a first delivery), both subjects in one request; and the same with
// one wildcard filter (any status), which costs more once found.
func BenchmarkLastMsg(b *testing.B) {
	nc, ops := resultsStream(b, 200_000)
	ctx := context.Background()
	absent := func(i int) events.Operation {
		o := ops[(i*7919)%len(ops)]
		o.ID = "absent"
		return o
	}
	for _, v := range []struct {
		name  string
		subj  func(i int) []string
		found bool
	}{
		{"done-found", func(i int) []string { return events.DoneSubjects(ops[2+(i*7919)%(len(ops)-2)]) }, true},
		{"done-absent", func(i int) []string { return events.DoneSubjects(absent(i)) }, false},
		{"wildcard-found", func(i int) []string { return []string{events.ResultsOf(ops[(i*7919)%len(ops)])} }, true},
		{"wildcard-absent", func(i int) []string { return []string{events.ResultsOf(absent(i))} }, false},
	} {
		for _, read := range []natsconn.Reader{{NC: nc}, {NC: nc, Leader: true}} {
			name := v.name
			if read.Leader {
				name += "-leader"
			}
			b.Run(name, func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					_, err := read.Last(ctx, events.StreamResults, v.subj(i)...)
					if v.found && err != nil || !v.found && !errors.Is(err, jetstream.ErrMsgNotFound) {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
