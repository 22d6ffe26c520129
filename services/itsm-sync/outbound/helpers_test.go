package outbound_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

// excerptBytes is the excerpt bound of every test server.
const excerptBytes = 128

// newServer builds the client of servers.<name>, closed at cleanup.
func newServer(t *testing.T, name string, cfg config.Server) *outbound.Server {
	t.Helper()
	return newServerLog(t, name, cfg, slog.New(slog.DiscardHandler))
}

// newServerLog is newServer logging to log. cfg, with its defaults, must pass config
// validation as at start-up: New does not check it.
func newServerLog(t *testing.T, name string, cfg config.Server, log *slog.Logger) *outbound.Server {
	t.Helper()
	c := config.Default()
	c.Servers = map[string]config.Server{name: cfg}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("config of %s: %v", name, err)
	}
	s, err := outbound.New(name, cfg, outbound.Options{ExcerptBytes: excerptBytes, Log: log})
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(s.Close)
	return s
}

// do sends r with a generous deadline.
func do(t *testing.T, s *outbound.Server, r outbound.Request) (outbound.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Do(ctx, r)
}

// mustDo wants a 2xx.
func mustDo(t *testing.T, s *outbound.Server, r outbound.Request) outbound.Response {
	t.Helper()
	resp, err := do(t, s, r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	return resp
}

// asError wants an *outbound.Error.
func asError(t *testing.T, err error) *outbound.Error {
	t.Helper()
	var e *outbound.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *outbound.Error, got %T %v", err, err)
	}
	return e
}

// recorder is an httptest server that records what it is sent and answers with answer.
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	answer http.HandlerFunc
}

func newRecorder(t *testing.T, answer http.HandlerFunc) *recorder {
	rec := &recorder{answer: answer}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		if rec.answer != nil {
			rec.answer(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"result":"ok"}`))
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) record(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reqs = append(rec.reqs, r.Clone(context.Background()))
	rec.bodies = append(rec.bodies, string(body))
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

func (rec *recorder) last(t *testing.T) *http.Request {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("the server saw no request")
	}
	return rec.reqs[len(rec.reqs)-1]
}

func (rec *recorder) lastBody() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.bodies) == 0 {
		return ""
	}
	return rec.bodies[len(rec.bodies)-1]
}

// headers is the value of header h in every request seen, in order.
func (rec *recorder) headers(h string) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]string, len(rec.reqs))
	for i, r := range rec.reqs {
		out[i] = r.Header.Get(h)
	}
	return out
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
