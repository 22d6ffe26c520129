package natstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
)

// ProcessCluster is a JetStream cluster of real nats-server processes on 127.0.0.1, the
// production topology (deploy/k8s/overlays/production/nats.conf) for fault tests: each
// node a Process with its own client, route and monitoring ports and store dir, every
// node routing to every other. A node can be killed (SIGKILL) and started again over its
// store dir under the same server_name, so it rejoins as the same JetStream peer.
type ProcessCluster struct {
	t     testing.TB
	Name  string // cluster.name
	Nodes []*Process
}

// processNode is what a node of a ProcessCluster adds to a Process.
type processNode struct {
	cluster     *ProcessCluster
	clusterPort int // cluster.listen: the routes
	httpPort    int // monitoring: /healthz
}

// StartProcessCluster builds (once) and starts an n-node cluster for t, and waits until
// every node answers JetStream through the cluster's meta leader and is healthy. The
// nodes are stopped at cleanup; if t failed, each node's last warnings, errors and
// leader changes (before the stop adds its own) are logged.
func StartProcessCluster(t testing.TB, n int) *ProcessCluster {
	t.Helper()
	c := &ProcessCluster{t: t, Name: "natstest"}
	bin := ServerBinary(t)
	for i := range n {
		p := &Process{t: t, bin: bin, Port: FreePort(t), Dir: t.TempDir(), Name: fmt.Sprintf("natstest-%d", i)}
		p.node = &processNode{cluster: c, clusterPort: FreePort(t), httpPort: FreePort(t)}
		c.Nodes = append(c.Nodes, p)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range c.Nodes {
				t.Logf("nats-server %s (client %s), its last warnings, errors and leader changes:\n%s", p.Name, p.URL(), processLogTail(p.logPath(), 40))
			}
		}
		for _, p := range c.Nodes {
			p.Stop()
		}
	})
	// Launched together: no node is ready before a quorum of them elected a meta leader.
	dones := make([]<-chan struct{}, n)
	for i, p := range c.Nodes {
		dones[i] = p.launch()
	}
	for i, p := range c.Nodes {
		p.waitReady(dones[i])
	}
	// Every node healthy does not yet mean the meta leader counts every node as a peer:
	// until it does, a stream with n replicas cannot be placed (what the services create
	// first with nats.replicas: n).
	nc, err := nats.Connect(strings.Join(c.URLs(), ","))
	if err != nil {
		t.Fatalf("natstest: connect to cluster %s: %v", c.Name, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// The probe stays, as RunCluster's does: deleting an account's last stream removes
		// its store directory, and a stream created at that moment failed to create.
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "NATSTEST_PLACEMENT", Subjects: []string{"natstest.placement"}, Replicas: n, Storage: jetstream.MemoryStorage})
		if err != nil {
			return fmt.Errorf("cluster %s: a stream with %d replicas cannot be placed yet: %w", c.Name, n, err)
		}
		return nil
	})
	return c
}

// config is the nats.conf of node p: everything a deployment's has that matters here
// (server_name, client and monitoring listeners, the JetStream store, the cluster block
// with a route to every node), with the same max_file_store as a lone Process.
func (n *processNode) config(p *Process) string {
	var routes []string
	for _, q := range n.cluster.Nodes {
		// Its own route too, as every pod of the production StatefulSet has: the server
		// recognises and drops it.
		routes = append(routes, fmt.Sprintf("    nats-route://127.0.0.1:%d", q.node.clusterPort))
	}
	return fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream {
  store_dir: %q
  max_file_store: %d
}
cluster {
  name: %s
  listen: 127.0.0.1:%d
  routes: [
%s
  ]
}
`, p.Name, p.Port, n.httpPort, p.Dir, int64(MaxStore), n.cluster.Name, n.clusterPort, strings.Join(routes, "\n"))
}

// processHealthClient asks a node's /healthz: a node that answers nothing fails the probe
// rather than hanging the test.
var processHealthClient = &http.Client{Timeout: 5 * time.Second}

// healthy is nil when node p's /healthz answers 200: its JetStream is up, the meta group
// has a leader and p is current with it, and every stream and consumer replica p holds
// is current with its leader (what a restarted node reaches once it has caught up).
func (n *processNode) healthy(p *Process) error {
	res, err := processHealthClient.Get("http://127.0.0.1:" + strconv.Itoa(n.httpPort) + "/healthz")
	if err != nil {
		return fmt.Errorf("nats-server %s /healthz: %w", p.Name, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("nats-server %s /healthz: %d %s", p.Name, res.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// URLs are the nodes' client URLs, in node order.
func (c *ProcessCluster) URLs() []string {
	out := make([]string, len(c.Nodes))
	for i, p := range c.Nodes {
		out[i] = p.URL()
	}
	return out
}

// Index is the node whose server_name is name, or -1.
func (c *ProcessCluster) Index(name string) int {
	for i, p := range c.Nodes {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// Kill stops node i with SIGKILL: no chance to flush or to hand its leaderships over.
func (c *ProcessCluster) Kill(i int) { c.Nodes[i].Kill() }

// Start starts node i again over its store dir and waits until it is ready and healthy
// (caught up with every stream and consumer it holds a replica of).
func (c *ProcessCluster) Start(i int) {
	c.t.Helper()
	c.Nodes[i].Start()
}

// Leaders maps each stream (a bucket's is KV_<bucket>) to the index of the node leading
// it, asked through js; a stream without a leader (an election going on) is an error.
func (c *ProcessCluster) Leaders(ctx context.Context, js jetstream.JetStream) (map[string]int, error) {
	out := map[string]int{}
	l := js.ListStreams(ctx)
	for info := range l.Info() {
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return nil, fmt.Errorf("stream %s has no leader", info.Config.Name)
		}
		i := c.Index(info.Cluster.Leader)
		if i < 0 {
			return nil, fmt.Errorf("stream %s is led by %q, no node of cluster %s", info.Config.Name, info.Cluster.Leader, c.Name)
		}
		out[info.Config.Name] = i
	}
	return out, l.Err()
}

// LeaderMsgs is Msgs read through the stream's leader: every message of stream whose
// subject matches subject (NATS wildcards; "" for all), in order. Msgs reads with direct
// gets when the stream allows them, and in a cluster a direct get may be answered by a
// follower that does not have a message just stored yet, which Msgs would take for
// deleted; a test that reads what a pipeline on a cluster produced must not miss any.
// The headers are the message's own, without the Nats-Stream, Nats-Sequence,
// Nats-Subject and Nats-Time-Stamp a direct get adds.
func LeaderMsgs(ctx context.Context, js jetstream.JetStream, stream, subject string) ([]*jetstream.RawStreamMsg, error) {
	if subject == "" {
		subject = ">"
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		// next_by_subj: the first message at or after seq on subject, skipping the others.
		m, err := natsconn.MsgGet(ctx, js.Conn(), stream, map[string]any{"seq": seq, "next_by_subj": subject})
		if errors.Is(err, jetstream.ErrMsgNotFound) { // none left on subject
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("natstest: stream %s: get message %d on %s: %w", stream, seq, subject, err)
		}
		out = append(out, &jetstream.RawStreamMsg{Subject: m.Subject, Sequence: m.Seq, Header: m.Header, Data: m.Data, Time: m.Time})
		seq = m.Seq + 1
	}
}

// processLogTail is the last n lines of the nats-server log at path that are warnings,
// errors or leader changes (or why it cannot be read).
func processLogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "(no log)"
	}
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.Contains(l, "[WRN]") || strings.Contains(l, "[ERR]") || strings.Contains(l, "[FTL]") || strings.Contains(l, "leader") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return "(none)"
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
