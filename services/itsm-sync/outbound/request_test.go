package outbound_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

// TestRequestHeaders: server headers, then the action's (which override them), the
// User-Agent, a JSON content type for a body without one, and the idempotency key.
func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, nil)
	s := newServer(t, "hdr", config.Server{BaseURL: rec.URL + "/api/now/",
		Headers: map[string]string{"Accept": "application/json", "X-Tenant": "server", "X-Only-Server": "yes"}})
	mustDo(t, s, outbound.Request{Method: http.MethodPost, Path: "/table/change?sysparm_display_value=true",
		Body: []byte(`{"a":1}`), Headers: map[string]string{"x-tenant": "action"}, IdempotencyKey: "op-123"})
	r := rec.last(t)
	want := map[string]string{
		"Accept": "application/json", "X-Tenant": "action", "X-Only-Server": "yes",
		"User-Agent": "triggerflow-itsm-sync", "Content-Type": "application/json", "Idempotency-Key": "op-123",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if r.Method != http.MethodPost || r.URL.RequestURI() != "/api/now/table/change?sysparm_display_value=true" || rec.lastBody() != `{"a":1}` {
		t.Errorf("request %s %s %q", r.Method, r.URL.RequestURI(), rec.lastBody())
	}

	// an action's content type stays; no body, no content type
	mustDo(t, s, outbound.Request{Method: http.MethodPut, Path: "/x", Body: []byte("a=1"), Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	if ct := rec.last(t).Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", ct)
	}
	mustDo(t, s, outbound.Request{Method: http.MethodGet, Path: "/x", IdempotencyKey: "op-1"})
	if ct := rec.last(t).Header.Get("Content-Type"); ct != "" {
		t.Errorf("Content-Type without a body = %q", ct)
	}
}

// TestIdempotencyHeader: the header name is configurable and "-" sends none.
func TestIdempotencyHeader(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, nil)
	custom := newServer(t, "custom", config.Server{BaseURL: rec.URL, IdempotencyHeader: "X-Request-Id"})
	mustDo(t, custom, outbound.Request{Method: http.MethodPost, Path: "/x", IdempotencyKey: "op-7"})
	if h := rec.last(t).Header; h.Get("X-Request-Id") != "op-7" || h.Get("Idempotency-Key") != "" {
		t.Fatalf("headers %v", h)
	}
	none := newServer(t, "none", config.Server{BaseURL: rec.URL, IdempotencyHeader: "-"})
	mustDo(t, none, outbound.Request{Method: http.MethodPost, Path: "/x", IdempotencyKey: "op-7"})
	for k, v := range rec.last(t).Header {
		if strings.Contains(strings.Join(v, ","), "op-7") {
			t.Fatalf("idempotency key sent in %s with idempotency_header -", k)
		}
	}
}

// TestRequestRejected: a path that names another host, or a header that cannot be
// sent, is a permanent error and nothing is sent.
func TestRequestRejected(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, nil)
	s := newServer(t, "strict", config.Server{BaseURL: rec.URL})
	for _, r := range []outbound.Request{
		{Method: http.MethodGet, Path: "https://evil.example/x"},
		{Method: http.MethodGet, Path: "//evil.example/x"},
		{Method: http.MethodGet, Path: "/x/https://evil.example"},
		{Method: http.MethodGet, Path: "@evil.example/x"},
		{Method: http.MethodGet, Path: "/x", Headers: map[string]string{"X-Injected": "a\r\nHost: evil.example"}},
		{Method: http.MethodGet, Path: "/x", Headers: map[string]string{"Bad Header": "a"}},
	} {
		_, err := do(t, s, r)
		if e := asError(t, err); e.Class != outbound.Permanent || !failure.IsPermanent(err) {
			t.Errorf("%q %v: %v %v", r.Path, r.Headers, e.Class, err)
		}
	}
	if n := rec.count(); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
	// a URL inside the query is data, not a host
	mustDo(t, s, outbound.Request{Method: http.MethodGet, Path: "/x?callback=https://ok.example/cb"})
}

// TestProxy: a configured proxy carries the request to a plain http server.
func TestProxy(t *testing.T) {
	t.Parallel()
	target := newRecorder(t, nil)
	var (
		mu      sync.Mutex
		proxied []string
	)
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(proxied)
	}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied = append(proxied, r.Method+" "+r.URL.String())
		mu.Unlock()
		out := r.Clone(r.Context())
		out.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	s := newServer(t, "proxied", config.Server{BaseURL: target.URL, Proxy: proxy.URL})
	mustDo(t, s, outbound.Request{Method: http.MethodPost, Path: "/api/x", Body: []byte("{}")})
	if p := seen(); len(p) != 1 || p[0] != "POST "+target.URL+"/api/x" || target.count() != 1 {
		t.Fatalf("proxy saw %q, target %d requests", p, target.count())
	}
	direct := newServer(t, "direct", config.Server{BaseURL: target.URL, Proxy: "none"})
	mustDo(t, direct, get)
	if p := seen(); len(p) != 1 || target.count() != 2 {
		t.Fatalf("proxy none went through the proxy: %q", p)
	}
}

// TestNewErrors: New fails only on what may have changed since config.Validate (a secret
// or a TLS file that no longer reads; the rules of servers are config's, tested in
// internal/config), naming the config key and never a secret; NewSet is all or nothing.
func TestNewErrors(t *testing.T) {
	t.Setenv("TF_OUT_NEW_PW", "hunter2")
	cases := []struct {
		name string
		cfg  config.Server
		want string
	}{
		{"missing env", config.Server{BaseURL: "https://itsm.example",
			Auth: config.ServerAuth{Bearer: &config.BearerAuth{TokenEnv: "TF_OUT_UNSET"}}}, "servers.x.auth.bearer.token_env: environment variable TF_OUT_UNSET is not set"},
		{"missing user env", config.Server{BaseURL: "https://itsm.example",
			Auth: config.ServerAuth{Basic: &config.BasicAuth{UserEnv: "TF_OUT_UNSET", PasswordEnv: "TF_OUT_NEW_PW"}}}, "servers.x.auth.basic.user_env: environment variable TF_OUT_UNSET is not set"},
		{"ca_file", config.Server{BaseURL: "https://itsm.example", TLS: config.ClientTLS{CAFile: "/nonexistent/ca.pem"}}, "servers.x.tls.ca_file"},
	}
	for _, tc := range cases {
		_, err := outbound.New("x", tc.cfg, outbound.Options{Log: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}

	set, err := outbound.NewSet(map[string]config.Server{
		"good": {BaseURL: "https://a.example"},
		"bad":  {BaseURL: "https://b.example", Auth: config.ServerAuth{Bearer: &config.BearerAuth{TokenEnv: "TF_OUT_UNSET"}}},
		"ugly": {BaseURL: "https://c.example", TLS: config.ClientTLS{CAFile: "/nonexistent/ca.pem"}},
	}, outbound.Options{Log: slog.New(slog.DiscardHandler)})
	if set != nil || err == nil || !strings.Contains(err.Error(), "servers.bad.auth.bearer.token_env") || !strings.Contains(err.Error(), "servers.ugly.tls.ca_file") {
		t.Fatalf("NewSet = %v, %v", set, err)
	}
	set, err = outbound.NewSet(map[string]config.Server{"a": {BaseURL: "https://a.example"}, "b": {BaseURL: "https://b.example"}}, outbound.Options{})
	if err != nil || len(set) != 2 || set["a"].Name() != "a" || set["b"].Retry().Attempts != 8 {
		t.Fatalf("NewSet = %v, %v", set, err)
	}
	for _, s := range set {
		s.Close()
	}
}
