// Package natstest gives every test its own real JetStream: an embedded nats-server on a
// random port with a t.TempDir() store, or a real nats-server process built from the Go
// module proxy for end-to-end and fault tests. Nothing here is a fake broker.
package natstest

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"

	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxStore is the JetStream file store of the test servers (in process and real
// processes): 1 TiB, so the default stream limits' max_bytes (tens of GiB, reserved when
// a stream is created) fit whatever the disk of the machine running the tests.
const MaxStore = 1 << 40

// RunJetStream starts an in-process JetStream server for t, stopped at cleanup.
func RunJetStream(t testing.TB) *server.Server {
	t.Helper()
	return RunJetStreamDir(t, t.TempDir())
}

// RunJetStreamDir is RunJetStream on a given store dir (to restart over the same data).
func RunJetStreamDir(t testing.TB, dir string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
		JetStreamMaxStore: MaxStore,
	})
	if err != nil {
		t.Fatalf("natstest: new server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatalf("natstest: server not ready in 30s")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// Connect connects to url, closed at cleanup.
func Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns the jetstream API on a fresh connection to url.
func JetStream(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(Connect(t, url))
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return js
}

// StreamMsgs returns the number of messages stored in a stream.
func StreamMsgs(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, info := StreamInfo(ctx, t, js, stream)
	return info.State.Msgs
}

// StreamInfo is a stream of js and its current info; it fails the test if either cannot
// be read.
func StreamInfo(ctx context.Context, t testing.TB, js jetstream.JetStream, stream string) (jetstream.Stream, *jetstream.StreamInfo) {
	t.Helper()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("natstest: stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("natstest: stream %s info: %v", stream, err)
	}
	return s, info
}

// Msgs returns every message of stream whose subject matches subject (NATS wildcards;
// "" for all), in order.
func Msgs(t testing.TB, js jetstream.JetStream, stream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, info := StreamInfo(ctx, t, js, stream)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		if subject == "" || SubjectMatch(subject, m.Subject) {
			out = append(out, m)
		}
	}
	return out
}

// SubjectMatch matches a NATS subject against a pattern with * and > wildcards.
func SubjectMatch(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}

// RawConsume is the floor of benchmarks: workers goroutines pull from one durable
// consumer ("raw", explicit ack) on stream and call handle for each message until n
// messages were handled (handle returns true when it acked one; it may Nak instead). It
// returns the time from start to the n-th ack.
func RawConsume(tb testing.TB, js jetstream.JetStream, stream string, workers, n int, handle func(m jetstream.Msg) (acked bool, err error)) time.Duration {
	tb.Helper()
	cons, err := js.CreateOrUpdateConsumer(context.Background(), stream, jetstream.ConsumerConfig{
		Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxAckPending: 1000,
	})
	if err != nil {
		tb.Fatal(err)
	}
	var done, end atomic.Int64
	errc := make(chan error, workers)
	start := time.Now()
	for range workers {
		go func() {
			it, err := cons.Messages(jetstream.PullMaxMessages(8))
			if err != nil {
				errc <- err
				return
			}
			defer it.Stop()
			for done.Load() < int64(n) {
				m, err := it.Next(jetstream.NextMaxWait(time.Second))
				if errors.Is(err, nats.ErrTimeout) {
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				acked, err := handle(m)
				if err != nil {
					errc <- err
					return
				}
				if acked && done.Add(1) == int64(n) {
					end.Store(time.Now().UnixNano())
				}
			}
			errc <- nil
		}()
	}
	for range workers {
		if err := <-errc; err != nil {
			tb.Fatal(err)
		}
	}
	return time.Unix(0, end.Load()).Sub(start)
}

// CheckFor polls f every interval until it returns nil or timeout passes, then fails t
// with f's last error. Use it instead of sleeping for an asynchronous effect.
func CheckFor(t testing.TB, timeout, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: condition not met after %s: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

// built holds what BuildOnce built, by name.
var built sync.Map

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// BuildOnce runs build once per test process for name (a binary the tests need: the
// nats CLI, nats-server, Mailpit) and returns its result to every test that asks, or
// fails the test with its error, naming it.
func BuildOnce(t testing.TB, name string, build func() (string, error)) string {
	t.Helper()
	v, _ := built.LoadOrStore(name, &buildResult{})
	r := v.(*buildResult)
	r.once.Do(func() { r.path, r.err = build() })
	if r.err != nil {
		t.Fatalf("build %s: %v", name, r.err)
	}
	return r.path
}

// ServerBinary builds the real nats-server (the version this module requires) once per
// test process, through the Go module proxy and build cache, and returns its path.
func ServerBinary(t testing.TB) string {
	t.Helper()
	return BuildOnce(t, "nats-server", func() (string, error) {
		_, file, _, _ := runtime.Caller(0)
		dir, err := BinDir("natstest-bin-")
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", path, "github.com/nats-io/nats-server/v2")
		cmd.Dir = filepath.Dir(file)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build nats-server: %v\n%s", err, out)
		}
		return path, nil
	})
}

// Process is a real nats-server process with JetStream, on a fixed port and store dir so
// it can be stopped and started again over the same data. A node of a ProcessCluster
// (process_cluster.go) is a Process too, with a cluster block in its config.
type Process struct {
	t    testing.TB
	bin  string
	Port int
	Dir  string
	// Name is the server_name: "natstest" for a lone process, natstest-<i> for node i of
	// a ProcessCluster (what a stream's cluster.leader names).
	Name string
	// node is the cluster side of a node of a ProcessCluster; nil for a lone process.
	node  *processNode
	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	Trace bool
}

// StartProcess builds (once) and starts a nats-server process for t, stopped at cleanup.
func StartProcess(t testing.TB) *Process {
	t.Helper()
	p := &Process{t: t, bin: ServerBinary(t), Port: FreePort(t), Dir: t.TempDir(), Name: "natstest"}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// URL is the client URL.
func (p *Process) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(p.Port) }

// Start starts the process (again) and waits until it accepts connections with JetStream
// (a node of a cluster: until it is also healthy, see ProcessCluster).
func (p *Process) Start() {
	p.t.Helper()
	p.waitReady(p.launch())
}

// launch writes the config and starts the process, without waiting for it: the nodes of
// a cluster are launched together, as none is ready before a quorum of them elected a
// meta leader.
func (p *Process) launch() (done <-chan struct{}) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.t.Fatalf("natstest: nats-server %s already running", p.Name)
	}
	conf := filepath.Join(p.Dir, "natstest.conf")
	text := fmt.Sprintf("jetstream {\n  max_file_store: %d\n}\n", MaxStore)
	args := []string{"-c", conf, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-sd", p.Dir, "-n", p.Name}
	if p.node != nil {
		// Everything in the file (as a deployment's nats.conf has it), nothing on the
		// command line.
		text, args = p.node.config(p), []string{"-c", conf}
	}
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		p.t.Fatalf("natstest: %v", err)
	}
	cmd := exec.Command(p.bin, args...)
	logf, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatalf("natstest: %v", err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("natstest: start nats-server %s: %v", p.Name, err)
	}
	ch := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(ch) }()
	p.cmd, p.done = cmd, ch
	return ch
}

// waitReady polls until the process launched (done closes when it exits) accepts
// connections with JetStream; a node of a cluster must also answer /healthz.
func (p *Process) waitReady(done <-chan struct{}) {
	p.t.Helper()
	CheckFor(p.t, 60*time.Second, 50*time.Millisecond, func() error {
		select {
		case <-done:
			b, _ := os.ReadFile(p.logPath())
			p.t.Fatalf("natstest: nats-server %s exited at start:\n%s", p.Name, b)
		default:
		}
		if err := jetStreamReady(p.URL()); err != nil {
			return fmt.Errorf("nats-server %s: %w", p.Name, err)
		}
		if p.node != nil {
			return p.node.healthy(p)
		}
		return nil
	})
}

func (p *Process) logPath() string { return filepath.Join(p.Dir, "server.log") }

// jetStreamReady is nil when a JetStream at url answers.
func jetStreamReady(url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// Stop stops the process (SIGTERM, then SIGKILL after 20s) and waits for it to exit.
func (p *Process) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// Kill stops the process with SIGKILL: no chance to flush.
func (p *Process) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

// FreePort returns a TCP port that was free a moment ago on 127.0.0.1, for a process
// the test starts next. It is drawn at random from 20000–32767, below Linux's ephemeral
// range (32768–60999): a port the kernel hands out there (to a listener on :0, or as
// the source port of any outgoing connection on the machine) was taking the port of a
// process about to start, which then failed with "address already in use". Two tests
// can still draw the same port, with a chance of about one in 12 000.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		port := 20000 + rand.IntN(32768-20000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // in use
		}
		_ = l.Close()
		return port
	}
	t.Fatalf("natstest: no free port in 20000-32767 after 200 tries")
	return 0
}
