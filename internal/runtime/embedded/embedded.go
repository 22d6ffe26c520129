// Package embedded runs a nats-server with JetStream inside this process, for
// `triggerflow all` (a single node on a laptop or a small install) and for tests.
package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
)

// EmbeddedMaxStore is the JetStream file store the embedded server (and the test
// servers) reserve streams' max_bytes against: 1 TiB, nats-server's own default when it
// cannot measure the disk.
const EmbeddedMaxStore = 1 << 40

// Server is a running embedded nats-server.
type Server struct {
	*server.Server
	lock *os.File // held on store_dir while the server runs (lockStore)
}

var _ natsconn.Embedded = Server{}

// Start starts a JetStream-enabled server storing its files in c.StoreDir. It installs
// no signal handlers (NoSigs): fx owns the process's signals.
func Start(c config.Embedded, log *slog.Logger) (Server, error) {
	dir, err := filepath.Abs(c.StoreDir)
	if err != nil {
		return Server{}, fmt.Errorf("nats.embedded.store_dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Server{}, fmt.Errorf("nats.embedded.store_dir: %w", err)
	}
	lock, err := lockStore(dir)
	if err != nil {
		return Server{}, err
	}
	unlock := func() {
		if lock != nil {
			_ = lock.Close()
		}
	}
	opts := &server.Options{
		ServerName: "triggerflow-embedded",
		Host:       c.Host,
		Port:       c.Port,
		JetStream:  true,
		StoreDir:   dir,
		// nats-server reserves each stream's max_bytes against its store, by default 75 %
		// of the disk free at start; the default limits (a year of a large SecureChange,
		// README "Stream limits and sizing") would not start on a laptop. The embedded
		// server is one node for a laptop or a small install: the disk is its limit.
		JetStreamMaxStore: EmbeddedMaxStore,
		NoSigs:            true,
		NoLog:             true,
		// Monitoring (/varz, /jsz) when nats.embedded.monitor_port is set; 0: none.
		HTTPHost: c.Host,
		HTTPPort: c.MonitorPort,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		unlock()
		return Server{}, fmt.Errorf("embedded nats-server: %w", err)
	}
	// The server logs nothing (NoLog) but what stops it starting (a port in use, a store
	// it cannot open), which it reports through Fatalf and then gives up: that is the error.
	fatal := make(chan string, 1)
	s.SetLogger(startLogger{fatal}, false, false)
	go s.Start()
	ready := make(chan bool, 1)
	go func() { ready <- s.ReadyForConnections(30 * time.Second) }()
	select {
	case msg := <-fatal:
		s.Shutdown()
		unlock()
		return Server{}, fmt.Errorf("embedded nats-server (nats.embedded): %s", msg)
	case ok := <-ready:
		if !ok {
			s.Shutdown()
			unlock()
			return Server{}, fmt.Errorf("embedded nats-server did not become ready in 30s (is %s already in use?)", net.JoinHostPort(c.Host, fmt.Sprint(c.Port)))
		}
	}
	args := []any{"url", s.ClientURL(), "store_dir", dir}
	if a := s.MonitorAddr(); a != nil {
		args = append(args, "monitor", "http://"+a.String())
	}
	log.Info("embedded nats-server started", args...)
	return Server{Server: s, lock: lock}, nil
}

// startLogger keeps the embedded server quiet but for its first fatal error.
type startLogger struct{ fatal chan<- string }

func (l startLogger) Fatalf(format string, v ...any) {
	select {
	case l.fatal <- fmt.Sprintf(format, v...):
	default:
	}
}
func (startLogger) Noticef(string, ...any) {}
func (startLogger) Warnf(string, ...any)   {}
func (startLogger) Errorf(string, ...any)  {}
func (startLogger) Debugf(string, ...any)  {}
func (startLogger) Tracef(string, ...any)  {}

// Stop shuts the server down, waits until it has, and releases its store.
func (s Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
	if s.lock != nil {
		_ = s.lock.Close()
	}
}

// Module provides the embedded server to natsconn when nats.url is empty, and otherwise
// sets the collector's target of a service (SetServiceGC). The server
// starts while the graph is built, before the connection that needs it, and its stop hook
// is registered first, so it runs last: after every service and the connection stopped.
var Module = fx.Module("nats-embedded",
	fx.Provide(func(c *config.Config, lc fx.Lifecycle, log *slog.Logger) (natsconn.Embedded, error) {
		if c.NATS.URL != "" {
			SetServiceGC(log)
			return nil, nil
		}
		SetMemoryLimit(c.NATS.Embedded.MemoryLimit, log)
		s, err := Start(c.NATS.Embedded, log)
		if err != nil {
			return nil, err
		}
		ctx, stopWatch := context.WithCancel(context.Background())
		lc.Append(fx.StartStopHook(func() {
			go watchHeap(ctx, heapWatchEvery, heapWarnEvery, currentMemoryLimit, liveHeap, log)
		}, stopWatch))
		lc.Append(fx.StopHook(func(context.Context) {
			s.Stop()
			log.Info("embedded nats-server stopped")
		}))
		return s, nil
	}),
)
