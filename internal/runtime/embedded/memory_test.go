package embedded_test

import (
	"bytes"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/embedded"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
)

// TestMemoryLimit: the process running the embedded server takes nats.embedded.memory_limit
// as its Go soft memory limit (150MiB by default), says so once, leaves the limit alone for
// "unlimited", and GOMEMLIMIT wins over the knob.
func TestMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	t.Setenv("GOMEMLIMIT", "")
	if err := os.Unsetenv("GOMEMLIMIT"); err != nil { // t.Setenv restores it after the test
		t.Fatal(err)
	}
	const untouched = int64(1 << 40)
	for _, tc := range []struct {
		name, yaml, env string
		want            int64
		log             string
	}{
		{"default", "", "", 150 << 20, "limit=150MiB"},
		{"knob", "nats:\n  embedded:\n    memory_limit: 1GiB\n", "", 1 << 30, "limit=1GiB"},
		{"unlimited", "nats:\n  embedded:\n    memory_limit: unlimited\n", "", untouched, ""},
		{"GOMEMLIMIT wins", "nats:\n  embedded:\n    memory_limit: 1GiB\n", "300MiB", untouched, "memory limit from GOMEMLIMIT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(untouched)
			if tc.env != "" {
				t.Setenv("GOMEMLIMIT", tc.env)
			}
			cfg, err := config.Parse("triggerflow.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			cfg.NATS.Embedded.Port, cfg.NATS.Embedded.StoreDir = -1, t.TempDir()
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			app := fxtest.New(t, fx.Supply(cfg), fx.NopLogger, fx.Supply(log), embedded.Module,
				fx.Invoke(func(natsconn.Embedded) {}))
			app.RequireStart()
			app.RequireStop()
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Errorf("memory limit %d, want %d", got, tc.want)
			}
			if n := strings.Count(logs.String(), "memory limit"); tc.log == "" && n != 0 || tc.log != "" && (n != 1 || !strings.Contains(logs.String(), tc.log)) {
				t.Errorf("logs, want one line with %q:\n%s", tc.log, logs.String())
			}
		})
	}
}

// TestServiceGC: a process on a NATS server of its own (nats.url) collects at
// ServiceGCPercent, unless GOGC is set; the embedded server's process keeps Go's default.
func TestServiceGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	t.Setenv("GOGC", "")
	if err := os.Unsetenv("GOGC"); err != nil { // t.Setenv restores it after the test
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml, env string
		want            int
	}{
		{"service", "nats:\n  url: nats://127.0.0.1:4222\n", "", embedded.ServiceGCPercent},
		{"GOGC wins", "nats:\n  url: nats://127.0.0.1:4222\n", "150", 100},
		{"embedded server", "", "", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			if tc.env != "" {
				t.Setenv("GOGC", tc.env) // read by the runtime at start only: the process's own setting
			}
			cfg, err := config.Parse("triggerflow.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			cfg.NATS.Embedded.Port, cfg.NATS.Embedded.StoreDir = -1, t.TempDir()
			app := fxtest.New(t, fx.Supply(cfg), fx.NopLogger, fx.Supply(logging.Discard()), embedded.Module,
				fx.Invoke(func(natsconn.Embedded) {}))
			app.RequireStart()
			app.RequireStop()
			if got := debug.SetGCPercent(100); got != tc.want {
				t.Errorf("GOGC %d, want %d", got, tc.want)
			}
		})
	}
}
