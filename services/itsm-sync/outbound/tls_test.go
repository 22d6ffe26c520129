package outbound_test

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

// quietLog drops the test servers' handshake-error lines.
var quietLog = log.New(io.Discard, "", 0)

// TestTLSVerification: verification is on: a private CA fails (permanent, naming
// servers.<name>.tls.ca_file) until ca_file trusts it.
func TestTLSVerification(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) }))
	srv.Config.ErrorLog = quietLog // the refused handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)

	s := newServer(t, "tls1", config.Server{BaseURL: srv.URL})
	_, err := do(t, s, get)
	if e := asError(t, err); e.Class != outbound.Permanent || !failure.IsPermanent(err) || !strings.Contains(err.Error(), "servers.tls1.tls.ca_file") {
		t.Fatalf("got %v: %v", e.Class, err)
	}

	caFile := writeFile(t, t.TempDir(), "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	s = newServer(t, "tls2", config.Server{BaseURL: srv.URL, TLS: config.ClientTLS{CAFile: caFile}})
	mustDo(t, s, get)
}

// TestMutualTLS: the configured client certificate is presented; without one the server
// refuses the handshake, a permanent failure pointing at cert_file.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	client := natstest.SelfSignedCert(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || !bytes.Equal(r.TLS.PeerCertificates[0].Raw, client.TLS.Certificate[0]) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte("{}"))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.Config.ErrorLog = quietLog
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := writeFile(t, t.TempDir(), "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))

	s := newServer(t, "mtls", config.Server{BaseURL: srv.URL,
		TLS: config.ClientTLS{CAFile: caFile, CertFile: client.CertFile, KeyFile: client.KeyFile}})
	mustDo(t, s, get)

	s = newServer(t, "nocert", config.Server{BaseURL: srv.URL, TLS: config.ClientTLS{CAFile: caFile}})
	_, err := do(t, s, get)
	if e := asError(t, err); e.Class != outbound.Permanent || !strings.Contains(err.Error(), "servers.nocert.tls.cert_file") {
		t.Fatalf("got %v: %v", e.Class, err)
	}
}

// TestInsecureSkipVerify: turning verification off works and is logged at WARN at start-up.
func TestInsecureSkipVerify(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) }))
	t.Cleanup(srv.Close)
	var logs natstest.LogBuffer
	s := newServerLog(t, "lax", config.Server{BaseURL: srv.URL, TLS: config.ClientTLS{InsecureSkipVerify: true}},
		slog.New(slog.NewTextHandler(&logs, nil)))
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "servers.lax.tls.insecure_skip_verify") {
		t.Fatalf("no start-up warning: %q", out)
	}
	mustDo(t, s, get)
}

// TestPlainHTTPCredentialsWarning: credentials over plain http are logged once at
// start-up, without the secret.
func TestPlainHTTPCredentialsWarning(t *testing.T) {
	t.Setenv("TF_OUT_WARN_PW", "hunter2")
	var logs natstest.LogBuffer
	rec := newRecorder(t, nil)
	s := newServerLog(t, "plain", config.Server{BaseURL: rec.URL,
		Auth: config.ServerAuth{Basic: &config.BasicAuth{User: "svc", PasswordEnv: "TF_OUT_WARN_PW"}}},
		slog.New(slog.NewTextHandler(&logs, nil)))
	mustDo(t, s, get)
	mustDo(t, s, get)
	out := logs.String()
	if strings.Count(out, "plain http") != 1 || !strings.Contains(out, "level=WARN") || strings.Contains(out, "hunter2") {
		t.Fatalf("logs: %q", out)
	}
}
