package logging_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
)

// TestWatermillRouterStopIsNotAnError: a graceful stop (the subscribers drain, then the
// router sees every handler stopped) logs no ERROR and no stack trace; other errors stay.
func TestWatermillRouterStopIsNotAnError(t *testing.T) {
	var buf bytes.Buffer
	l := logging.Watermill(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))).With(nil)
	l.Error("All handlers stopped, closing router", errors.New("all router handlers stopped\ngithub.com/ThreeDotsLabs/watermill/message.(*Router)"), nil)
	if out := buf.String(); strings.Contains(out, "ERROR") || strings.Contains(out, "github.com/") {
		t.Fatalf("a graceful stop logged %q", out)
	}
	buf.Reset()
	l.Error("pull failed", errors.New("boom"), nil)
	if !strings.Contains(buf.String(), "level=ERROR") || !strings.Contains(buf.String(), "boom") {
		t.Fatalf("a real error was not logged as one: %q", buf.String())
	}
}

// routerFields are the fields watermill's router logs with each message it handles.
var routerFields = watermill.LogFields{"message_uuid": "9f2c0c1e6f1d4c8f", "topic": "scw.op.itsm.servicenow.03", "handler_name": "itsm-sync-servicenow-p03"}

// TestWatermillLinesBelowTheLevel: watermill's per-message lines (Trace, and Info and
// Debug, which are logged at Debug) cost no allocation below the level, and are logged
// at it.
func TestWatermillLinesBelowTheLevel(t *testing.T) {
	var buf bytes.Buffer
	l := logging.Watermill(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))).With(watermill.LogFields{"subscriber": "s"})
	for name, log := range map[string]func(){
		"Trace": func() { l.Trace("Received message", routerFields) },
		"Debug": func() { l.Debug("Message acked", routerFields) },
		"Info":  func() { l.Info("Adding handler", routerFields) },
	} {
		if n := testing.AllocsPerRun(100, log); n != 0 {
			t.Errorf("%s below the level: %.0f allocations per line, want 0", name, n)
		}
	}
	if buf.Len() != 0 {
		t.Fatalf("lines below the level were written: %q", buf.String())
	}

	l = logging.Watermill(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: watermill.LevelTrace}))).With(watermill.LogFields{"subscriber": "s"})
	l.Trace("Received message", routerFields)
	l.Info("Adding handler", routerFields)
	out := buf.String()
	for _, want := range []string{"level=DEBUG-4 msg=\"Received message\"", "level=DEBUG msg=\"Adding handler\"", "subscriber=s", "topic=scw.op.itsm.servicenow.03"} {
		if !strings.Contains(out, want) {
			t.Errorf("at the trace level, %q missing from %q", want, out)
		}
	}
}

// BenchmarkWatermillTrace: one router line below the level, through watermill's own
// adapter and through Watermill.
func BenchmarkWatermillTrace(b *testing.B) {
	l := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	for name, wl := range map[string]watermill.LoggerAdapter{
		"watermill": watermill.NewSlogLogger(l),
		"Watermill": logging.Watermill(l),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				wl.Trace("Received message", routerFields)
			}
		})
	}
}
