package embedded_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// ensure provisions the streams of the config src on the server at url and returns
// every stream's configuration as the server reports it (StreamInfo).
func ensure(t *testing.T, js jetstream.JetStream, src string) (map[string]jetstream.StreamConfig, error) {
	t.Helper()
	cfg, err := config.Parse("limits.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := natsconn.EnsureStreams(ctx, js, natsconn.StreamSpecs(cfg), slog.New(slog.DiscardHandler)); err != nil {
		return nil, err
	}
	out := map[string]jetstream.StreamConfig{}
	for _, name := range events.StreamNames() {
		_, info := natstest.StreamInfo(ctx, t, js, name)
		out[name] = info.Config
	}
	return out, nil
}

// TestStreamLimitsApplied: every stream a real server creates has the limits of the
// config, the defaults where it says nothing, and the replicas of nats.replicas.
func TestStreamLimitsApplied(t *testing.T) {
	t.Parallel()
	s := natstest.RunJetStream(t)
	js := natstest.JetStream(t, s.ClientURL())
	got, err := ensure(t, js, `streams:
  duplicates: 1h
  limits:
    SCW_TRIGGERS: {max_age: 4380h, max_bytes: 2GiB}
    SCW_OPS: {max_bytes: 500MB}
    SCW_DLQ: {max_age: 720h}
    SCW_ALERTS: {max_bytes: unlimited}
`)
	if err != nil {
		t.Fatal(err)
	}
	def := events.DefaultLimits()
	want := map[string]events.StreamLimits{
		events.StreamTriggers: {MaxAge: 4380 * time.Hour, MaxBytes: 2 << 30},
		events.StreamOps:      {MaxAge: def[events.StreamOps].MaxAge, MaxBytes: 500 * 1000 * 1000},
		events.StreamDLQ:      {MaxAge: 720 * time.Hour, MaxBytes: def[events.StreamDLQ].MaxBytes},
		events.StreamAlerts:   {MaxAge: def[events.StreamAlerts].MaxAge, MaxBytes: -1},
	}
	for _, name := range events.StreamNames() {
		w, ok := want[name]
		if !ok {
			w = def[name]
		}
		c := got[name]
		if c.MaxAge != w.MaxAge || c.MaxBytes != w.MaxBytes || c.Replicas != 1 || c.Duplicates != time.Hour || c.Discard != jetstream.DiscardOld {
			t.Errorf("%s: max_age %s max_bytes %d replicas %d duplicates %s discard %s, want %s %d 1 1h0m0s DiscardOld",
				name, c.MaxAge, c.MaxBytes, c.Replicas, c.Duplicates, c.Discard, w.MaxAge, w.MaxBytes)
		}
	}
}

// TestStreamLimitsUpdated: a stream that exists with other limits (an older version's,
// or before the config changed) is updated to the config's at start-up, its messages
// kept.
func TestStreamLimitsUpdated(t *testing.T) {
	t.Parallel()
	s := natstest.RunJetStream(t)
	js := natstest.JetStream(t, s.ClientURL())
	if _, err := ensure(t, js, "streams:\n  trigger_max_age: 720h\n"); err != nil {
		t.Fatal(err)
	}
	natstest.PublishTriggers(t, natstest.Connect(t, s.ClientURL()), exampleTriggers(t)[:3]...)

	got, err := ensure(t, js, `streams:
  limits:
    SCW_TRIGGERS: {max_age: 2160h, max_bytes: 3GiB}
    SCW_RESULTS: {max_bytes: 64MiB}
`)
	if err != nil {
		t.Fatal(err)
	}
	if c := got[events.StreamTriggers]; c.MaxAge != 2160*time.Hour || c.MaxBytes != 3<<30 {
		t.Errorf("SCW_TRIGGERS not updated: max_age %s max_bytes %d", c.MaxAge, c.MaxBytes)
	}
	if c := got[events.StreamResults]; c.MaxBytes != 64<<20 || c.MaxAge != events.ResultsMaxAge {
		t.Errorf("SCW_RESULTS not updated: max_age %s max_bytes %d", c.MaxAge, c.MaxBytes)
	}
	if n := natstest.StreamMsgs(t, js, events.StreamTriggers); n != 3 {
		t.Errorf("SCW_TRIGGERS holds %d messages after the update, want 3", n)
	}
}

// TestStreamMaxBytesTooLarge: limits the server cannot reserve (its JetStream store is
// smaller) stop the start with an error that names the stream, the key to lower and the
// server setting to raise.
func TestStreamMaxBytesTooLarge(t *testing.T) {
	t.Parallel()
	s := startServer(t, server.Options{JetStreamMaxStore: 256 << 20})
	js := natstest.JetStream(t, s.ClientURL())
	_, err := ensure(t, js, `streams:
  limits:
    SCW_TRIGGERS: {max_bytes: 1GiB}
`)
	var apiErr *jetstream.APIError
	if err == nil || !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want the server's refusal", err)
	}
	for _, w := range []string{"ensure stream SCW_TRIGGERS", "max_bytes 1GiB", "streams.limits.SCW_TRIGGERS.max_bytes", "max_file_store"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q: %v", w, err)
		}
	}

	// What fits is created.
	small := "streams:\n  limits:\n"
	for _, name := range events.StreamNames() {
		small += "    " + name + ": {max_bytes: 16MiB}\n"
	}
	got, err := ensure(t, js, small)
	if err != nil {
		t.Fatalf("limits that fit: %v", err)
	}
	if c := got[events.StreamTriggers]; c.MaxBytes != 16<<20 {
		t.Errorf("SCW_TRIGGERS max_bytes %d", c.MaxBytes)
	}
}
