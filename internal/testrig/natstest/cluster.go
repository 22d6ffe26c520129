package natstest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// RunCluster starts a JetStream cluster of n in-process servers (n0, n1, …) for t, each
// with its own t.TempDir() store, stopped at cleanup. It returns once a stream with n
// replicas can be placed (NATSTEST_READY, left in place): every server has joined the
// meta group and one leads it.
func RunCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range ports {
		ports[i] = FreePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
	}
	ss := make([]*server.Server, n)
	for i := range ss {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1, JetStream: true,
			StoreDir: t.TempDir(), NoSigs: true, NoLog: true, JetStreamMaxStore: MaxStore,
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		}
		o.Cluster.Name, o.Cluster.Host, o.Cluster.Port = "natstest", "127.0.0.1", ports[i]
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatalf("natstest: new server n%d: %v", i, err)
		}
		go s.Start()
		ss[i] = s
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	}
	for i, s := range ss {
		if !s.ReadyForConnections(30 * time.Second) {
			t.Fatalf("natstest: server n%d not ready in 30s", i)
		}
	}
	js := JetStream(t, ss[0].ClientURL())
	CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// The probe stays: deleting an account's last stream removes its store
		// directory, which a stream created at that moment then fails to create.
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "NATSTEST_READY", Subjects: []string{"natstest.ready"}, Replicas: n, Storage: jetstream.FileStorage})
		if err != nil {
			return fmt.Errorf("cluster of %d not ready: %w", n, err)
		}
		return nil
	})
	return ss
}
