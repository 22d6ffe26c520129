package embedded_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/embedded"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

func startServer(t *testing.T, o server.Options) *server.Server {
	t.Helper()
	o.Host, o.Port, o.JetStream, o.StoreDir, o.NoSigs, o.NoLog = "127.0.0.1", -1, true, t.TempDir(), true, true
	if o.JetStreamMaxStore == 0 {
		o.JetStreamMaxStore = natstest.MaxStore
	}
	s, err := server.NewServer(&o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// connect builds a connection the way the services do (natsconn.NewConn) and returns
// the error and everything logged.
func connect(t *testing.T, c config.NATS) (string, error) {
	t.Helper()
	var logs bytes.Buffer
	cfg := config.Default()
	c.Name, c.ConnectTimeout, c.Replicas = "test", 5*time.Second, 1
	cfg.NATS = c
	lc := fxtest.NewLifecycle(t)
	nc, err := natsconn.NewConn(natsconn.Params{Config: cfg, Log: slog.New(slog.NewTextHandler(&logs, nil)), Lifecycle: lc})
	if err == nil {
		lc.RequireStart()
		defer lc.RequireStop()
		_ = nc.Flush()
	}
	return logs.String(), err
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUserPassword(t *testing.T) {
	s := startServer(t, server.Options{Username: "tf", Password: "s3cret-nats-pw"})
	pw := writeFile(t, "pw", []byte("s3cret-nats-pw\n"))
	if _, err := connect(t, config.NATS{URL: s.ClientURL(), User: "tf", PasswordFile: pw}); err != nil {
		t.Fatalf("right password: %v", err)
	}
	bad := writeFile(t, "pw", []byte("wrong"))
	_, err := connect(t, config.NATS{URL: s.ClientURL(), User: "tf", PasswordFile: bad})
	if err == nil || !strings.Contains(err.Error(), "Authorization") {
		t.Fatalf("wrong password: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error shows the password: %v", err)
	}
	// credentials inside the URL never reach an error message
	_, err = connect(t, config.NATS{URL: "nats://tf:url-secret@127.0.0.1:1"})
	if err == nil || strings.Contains(err.Error(), "url-secret") {
		t.Fatalf("URL password leaked or connected: %v", err)
	}
}

func TestNKey(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	s := startServer(t, server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	if _, err := connect(t, config.NATS{URL: s.ClientURL(), NKeySeedFile: writeFile(t, "user.nk", seed)}); err != nil {
		t.Fatalf("nkey: %v", err)
	}
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	if _, err := connect(t, config.NATS{URL: s.ClientURL(), NKeySeedFile: writeFile(t, "other.nk", otherSeed)}); err == nil {
		t.Fatal("unknown nkey accepted")
	}
}

// TestTLS: verification is on by default; a CA file makes it pass; insecure_skip_verify
// connects without a CA and says so loudly.
func TestTLS(t *testing.T) {
	cert := natstest.SelfSignedCert(t)
	s := startServer(t, server.Options{TLS: true, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12}})
	url := strings.Replace(s.ClientURL(), "nats://", "tls://", 1)

	if _, err := connect(t, config.NATS{URL: url, TLS: config.ClientTLS{CAFile: cert.CertFile}}); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	if _, err := connect(t, config.NATS{URL: url}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA the certificate must be refused: %v", err)
	}
	logs, err := connect(t, config.NATS{URL: url, TLS: config.ClientTLS{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatalf("insecure_skip_verify: %v", err)
	}
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "insecure_skip_verify") {
		t.Fatalf("insecure_skip_verify was not logged loudly: %s", logs)
	}
}

// TestEnsureStreamsIdempotent: provisioning twice is harmless, and a changed setting is
// applied to the existing stream.
func TestEnsureStreamsIdempotent(t *testing.T) {
	s := startServer(t, server.Options{})
	cfg := config.Default()
	cfg.NATS.URL = s.ClientURL()
	lc := fxtest.NewLifecycle(t)
	nc, err := natsconn.NewConn(natsconn.Params{Config: cfg, Log: slog.New(slog.DiscardHandler), Lifecycle: lc})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := natsconn.NewJetStream(nc)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := natsconn.EnsureStreams(ctx, js, natsconn.StreamSpecs(cfg), slog.New(slog.DiscardHandler)); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	cfg.Streams.Limits[events.StreamTriggers] = config.StreamLimit{MaxAge: 48 * time.Hour, MaxBytes: 1 << 30}
	if err := natsconn.EnsureStreams(ctx, js, natsconn.StreamSpecs(cfg), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, events.StreamTriggers)
	if err != nil {
		t.Fatal(err)
	}
	info := st.CachedInfo()
	if info.Config.MaxAge != 48*time.Hour || info.Config.MaxBytes != 1<<30 || info.Config.Duplicates != 10*time.Minute || info.Config.Storage != jetstream.FileStorage {
		t.Fatalf("stream config %+v", info.Config)
	}
	names := js.StreamNames(ctx)
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	if len(got) != len(events.Streams(events.StreamOptions{})) {
		t.Fatalf("streams %v", got)
	}
	lc.RequireStart()
	lc.RequireStop()
}

// TestStoredSubjectsArePartitioned: SCW_TRIGGERS and SCW_OPS store what is published on
// scw.trigger.<event>.<ticket> and scw.op.<kind>.<target>.<ticket> under the ticket's
// lane, the partition nats-server computes being events.Partition's; a subject that
// already names a lane (a redrive to a stored subject) is stored as it is; and the
// transform is added to streams created before it existed.
func TestStoredSubjectsArePartitioned(t *testing.T) {
	s := startServer(t, server.Options{})
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	// An SCW_OPS from before lanes existed, then provisioning.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: events.StreamOps, Subjects: []string{events.SubjOps}}); err != nil {
		t.Fatal(err)
	}
	if err := natsconn.EnsureStreams(ctx, js, events.Streams(events.StreamOptions{}), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	ops, _ := js.Stream(ctx, events.StreamOps)
	trigs, _ := js.Stream(ctx, events.StreamTriggers)
	for i := range 200 {
		ticket := fmt.Sprint(4000 + i*7)
		op := events.Operation{Kind: events.OpITSM, Target: "snow", Ticket: ticket}
		ack, err := js.Publish(ctx, op.Subject(), []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := ops.GetMsg(ctx, ack.Sequence)
		if err != nil || m.Subject != op.StoredSubject() {
			t.Fatalf("published on %s, stored on %v, want %s (%v)", op.Subject(), m.Subject, op.StoredSubject(), err)
		}
		trig := events.TriggerEvent{Event: events.Create, Ticket: events.TicketInfo{ID: ticket}}
		ack, err = js.Publish(ctx, trig.Subject(), []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		if m, err = trigs.GetMsg(ctx, ack.Sequence); err != nil || m.Subject != trig.StoredSubject() {
			t.Fatalf("trigger stored on %v, want %s (%v)", m.Subject, trig.StoredSubject(), err)
		}
	}
	stored := events.Operation{Kind: events.OpITSM, Target: "snow", Ticket: "77"}.StoredSubject()
	ack, err := js.Publish(ctx, stored, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := ops.GetMsg(ctx, ack.Sequence); m == nil || m.Subject != stored {
		t.Fatalf("a redrive to %s was stored elsewhere: %+v", stored, m)
	}
}

// TestModuleLifecycle: with nats.url empty the embedded server starts before the
// connection, and stops after it.
func TestModuleLifecycle(t *testing.T) {
	cfg := config.Default()
	cfg.NATS.Embedded.Port = -1
	cfg.NATS.Embedded.StoreDir = t.TempDir()
	var js jetstream.JetStream
	var emb natsconn.Embedded
	app := fxtest.New(t, fx.Supply(cfg), fx.NopLogger, fx.Provide(func() *slog.Logger { return slog.New(slog.DiscardHandler) }),
		embedded.Module, natsconn.Module, fx.Populate(&js, &emb))
	app.RequireStart()
	if _, err := js.AccountInfo(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := emb.(embedded.Server)
	app.RequireStop()
	if srv.Running() {
		t.Fatal("embedded server still running after stop")
	}
}
