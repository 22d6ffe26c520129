package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/health"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// TestReadyOnlyOnceStarted: /readyz answers 503 "starting" while a module's start hook
// runs (the services' modules ensure their streams, buckets and consumers there; on a
// fresh cluster that took seconds, and a pod reported ready meanwhile), and 200 once
// every start hook has run.
func TestReadyOnlyOnceStarted(t *testing.T) {
	var during string
	probe := func(h health.Handler) string {
		mux := http.NewServeMux()
		h.Mount(mux)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return fmt.Sprintf("%d %s", rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// A module of its own, as each service is: its start hook runs with theirs.
	slow := fx.Module("slow-start", fx.Invoke(func(lc fx.Lifecycle, h health.Handler) {
		lc.Append(fx.StartHook(func(context.Context) { during = probe(h) }))
	}))
	cfg := config.Default()
	cfg.NATS.URL = natstest.RunJetStream(t).ClientURL()
	cfg.Log.Level = "error"
	g := testrig.Start(t, "dispatcher", cfg, slow)
	if !strings.HasPrefix(during, "503 not ready: starting") {
		t.Fatalf("/readyz during the start: %q, want 503 not ready: starting", during)
	}
	url := g.ServeHealth()
	natstest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz after the start: %s", resp.Status)
		}
		return nil
	})
}
