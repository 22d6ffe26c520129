package logging

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
)

// counting counts the With calls that reach a handler.
type counting struct {
	slog.Handler
	withs *int
}

func (c counting) WithAttrs(as []slog.Attr) slog.Handler {
	*c.withs++
	return counting{c.Handler.WithAttrs(as), c.withs}
}

func (c counting) WithGroup(name string) slog.Handler {
	*c.withs++
	return counting{c.Handler.WithGroup(name), c.withs}
}

// noTime drops the time, so that two handlers' lines compare.
func noTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// TestDeferredWith: New's loggers defer; a logger's With attributes and groups reach its
// handler when a line is first written, once, not when With is called; a line below the
// level formats nothing; and the lines are exactly those of slog's own handlers, text and
// JSON.
func TestDeferredWith(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		if _, ok := New(io.Discard, config.Log{Level: "info", Format: format}).Handler().(*deferred); !ok {
			t.Errorf("New's %s logger does not defer its With attributes", format)
		}
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: noTime}
	for name, mk := range map[string]func(io.Writer) slog.Handler{
		"text": func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, opts) },
		"json": func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, opts) },
	} {
		var got, want bytes.Buffer
		withs := 0
		d := slog.New(&deferred{base: counting{mk(&got), &withs}}).With("service", "dispatcher")
		plain := slog.New(mk(&want)).With("service", "dispatcher")
		for i, l := range []*slog.Logger{d, plain} {
			l = l.With("trigger_id", "6ac5eb87", "delivery", 1).WithGroup("plan").With("routes", []string{"open-change"})
			l.Debug("trigger planned", "operations", 1)
			if i == 0 && withs != 0 {
				t.Errorf("%s: %d With calls reached the handler before a line was written", name, withs)
			}
			l.Info("trigger planned", "operations", 1)
			l.Warn("publishing the plan failed", "err", "timeout")
		}
		if withs != 4 {
			t.Errorf("%s: %d With calls reached the handler, want 4 (made once, at the first line)", name, withs)
		}
		if got.String() != want.String() {
			t.Errorf("%s: deferred wrote\n%s\nslog's handler\n%s", name, got.String(), want.String())
		}
	}
}

// BenchmarkWithUnwritten is a logger made per message (With, four attributes) that writes
// nothing at the level, through slog's text handler and through New's.
func BenchmarkWithUnwritten(b *testing.B) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	for name, l := range map[string]*slog.Logger{
		"slog":     slog.New(slog.NewTextHandler(io.Discard, opts)).With("service", "dispatcher"),
		"deferred": slog.New(&deferred{base: slog.NewTextHandler(io.Discard, opts)}).With("service", "dispatcher"),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				l.With("trigger_id", "6ac5eb87286f5b89f73fd49a4a3335b7", "ticket", "1000001", "event", "CREATE", "delivery", 1).
					DebugContext(ctx, "trigger planned", "operations", 1)
			}
		})
	}
}
