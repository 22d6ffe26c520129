package logging_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

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
