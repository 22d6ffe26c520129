package natsconn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestReaderReadsItsWrites: on a 3-node cluster, with the streams and buckets at 3
// replicas as nats.replicas: 3 makes them, a write acknowledged through one server is
// read at once through every server, by the done check's read (natsconn.Reader) and by
// a bucket's Get (natsconn.EnsureBuckets), and neither is a direct get. A direct get is
// answered by any server of the stream, a follower too: the same reads as direct gets
// missed 0–13 % of the writes, by run (logged for comparison, not asserted).
func TestReaderReadsItsWrites(t *testing.T) {
	ss := natstest.RunCluster(t, 3)
	ctx := t.Context()
	const replicas = 3
	admin := natstest.JetStream(t, ss[0].ClientURL())
	if err := natsconn.EnsureStreams(ctx, admin, events.Streams(events.StreamOptions{Replicas: replicas}), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	type node struct {
		nc   *nats.Conn
		js   jetstream.JetStream
		read natsconn.Reader
		kv   jetstream.KeyValue
	}
	nodes := make([]node, len(ss))
	for i, s := range ss {
		js := natstest.JetStream(t, s.ClientURL())
		kvs, err := natsconn.EnsureBuckets(ctx, js, replicas)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = node{nc: js.Conn(), js: js, read: natsconn.ReaderFor(js.Conn(), replicas), kv: kvs[events.BucketCorrelation]}
	}
	if !nodes[0].read.Leader {
		t.Fatal("ReaderFor 3 replicas does not read from the leader")
	}
	leaderOf := func(stream string) string {
		_, info := natstest.StreamInfo(ctx, t, admin, stream)
		return info.Cluster.Leader
	}
	t.Logf("leaders: %s %s, %s %s", events.StreamResults, leaderOf(events.StreamResults), events.BucketCorrelation, leaderOf("KV_"+events.BucketCorrelation))

	// Each server writes a result and a correlation value, and at once every server
	// reads it back: a follower that has not applied the write yet would miss it. A tap
	// on n1 (whose reads it sees before its marker) shows no read was a direct get.
	tap := natstest.Tap(t, ss[1].ClientURL())
	const n = 100
	for w := range nodes {
		for r := range nodes {
			for i := range n {
				o := events.Operation{ID: fmt.Sprintf("op-%d-%d-%d", w, r, i), Kind: events.OpITSM, Target: "snow", Ticket: fmt.Sprint(1000 + i)}
				res := events.ResultFor(o, events.ResultSucceeded)
				b, err := res.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := nodes[w].js.Publish(ctx, res.Subject(), b); err != nil {
					t.Fatal(err)
				}
				m, err := nodes[r].read.Last(ctx, events.StreamResults, res.Subject())
				if err != nil {
					t.Fatalf("written through n%d, read through n%d: the result of %s: %v", w, r, o.ID, err)
				}
				if got, _ := events.UnmarshalResult(m.Data); got.OperationID != o.ID {
					t.Fatalf("written through n%d, read through n%d: %s answered for %s", w, r, got.OperationID, o.ID)
				}

				key := events.CorrelationKey(o.Ticket, fmt.Sprintf("w%dr%d", w, r))
				val := fmt.Sprintf(`{"sys_id":"%d"}`, i)
				if _, err := nodes[w].kv.Put(ctx, key, []byte(val)); err != nil {
					t.Fatal(err)
				}
				e, err := nodes[r].kv.Get(ctx, key)
				if err != nil {
					t.Fatalf("put through n%d, got through n%d: %s: %v", w, r, key, err)
				}
				if string(e.Value()) != val || e.Key() != key || e.Bucket() != events.BucketCorrelation || e.Revision() == 0 || e.Created().IsZero() {
					t.Fatalf("put through n%d, got through n%d: %s = %q rev %d at %s, want %q", w, r, key, e.Value(), e.Revision(), e.Created(), val)
				}
			}
		}
	}
	if c := tap.Snapshot(); c.Gets() != 0 {
		t.Fatalf("%d direct gets (%v): reads of a stream with 3 replicas must go to its leader", c.Gets(), c.DirectGets)
	}

	// The same with direct gets, for comparison: logged, not asserted (how many miss
	// depends on which server lags).
	misses := 0
	for w := range nodes {
		for r := range nodes {
			for i := range n {
				o := events.Operation{ID: fmt.Sprintf("direct-%d-%d-%d", w, r, i), Kind: events.OpITSM, Target: "snow", Ticket: fmt.Sprint(1000 + i)}
				res := events.ResultFor(o, events.ResultSucceeded)
				b, _ := res.Marshal()
				if _, err := nodes[w].js.Publish(ctx, res.Subject(), b); err != nil {
					t.Fatal(err)
				}
				if _, err := (natsconn.Reader{NC: nodes[r].nc}).Last(ctx, events.StreamResults, res.Subject()); errors.Is(err, jetstream.ErrMsgNotFound) {
					misses++
				}
			}
		}
	}
	t.Logf("direct gets of results just written missed %d of %d", misses, n*len(nodes)*len(nodes))

	// A deleted or purged key reads as not found, as with nats.go's Get; an invalid key
	// is refused before any request.
	kv := nodes[1].kv
	for key, remove := range map[string]func(context.Context, string, ...jetstream.KVDeleteOpt) error{
		"deleted": nodes[0].kv.Delete, "purged": nodes[0].kv.Purge,
	} {
		if _, err := nodes[0].kv.Put(ctx, key, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := remove(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatalf("a %s key: %v, want ErrKeyNotFound", key, err)
		}
	}
	if _, err := kv.Get(ctx, "never"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("a key never written: %v, want ErrKeyNotFound", err)
	}
	for _, bad := range []string{"", "a.*", "a..b", ".a", "a b", "a>"} {
		if _, err := kv.Get(ctx, bad); !errors.Is(err, jetstream.ErrInvalidKey) {
			t.Fatalf("key %q: %v, want ErrInvalidKey", bad, err)
		}
	}
	// A compare-and-set on the revision the leader read succeeds.
	e, err := kv.Get(ctx, events.CorrelationKey("1000", "w0r1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, e.Key(), []byte(`{}`), e.Revision()); err != nil {
		t.Fatalf("update at the revision read: %v", err)
	}
}

// TestConcurrentProvisionOnACluster: every service ensures the same streams, buckets and
// consumers at its start, and on a fresh 3-node cluster they all start at once. Two
// clients creating SCW_OPS at the same moment both waited for an answer that never came
// (until their start timed out); each attempt is now bounded and sent again, and six
// clients, two per server, all finish.
func TestConcurrentProvisionOnACluster(t *testing.T) {
	ss := natstest.RunCluster(t, 3)
	const replicas = 3
	lane := natsconn.ConsumerConfig{Stream: events.StreamOps, Durable: "itsm-sync-snow-p00", FilterSubject: events.OpLane(events.OpITSM, "snow", 0),
		AckWait: 30 * time.Second, MaxDeliver: -1, Ordered: true}
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Go(func() {
			js := natstest.JetStream(t, ss[i%len(ss)].ClientURL())
			ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
			defer cancel()
			start := time.Now()
			if err := natsconn.EnsureStreams(ctx, js, events.Streams(events.StreamOptions{Replicas: replicas}), slog.New(slog.DiscardHandler)); err != nil {
				errs <- fmt.Errorf("client %d: %w after %s", i, err, time.Since(start).Round(time.Millisecond))
				return
			}
			if _, err := natsconn.EnsureBuckets(ctx, js, replicas); err != nil {
				errs <- fmt.Errorf("client %d: %w after %s", i, err, time.Since(start).Round(time.Millisecond))
				return
			}
			if _, err := natsconn.EnsureConsumer(ctx, js, lane); err != nil {
				errs <- fmt.Errorf("client %d: %w after %s", i, err, time.Since(start).Round(time.Millisecond))
				return
			}
			t.Logf("client %d (through n%d): streams, buckets and a lane ensured in %s", i, i%len(ss), time.Since(start).Round(time.Millisecond))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkReaderOnACluster is the done check of an operation with no result (the common
// case: a first delivery, not held), its three subjects, on an in-process 3-node cluster
// with SCW_RESULTS at 3 replicas holding 10,000 results, read through a server that does
// not lead the stream: one direct get (any server answers; may be stale) against the
// leader reads natsconn.ReaderFor gives a cluster (one per subject, in parallel).
//
//	go test ./internal/runtime/natsconn -run '^$' -bench ReaderOnACluster
func BenchmarkReaderOnACluster(b *testing.B) {
	ss := natstest.RunCluster(b, 3)
	ctx := context.Background()
	admin := natstest.JetStream(b, ss[0].ClientURL())
	if err := natsconn.EnsureStreams(ctx, admin, events.Streams(events.StreamOptions{Replicas: 3}), slog.New(slog.DiscardHandler)); err != nil {
		b.Fatal(err)
	}
	for i := range 10_000 {
		o := events.Operation{ID: fmt.Sprint("op-", i), Kind: events.OpITSM, Target: "snow", Ticket: fmt.Sprint(1000 + i%500)}
		res := events.ResultFor(o, events.ResultSucceeded)
		data, _ := res.Marshal()
		if _, err := admin.PublishAsync(res.Subject(), data); err != nil {
			b.Fatal(err)
		}
	}
	<-admin.PublishAsyncComplete()
	_, info := natstest.StreamInfo(ctx, b, admin, events.StreamResults)
	var follower *nats.Conn
	for i, s := range ss {
		if fmt.Sprintf("n%d", i) != info.Cluster.Leader {
			follower = natstest.Connect(b, s.ClientURL())
			break
		}
	}
	for _, read := range []natsconn.Reader{{NC: follower}, natsconn.ReaderFor(follower, 3)} {
		name := "direct"
		if read.Leader {
			name = "leader"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				o := events.Operation{ID: fmt.Sprint("absent-", i), Kind: events.OpITSM, Target: "snow", Ticket: fmt.Sprint(1000 + i%500)}
				if _, err := read.Last(ctx, events.StreamResults, append(events.DoneSubjects(o), o.HeldSubject())...); !errors.Is(err, jetstream.ErrMsgNotFound) {
					b.Fatal(err)
				}
			}
		})
	}
}
