package health_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/health"
)

// get returns the status and body of url.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestMountPprof: /debug/pprof/ is 404 unless MountPprof added it; with it, the index,
// the named profiles, cmdline, symbol, trace and a one-second CPU profile are served, and
// the three operational endpoints are unchanged either way.
func TestMountPprof(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		mux := http.NewServeMux()
		health.Handler{Registry: health.NewRegistry()}.Mount(mux)
		if on {
			health.MountPprof(mux)
		}
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		if code, body := get(t, srv.URL+"/healthz"); code != http.StatusOK || string(body) != "ok\n" {
			t.Errorf("pprof %v: /healthz %d %q", on, code, body)
		}
		if code, _ := get(t, srv.URL+"/metrics"); code != http.StatusOK {
			t.Errorf("pprof %v: /metrics %d", on, code)
		}
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1",
			"/debug/pprof/cmdline", "/debug/pprof/symbol", "/debug/pprof/trace?seconds=0.1"} {
			if code, _ := get(t, srv.URL+path); code != want {
				t.Errorf("pprof %v: GET %s %d, want %d", on, path, code, want)
			}
		}
		if !on {
			continue
		}
		if _, body := get(t, srv.URL+"/debug/pprof/"); !bytes.Contains(body, []byte("goroutine")) {
			t.Errorf("the index does not list the goroutine profile:\n%s", body)
		}
		if code, body := get(t, srv.URL+"/debug/pprof/profile?seconds=1"); code != http.StatusOK || len(body) == 0 {
			t.Errorf("/debug/pprof/profile?seconds=1: %d, %d bytes", code, len(body))
		}
	}
}

// TestServerModulePprof: the admin listener serves /debug/pprof/ only with admin.pprof,
// and then says so once at WARN when it starts.
func TestServerModulePprof(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		url, logged := startAdmin(t, on)
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if code, _ := get(t, url+"/debug/pprof/"); code != want {
			t.Errorf("admin.pprof %v: GET /debug/pprof/ %d, want %d", on, code, want)
		}
		if code, _ := get(t, url+"/healthz"); code != http.StatusOK {
			t.Errorf("admin.pprof %v: GET /healthz %d", on, code)
		}
		warned := strings.Count(logged, `"level":"WARN","msg":"admin.pprof is on: /debug/pprof/ exposes profiles`)
		if (on && warned != 1) || (!on && warned != 0) {
			t.Errorf("admin.pprof %v: %d warnings in\n%s", on, warned, logged)
		}
	}
}

// startAdmin starts health.ServerModule on a free port with admin.pprof set to pprof; it
// returns the listener's URL, as logged, and everything logged at start.
func startAdmin(t *testing.T, pprof bool) (string, string) {
	t.Helper()
	url, logged := startModule(t, health.ServerModule, pprof)
	if url == "" {
		t.Fatalf("no \"admin listening\" line in\n%s", logged)
	}
	return url, logged
}

// startModule starts module (ServerModule or PprofModule) on a free port and returns the
// URL its "admin listening" line gives ("" without one) and what it logged.
func startModule(t *testing.T, module fx.Option, pprof bool) (string, string) {
	t.Helper()
	cfg := &config.Config{Admin: config.Admin{Listen: "127.0.0.1:0", Pprof: pprof}}
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	app := fx.New(fx.Supply(cfg, health.Handler{Registry: health.NewRegistry()}, log), module, fx.NopLogger)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Stop(context.Background()) })
	for _, line := range strings.Split(strings.TrimSpace(logged.String()), "\n") {
		var rec struct{ Msg, URL string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "admin listening" {
			return rec.URL, logged.String()
		}
	}
	return "", logged.String()
}

// TestPprofModule: with the ingress (ingress, all), admin.listen serves /debug/pprof/
// alone when admin.pprof is on (the health endpoints stay on the ingress's listener), and
// nothing listens when it is off.
func TestPprofModule(t *testing.T) {
	t.Parallel()
	if url, logged := startModule(t, health.PprofModule, false); url != "" || logged != "" {
		t.Errorf("admin.pprof off: listening on %q, logged\n%s", url, logged)
	}
	url, logged := startModule(t, health.PprofModule, true)
	if url == "" {
		t.Fatalf("admin.pprof on: no \"admin listening\" line in\n%s", logged)
	}
	if code, _ := get(t, url+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("GET /debug/pprof/ %d, want 200", code)
	}
	if code, body := get(t, url+"/debug/pprof/heap"); code != http.StatusOK || len(body) == 0 {
		t.Errorf("GET /debug/pprof/heap %d, %d bytes", code, len(body))
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := get(t, url+path); code != http.StatusNotFound {
			t.Errorf("GET %s %d, want 404 (served on the ingress's listener)", path, code)
		}
	}
	if n := strings.Count(logged, `"level":"WARN","msg":"admin.pprof is on`); n != 1 {
		t.Errorf("%d warnings in\n%s", n, logged)
	}
}
