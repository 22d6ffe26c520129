package outbound_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

// TestClassification: every kind of failure gets its class, status and Retry-After, is
// marked for the failure package, and carries a bounded excerpt with no secret in it
// (the server echoes the Authorization header and a "password" key into its errors).
func TestClassification(t *testing.T) {
	t.Setenv("TF_OUT_CLS_PW", "hunter2")
	basicB64 := base64.StdEncoding.EncodeToString([]byte("svc:hunter2"))
	stop, hanging := make(chan struct{}), make(chan struct{})
	retryDate := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		status := 0
		_, _ = fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/"), "%d", &status)
		switch r.URL.Path {
		case "/block", "/hang":
			if r.URL.Path == "/hang" {
				close(hanging)
			}
			select { // until the test ends
			case <-stop:
			case <-r.Context().Done():
			}
			return
		case "/429":
			w.Header().Set("Retry-After", "7")
		case "/429-long":
			w.Header().Set("Retry-After", "100000")
			status = 429
		case "/503":
			w.Header().Set("Retry-After", retryDate)
		case "/301":
			w.Header().Set("Location", "https://login.example/sso")
		case "/huge":
			_, _ = w.Write([]byte(strings.Repeat("x", outbound.MaxBody+1)))
			return
		case "/ok":
			w.Header().Set("X-Answer", "yes")
			_, _ = w.Write([]byte(`{"result":{"sys_id":"abc"}}`))
			return
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":"request failed","echo":%q,"password":"hunter2","detail":"%s"}`,
			r.Header.Get("Authorization"), strings.Repeat("detail ", 100))
	})
	t.Cleanup(func() { close(stop) }) // runs before the recorder closes
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := closed.Addr().String()
	closed.Close()

	auth := config.ServerAuth{Basic: &config.BasicAuth{User: "svc", PasswordEnv: "TF_OUT_CLS_PW"}}
	s := newServer(t, "cls", config.Server{BaseURL: rec.URL, Auth: auth, Timeout: 200 * time.Millisecond,
		Breaker: config.Breaker{Failures: -1}, Retry: config.Retry{MaxRetryAfter: time.Minute}})
	dead := newServer(t, "dead", config.Server{BaseURL: "http://" + deadAddr, Auth: auth})

	cases := []struct {
		name       string
		srv        *outbound.Server
		path       string
		class      outbound.Class
		status     int
		retryAfter time.Duration // exact; -1: between 20s and 30s (an HTTP date)
		msg        string
	}{
		{"network error", dead, "/x", outbound.Transient, 0, 0, "connection refused"},
		{"timeout", s, "/block", outbound.Transient, 0, 0, "no complete answer within 200ms (servers.cls.timeout)"},
		{"408", s, "/408", outbound.Transient, 408, 0, "408 Request Timeout"},
		{"429 with seconds", s, "/429", outbound.Transient, 429, 7 * time.Second, "429 Too Many Requests (retry after 7s)"},
		{"429 clamped", s, "/429-long", outbound.Transient, 429, time.Minute, "retry after 1m0s"},
		{"503 with a date", s, "/503", outbound.Transient, 503, -1, "503 Service Unavailable"},
		{"500", s, "/500", outbound.Transient, 500, 0, "500 Internal Server Error"},
		{"400", s, "/400", outbound.Permanent, 400, 0, "400 Bad Request"},
		{"404", s, "/404", outbound.Permanent, 404, 0, "404 Not Found"},
		{"401 basic", s, "/401", outbound.Permanent, 401, 0, "check servers.cls.auth"},
		{"301", s, "/301", outbound.Permanent, 301, 0, `redirect to "https://login.example/sso", not followed: check servers.cls.base_url`},
		{"2xx over 1 MiB", s, "/huge", outbound.Permanent, 200, 0, "response exceeds 1 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := rec.count()
			_, err := do(t, tc.srv, outbound.Request{Method: http.MethodPost, Path: tc.path, Body: []byte(`{}`)})
			e := asError(t, err)
			if e.Class != tc.class || e.Status != tc.status || e.Server != tc.srv.Name() {
				t.Fatalf("class %v status %d server %s, want %v %d: %v", e.Class, e.Status, e.Server, tc.class, tc.status, err)
			}
			if failure.IsPermanent(err) != (tc.class == outbound.Permanent) {
				t.Fatalf("failure.IsPermanent = %v: %v", failure.IsPermanent(err), err)
			}
			d, ok := failure.RetryAfter(err)
			switch {
			case tc.retryAfter == -1:
				if !ok || !e.HasRetryAfter || d != e.RetryAfter || d < 20*time.Second || d > 30*time.Second {
					t.Fatalf("Retry-After of an HTTP date 30 s ahead: %v %v (field %v)", d, ok, e.RetryAfter)
				}
			case tc.retryAfter > 0:
				if !ok || !e.HasRetryAfter || d != tc.retryAfter || e.RetryAfter != tc.retryAfter {
					t.Fatalf("Retry-After = %v %v (field %v), want %v", d, ok, e.RetryAfter, tc.retryAfter)
				}
			default:
				if ok || e.HasRetryAfter {
					t.Fatalf("unexpected Retry-After %v", d)
				}
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.msg) || !strings.Contains(msg, "server "+tc.srv.Name()) || !strings.Contains(msg, "POST "+tc.path) {
				t.Fatalf("message %q lacks %q, the server or the request", msg, tc.msg)
			}
			if len(e.Excerpt) > excerptBytes+len("…") {
				t.Fatalf("excerpt of %d bytes: %q", len(e.Excerpt), e.Excerpt)
			}
			for _, secret := range []string{"hunter2", basicB64} {
				if strings.Contains(msg, secret) || strings.Contains(e.Excerpt, secret) {
					t.Fatalf("secret %q in %q / %q", secret, msg, e.Excerpt)
				}
			}
			if tc.status >= 400 && tc.srv == s && !strings.Contains(e.Excerpt, `"error":"request failed"`) {
				t.Fatalf("excerpt %q lacks the server's error", e.Excerpt)
			}
			if tc.status == 401 && rec.count()-before != 1 {
				t.Fatalf("basic auth 401 sent %d requests, want 1 (no retry)", rec.count()-before)
			}
			if tc.name == "timeout" && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("a timeout is not context.DeadlineExceeded: %v", err)
			}
		})
	}

	t.Run("2xx", func(t *testing.T) {
		resp := mustDo(t, s, outbound.Request{Method: http.MethodGet, Path: "/ok"})
		if resp.Status != 200 || string(resp.Body) != `{"result":{"sys_id":"abc"}}` || resp.Header.Get("X-Answer") != "yes" || resp.Latency <= 0 {
			t.Fatalf("response %+v", resp)
		}
	})
	t.Run("caller gives up", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-hanging // the request is in the handler
			cancel()
		}()
		_, err := s.Do(ctx, outbound.Request{Method: http.MethodGet, Path: "/hang"})
		if e := asError(t, err); e.Class != outbound.Transient || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v: %v", e.Class, err)
		}
	})
}

// TestExcerpt: the server's literal secrets and anything that looks like a credential
// are stripped, and the excerpt is bounded.
func TestExcerpt(t *testing.T) {
	t.Setenv("TF_OUT_EXC_TOKEN", "tok-VERY-secret-123")
	s := newServer(t, "exc", config.Server{BaseURL: "https://itsm.example",
		Auth: config.ServerAuth{Bearer: &config.BearerAuth{TokenEnv: "TF_OUT_EXC_TOKEN", Header: "X-Key"}}})
	got := s.Excerpt([]byte(`{"key":"tok-VERY-secret-123","client_secret":"abc","msg":"` + strings.Repeat("long ", 100) + `"}`))
	if strings.Contains(got, "tok-VERY-secret-123") || strings.Contains(got, "abc") || len(got) > excerptBytes+len("…") {
		t.Fatalf("excerpt %q", got)
	}
}
