package outbound_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

var get = outbound.Request{Method: http.MethodGet, Path: "/api/x"}

// TestBasicAuth: user and password from the environment reach the server as basic auth.
func TestBasicAuth(t *testing.T) {
	t.Setenv("TF_OUT_USER", "svc")
	t.Setenv("TF_OUT_PW", "hunter2")
	rec := newRecorder(t, nil)
	s := newServer(t, "basic", config.Server{BaseURL: rec.URL,
		Auth: config.ServerAuth{Basic: &config.BasicAuth{UserEnv: "TF_OUT_USER", PasswordEnv: "TF_OUT_PW"}}})
	mustDo(t, s, get)
	if u, p, ok := rec.last(t).BasicAuth(); !ok || u != "svc" || p != "hunter2" {
		t.Fatalf("basic auth = %q %q %v", u, p, ok)
	}
}

// TestBearerEnv: a token from the environment, in Authorization with Bearer, or in
// another header with no scheme unless one is configured.
func TestBearerEnv(t *testing.T) {
	t.Setenv("TF_OUT_TOKEN", "tok-1")
	cases := []struct {
		header, scheme string
		wantHeader     string
		want           string
	}{
		{"", "", "Authorization", "Bearer tok-1"},
		{"x-api-key", "", "X-Api-Key", "tok-1"},
		{"X-Api-Key", "Token", "X-Api-Key", "Token tok-1"},
	}
	for _, tc := range cases {
		rec := newRecorder(t, nil)
		s := newServer(t, "bearer", config.Server{BaseURL: rec.URL,
			Auth: config.ServerAuth{Bearer: &config.BearerAuth{TokenEnv: "TF_OUT_TOKEN", Header: tc.header, Scheme: tc.scheme}}})
		mustDo(t, s, get)
		if got := rec.last(t).Header.Get(tc.wantHeader); got != tc.want {
			t.Errorf("header %q scheme %q: %s = %q, want %q", tc.header, tc.scheme, tc.wantHeader, got, tc.want)
		}
	}
}

// TestBearerFileRotation: a rotated token file (Kubernetes swaps the file) is used from
// the next request on.
func TestBearerFileRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := writeFile(t, dir, "token", "first-token\n")
	rec := newRecorder(t, nil)
	s := newServer(t, "rotating", config.Server{BaseURL: rec.URL,
		Auth: config.ServerAuth{Bearer: &config.BearerAuth{TokenFile: tokenFile}}})
	mustDo(t, s, get)
	// replace the file the way a Secret volume does: a new file renamed over the old one
	tmp := writeFile(t, dir, "token.new", "second-token-rotated\n")
	if err := os.Rename(tmp, tokenFile); err != nil {
		t.Fatal(err)
	}
	mustDo(t, s, get)
	got := rec.headers("Authorization")
	if want := []string{"Bearer first-token", "Bearer second-token-rotated"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Authorization = %q, want %q", got, want)
	}
}

// tokenEndpoint is a real OAuth2 token endpoint: it checks the grant's form parameters
// and the client authentication style, issues numbered tokens with expires_in, and
// rotates refresh tokens (an old one is invalid_grant).
type tokenEndpoint struct {
	*httptest.Server
	t         *testing.T
	grant     string
	style     string // header, params or auto (either)
	expiresIn int
	calls     atomic.Int32

	mu      sync.Mutex
	refresh string // the refresh token that is valid now
	fail    int    // answer every call with this status
}

const (
	clientID     = "triggerflow"
	clientSecret = "client-s3cret"
	oauthUser    = "alice"
	oauthPass    = "alice-pw"
)

func newTokenEndpoint(t *testing.T, grant, style string, expiresIn int) *tokenEndpoint {
	te := &tokenEndpoint{t: t, grant: grant, style: style, expiresIn: expiresIn, refresh: "rt-0"}
	te.Server = httptest.NewServer(te)
	t.Cleanup(te.Close)
	return te
}

func (te *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := te.calls.Add(1)
	te.mu.Lock()
	defer te.mu.Unlock()
	oauthErr := func(status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "rejected by the test endpoint"})
	}
	if te.fail != 0 {
		oauthErr(te.fail, "temporarily_unavailable")
		return
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		oauthErr(http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, inHeader := r.BasicAuth()
	inParams := r.PostForm.Get("client_secret") != ""
	if !inHeader {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	switch {
	case te.style == "header" && (!inHeader || inParams), te.style == "params" && (inHeader || !inParams):
		oauthErr(http.StatusUnauthorized, "invalid_client") // the wrong auth style
		return
	case id != clientID || secret != clientSecret:
		oauthErr(http.StatusUnauthorized, "invalid_client")
		return
	case r.PostForm.Get("grant_type") != te.grant:
		oauthErr(http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	tok := map[string]any{"access_token": fmt.Sprintf("at-%d", n), "token_type": "bearer", "expires_in": te.expiresIn}
	switch te.grant {
	case config.GrantPassword:
		if r.PostForm.Get("username") != oauthUser || r.PostForm.Get("password") != oauthPass {
			oauthErr(http.StatusBadRequest, "invalid_grant")
			return
		}
	case config.GrantRefreshToken:
		if r.PostForm.Get("refresh_token") != te.refresh {
			oauthErr(http.StatusBadRequest, "invalid_grant")
			return
		}
		te.refresh = fmt.Sprintf("rt-%d", n)
		tok["refresh_token"] = te.refresh
	case config.GrantClientCredentials:
		if r.PostForm.Get("scope") != "read write" {
			oauthErr(http.StatusBadRequest, "invalid_scope")
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(tok)
}

func (te *tokenEndpoint) failWith(status int) {
	te.mu.Lock()
	defer te.mu.Unlock()
	te.fail = status
}

// oauthServer configures a server with the oauth2 grant against te; secrets in files.
func oauthServer(t *testing.T, te *tokenEndpoint, base string) config.Server {
	dir := t.TempDir()
	o := &config.OAuth2Auth{Grant: te.grant, TokenURL: te.URL + "/oauth_token.do", ClientID: clientID,
		ClientSecretFile: writeFile(t, dir, "client-secret", clientSecret+"\n"), AuthStyle: te.style}
	switch te.grant {
	case config.GrantPassword:
		o.Username, o.PasswordFile = oauthUser, writeFile(t, dir, "password", oauthPass)
	case config.GrantRefreshToken:
		o.RefreshTokenFile = writeFile(t, dir, "refresh-token", "rt-0\n")
	case config.GrantClientCredentials:
		o.Scopes = []string{"read", "write"}
	}
	return config.Server{BaseURL: base, Auth: config.ServerAuth{OAuth2: o}}
}

var grants = []struct{ grant, style string }{
	{config.GrantPassword, "header"},
	{config.GrantRefreshToken, "params"},
	{config.GrantClientCredentials, "auto"},
}

// TestOAuth2TokenCached: each grant gets one token (form parameters and auth style
// checked by the endpoint) and reuses it across requests while it is valid.
func TestOAuth2TokenCached(t *testing.T) {
	t.Parallel()
	for _, g := range grants {
		t.Run(g.grant, func(t *testing.T) {
			t.Parallel()
			te := newTokenEndpoint(t, g.grant, g.style, 3600)
			rec := newRecorder(t, nil)
			s := newServer(t, "oauth", oauthServer(t, te, rec.URL))
			for range 5 {
				mustDo(t, s, get)
			}
			if n := te.calls.Load(); n != 1 {
				t.Fatalf("token endpoint called %d times for 5 requests, want 1", n)
			}
			for i, h := range rec.headers("Authorization") {
				if h != "Bearer at-1" {
					t.Fatalf("request %d: Authorization = %q", i, h)
				}
			}
		})
	}
}

// TestOAuth2TokenRefreshedBeforeExpiry: a token that expires is replaced before it
// does; the refresh_token grant then uses the refresh token the endpoint issued (the
// endpoint refuses the old one).
func TestOAuth2TokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	for _, g := range grants {
		t.Run(g.grant, func(t *testing.T) {
			t.Parallel()
			te := newTokenEndpoint(t, g.grant, g.style, 2) // renewed after about 1 s
			rec := newRecorder(t, nil)
			s := newServer(t, "oauth", oauthServer(t, te, rec.URL))
			mustDo(t, s, get)
			natstest.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
				mustDo(t, s, get)
				if h := rec.last(t).Header.Get("Authorization"); h != "Bearer at-2" {
					return fmt.Errorf("Authorization %q, waiting for a second token", h)
				}
				return nil
			})
			if g.grant == config.GrantRefreshToken {
				mustDo(t, s, get) // may need a third token: still with an issued refresh token
			}
		})
	}
}

// TestOAuth2TokenEndpointErrors: a refused grant is permanent and names the endpoint's
// error code; an endpoint that is down is transient; no secret shows; nothing is sent.
func TestOAuth2TokenEndpointErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		endpointStyle string // the client always sends its credentials in the header
		status        int    // the endpoint fails every call with this
		wrongPass     bool
		class         outbound.Class
		want          string
	}{
		{"invalid_grant", "header", 0, true, outbound.Permanent, "invalid_grant"},
		{"invalid_client", "params", 0, false, outbound.Permanent, "invalid_client"},
		{"unavailable", "header", http.StatusServiceUnavailable, false, outbound.Transient, "503"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newTokenEndpoint(t, config.GrantPassword, tc.endpointStyle, 3600)
			if tc.status != 0 {
				te.failWith(tc.status)
			}
			rec := newRecorder(t, nil)
			cfg := oauthServer(t, te, rec.URL)
			cfg.Auth.OAuth2.AuthStyle = "header"
			if tc.wrongPass {
				cfg.Auth.OAuth2.PasswordFile = writeFile(t, t.TempDir(), "pw", "wrong-pw")
			}
			s := newServer(t, "oauth", cfg)
			_, err := do(t, s, get)
			e := asError(t, err)
			if e.Class != tc.class || failure.IsPermanent(err) != (tc.class == outbound.Permanent) {
				t.Fatalf("class %v (permanent %v), want %v: %v", e.Class, failure.IsPermanent(err), tc.class, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "servers.oauth.auth.oauth2") {
				t.Fatalf("message %q lacks %q or the config key", msg, tc.want)
			}
			for _, secret := range []string{clientSecret, oauthPass, "wrong-pw"} {
				if strings.Contains(msg, secret) {
					t.Fatalf("secret in %q", msg)
				}
			}
			if rec.count() != 0 {
				t.Fatal("the request was sent without a token")
			}
		})
	}
}

// Test401RefreshesTokenOnce: a 401 drops the cached token and retries once with a
// fresh one; a second 401 is permanent and points at the auth config.
func Test401RefreshesTokenOnce(t *testing.T) {
	t.Parallel()
	t.Run("oauth2 recovers", func(t *testing.T) {
		t.Parallel()
		te := newTokenEndpoint(t, config.GrantClientCredentials, "header", 3600)
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "Bearer at-1" { // revoked on the server
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = w.Write([]byte(`{}`))
		})
		s := newServer(t, "oauth", oauthServer(t, te, rec.URL))
		mustDo(t, s, get)
		if te.calls.Load() != 2 || rec.count() != 2 {
			t.Fatalf("token calls %d, requests %d; want 2 and 2", te.calls.Load(), rec.count())
		}
	})
	t.Run("oauth2 still refused", func(t *testing.T) {
		t.Parallel()
		te := newTokenEndpoint(t, config.GrantClientCredentials, "header", 3600)
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
		s := newServer(t, "oauth", oauthServer(t, te, rec.URL))
		_, err := do(t, s, get)
		if e := asError(t, err); e.Class != outbound.Permanent || e.Status != 401 || !strings.Contains(err.Error(), "check servers.oauth.auth") {
			t.Fatalf("got %v %d: %v", e.Class, e.Status, err)
		}
		if te.calls.Load() != 2 || rec.count() != 2 {
			t.Fatalf("token calls %d, requests %d; want 2 and 2 (one retry)", te.calls.Load(), rec.count())
		}
	})
	t.Run("command recovers", func(t *testing.T) {
		t.Parallel()
		script, counter := tokenScript(t)
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "Bearer tok-1" {
				w.WriteHeader(http.StatusUnauthorized)
			}
		})
		s := newServer(t, "cmd", config.Server{BaseURL: rec.URL, Auth: config.ServerAuth{Command: &config.CommandAuth{
			Command: []string{"/bin/sh", script, counter}}}})
		mustDo(t, s, get)
		if runs := countRuns(t, counter); runs != 2 {
			t.Fatalf("command ran %d times, want 2", runs)
		}
	})
}

// tokenScript writes a token command: each run appends a line to counter and prints
// tok-<runs>. It is run through /bin/sh (exec of a file just written can fail with
// ETXTBSY while other tests fork).
func tokenScript(t *testing.T) (script, counter string) {
	dir := t.TempDir()
	counter = filepath.Join(dir, "runs")
	script = writeFile(t, dir, "token.sh", `echo run >> "$1"
printf '  tok-%s\n' "$(wc -l < "$1" | tr -d ' ')"
`)
	return script, counter
}

func countRuns(t *testing.T, counter string) int {
	t.Helper()
	b, err := os.ReadFile(counter)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// TestCommandAuth: the command's trimmed output is the token, shared by concurrent
// callers (one run), cached for cache_for, then run again.
func TestCommandAuth(t *testing.T) {
	t.Parallel()
	t.Run("cached and shared", func(t *testing.T) {
		t.Parallel()
		script, counter := tokenScript(t)
		rec := newRecorder(t, nil)
		s := newServer(t, "cmd", config.Server{BaseURL: rec.URL, Auth: config.ServerAuth{Command: &config.CommandAuth{
			Command: []string{"/bin/sh", script, counter}, CacheFor: time.Hour}}})
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if _, err := do(t, s, get); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		mustDo(t, s, get)
		if runs := countRuns(t, counter); runs != 1 {
			t.Fatalf("command ran %d times for 11 requests, want 1", runs)
		}
		for _, h := range rec.headers("Authorization") {
			if h != "Bearer tok-1" {
				t.Fatalf("Authorization = %q", h)
			}
		}
	})
	t.Run("run again after cache_for", func(t *testing.T) {
		t.Parallel()
		script, counter := tokenScript(t)
		rec := newRecorder(t, nil)
		s := newServer(t, "cmd", config.Server{BaseURL: rec.URL, Auth: config.ServerAuth{Command: &config.CommandAuth{
			Command: []string{"/bin/sh", script, counter}, CacheFor: 200 * time.Millisecond, Header: "X-Token"}}})
		mustDo(t, s, get)
		natstest.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
			mustDo(t, s, get)
			if h := rec.last(t).Header.Get("X-Token"); h != "tok-2" {
				return fmt.Errorf("X-Token %q, waiting for a second run", h)
			}
			return nil
		})
		if h := rec.headers("X-Token")[0]; h != "tok-1" {
			t.Fatalf("first X-Token = %q (no scheme for a custom header)", h)
		}
	})
	t.Run("failures", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		long := strings.Repeat("x", 400)
		failing := writeFile(t, dir, "fail.sh", "echo 'cannot reach vault: password=hunter2 "+long+"' >&2\nexit 3\n")
		empty := writeFile(t, dir, "empty.sh", "echo '   '\n")
		rec := newRecorder(t, nil)
		for _, tc := range []struct {
			script string
			want   string
		}{{failing, "cannot reach vault"}, {empty, "no token"}} {
			s := newServer(t, "cmd", config.Server{BaseURL: rec.URL, Auth: config.ServerAuth{Command: &config.CommandAuth{
				Command: []string{"/bin/sh", tc.script}}}})
			_, err := do(t, s, get)
			e := asError(t, err)
			msg := err.Error()
			if e.Class != outbound.Transient || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "servers.cmd.auth.command") {
				t.Fatalf("got %v: %s", e.Class, msg)
			}
			if strings.Contains(msg, "hunter2") || strings.Contains(msg, long[:201]) {
				t.Fatalf("stderr not bounded or not stripped: %s", msg)
			}
		}
		if rec.count() != 0 {
			t.Fatal("sent without a token")
		}
	})
}
